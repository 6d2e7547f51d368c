// A socket whose owner dies resumes on the object's new owner: rebuilt there from its record in
// KV (attachment, tags), with the frames the dead owner never acknowledged delivered again.
import assert from "node:assert/strict";
import {
  DurableObject,
  type DurableObjectState,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import { until } from "../_helpers.ts";
import { startCluster } from "./_cluster.ts";

const builtOn: string[] = [];

class Room extends DurableObject<{ node?: string }> {
  static readonly storageName = "room";
  constructor(ctx: DurableObjectState, env: { node?: string }) {
    super(ctx, env);
    builtOn.push(ctx.id.toString().slice(0, 4));
  }
  fetch(request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, ["member"]);
    server.serializeAttachment({ who: new URL(request.url).searchParams.get("who") });
    return webSocketResponse(client);
  }
  ping(): string {
    return "pong";
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const who = ws.deserializeAttachment().who;
    if (message === "who") {
      const all = this.ctx.getWebSockets("member").map((s) => s.deserializeAttachment().who);
      return ws.send(JSON.stringify(all));
    }
    for (const other of this.ctx.getWebSockets()) other.send(`${who}: ${message}`);
  }
}

type Pinger = { ping(): Promise<string> };

Deno.test("a dead owner's socket resumes on the new owner with its attachment, tags and unacked frames", async () => {
  builtOn.length = 0;
  await using cluster = await startCluster({ ROOM: Room }, {
    nodes: ["a", "b", "c"],
    kvPlacement: true,
  });
  const [a, b, c] = cluster.nodes;
  const room = (node: typeof a) => node!.namespace("ROOM").getByName("moving") as unknown as Pinger;
  assert.equal(await room(a).ping(), "pong", "a claims the room");
  const ann = await b!.connect("/ROOM/moving?who=ann");
  ann.socket.send("who");
  assert.equal(await ann.next(), JSON.stringify(["ann"]));
  const id = a!.namespace("ROOM").idFromName("moving");
  await hibernateNow(a!.app, "ROOM", id); // its socket records are in KV now
  // a dies (silent, its lease left to expire); c's clock passes a's lease and c claims the room.
  cluster.network.silenced.add(a!.node);
  await c!.clock.advance(5_000);
  assert.equal(await room(c).ping(), "pong", "c owns the room now");
  ann.socket.send("hello"); // lost with a: kept unacknowledged on b
  await until(() => b!.app.stats().connections === 1);
  // b misses a's beats, finds c as the owner and resumes the socket there.
  for (let i = 0; i < 4; i++) {
    await b!.clock.advance(1_000);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(await ann.next(), "ann: hello", "the unacked frame reached the new owner");
  ann.socket.send("who");
  assert.equal(await ann.next(), JSON.stringify(["ann"]), "attachment and tags from the record");
  assert.equal(objectStatus(c!.app, "ROOM", id), "active");
  assert.equal(builtOn.length, 2, "built on a, then once on c");
  cluster.network.silenced.clear();
});

Deno.test("a dead owner's socket without a record closes with 1012", async () => {
  builtOn.length = 0;
  await using cluster = await startCluster({ ROOM: Room }, {
    nodes: ["a", "b", "c"],
    kvPlacement: true,
  });
  const [a, b, c] = cluster.nodes;
  const room = (node: typeof a) =>
    node!.namespace("ROOM").getByName("unwritten") as unknown as Pinger;
  assert.equal(await room(a).ping(), "pong", "a claims the room");
  const ann = await b!.connect("/ROOM/unwritten?who=ann");
  ann.socket.send("who");
  await ann.next(); // active on a, its record never written
  cluster.network.silenced.add(a!.node);
  await c!.clock.advance(5_000);
  assert.equal(await room(c).ping(), "pong", "c owns the room now");
  for (let i = 0; i < 4; i++) {
    await b!.clock.advance(1_000);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal((await ann.closed).code, 1012);
  cluster.network.silenced.clear();
});
