// Sockets stay where they land: two or three apps in one process, each on its own port, one KV
// file, the in-memory transport; every object is owned by node "a" and clients connect to others.
import assert from "node:assert/strict";
import { DurableObject, type WebSocket } from "../../mod.ts";
import { objectStatus } from "../../src/testing/mod.ts";
import { hibernateNow } from "../../src/testing/mod.ts";
import { until } from "../_helpers.ts";
import { startCluster } from "./_cluster.ts";

let built = 0;
const closes: string[] = [];

class Chat extends DurableObject {
  static readonly storageName = "chat";
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    built++;
  }
  fetch(request: Request): Response {
    const url = new URL(request.url);
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, url.searchParams.getAll("tag"));
    server.serializeAttachment({ who: url.searchParams.get("who") });
    return webSocketResponse(client);
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (message === "who") {
      const all = this.ctx.getWebSockets().map((s) => s.deserializeAttachment().who).sort();
      return ws.send(JSON.stringify(all));
    }
    if (message === "tags") return ws.send(JSON.stringify(this.ctx.getTags(ws)));
    if (message === "auto") {
      this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
      return ws.send("auto set");
    }
    if (message === "stamp") {
      return ws.send(String(this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? null));
    }
    const from = ws.deserializeAttachment().who;
    for (const other of this.ctx.getWebSockets()) other.send(`${from}: ${message}`);
  }
  webSocketClose(ws: WebSocket, code: number, _reason: string, wasClean: boolean): void {
    closes.push(`${ws.deserializeAttachment().who}:${code}:${wasClean}`);
  }
  shout(message: string): number {
    return this.ctx.broadcast(message);
  }
}

import {
  type DurableObjectState,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";

function reset() {
  built = 0;
  closes.length = 0;
}

Deno.test("two clients of one room on two apps chat through one owner, built once", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat }, { nodes: ["a", "b", "c"] });
  const [, b, c] = cluster.nodes;
  const ann = await b!.connect("/CHAT/lobby?who=ann&tag=red");
  const bob = await c!.connect("/CHAT/lobby?who=bob");
  ann.socket.send("hello");
  assert.equal(await ann.next(), "ann: hello");
  assert.equal(await bob.next(), "ann: hello");
  bob.socket.send("who");
  assert.equal(await bob.next(), JSON.stringify(["ann", "bob"]));
  ann.socket.send("tags");
  assert.equal(await ann.next(), JSON.stringify(["red"]));
  assert.equal(built, 1, "one instance, on the owner");
  assert.equal(b!.app.stats().objects.length, 0, "the holders run no instance");
  assert.equal(c!.app.stats().objects.length, 0);
});

Deno.test("the auto-response is answered on the holder: no wake, no transport message per ping", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat });
  const [a, b] = cluster.nodes;
  const ann = await b!.connect("/CHAT/pings?who=ann");
  ann.socket.send("auto");
  assert.equal(await ann.next(), "auto set");
  const id = a!.namespace("CHAT").idFromName("pings");
  await until(() => objectStatus(a!.app, "CHAT", id) === "active");
  await hibernateNow(a!.app, "CHAT", id);
  await new Promise((resolve) => setTimeout(resolve, 20)); // let every bridge message land
  cluster.network.resetCounts();
  for (let i = 0; i < 5; i++) {
    ann.socket.send("ping");
    assert.equal(await ann.next(), "pong");
  }
  assert.equal(cluster.network.sent, 0, "no transport message for the pings");
  assert.equal(objectStatus(a!.app, "CHAT", id), "hibernated");
  // The timestamp reaches the owner lazily (coalesced on the holder's clock).
  const last = b!.clock.now();
  await b!.clock.advance(1_000);
  await until(() => (cluster.network.sentTo.get("a") ?? 0) >= 1);
  ann.socket.send("stamp");
  assert.equal(await ann.next(), String(last));
});

Deno.test("a broadcast from the owner costs one transport message per holder node", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat }, { nodes: ["a", "b", "c"] });
  const [a, b, c] = cluster.nodes;
  const clients = [];
  for (let i = 0; i < 4; i++) clients.push(await b!.connect(`/CHAT/big?who=b${i}`));
  for (let i = 0; i < 3; i++) clients.push(await c!.connect(`/CHAT/big?who=c${i}`));
  await new Promise((resolve) => setTimeout(resolve, 20));
  cluster.network.resetCounts();
  const stub = a!.namespace("CHAT").getByName("big") as unknown as { shout(m: string): number };
  assert.equal(await stub.shout("all hands"), 7);
  for (const client of clients) assert.equal(await client.next(), "all hands");
  assert.equal(cluster.network.sentTo.get("b"), 1);
  assert.equal(cluster.network.sentTo.get("c"), 1);
  // The same from a chat message: one frame in, one message out per holder.
  cluster.network.resetCounts();
  clients[0]!.socket.send("hi");
  for (const client of clients) assert.equal(await client.next(), "b0: hi");
  assert.equal(cluster.network.sentTo.get("a"), 1);
  assert.equal(cluster.network.sentTo.get("b"), 1);
  assert.equal(cluster.network.sentTo.get("c"), 1);
});

Deno.test("the owner hibernates and keeps its bridged sockets; attachments survive in KV", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat });
  const [a, b] = cluster.nodes;
  const ann = await b!.connect("/CHAT/sleepy?who=ann");
  const id = a!.namespace("CHAT").idFromName("sleepy");
  await until(() => objectStatus(a!.app, "CHAT", id) === "active");
  await hibernateNow(a!.app, "CHAT", id);
  assert.equal(objectStatus(a!.app, "CHAT", id), "hibernated");
  ann.socket.send("who");
  assert.equal(await ann.next(), JSON.stringify(["ann"]));
  assert.equal(built, 2, "woken once by the message");
});

Deno.test("stub.fetch, RPC and broadcast from a non-owner node reach the owner", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat });
  const [, b] = cluster.nodes;
  const ann = await b!.connect("/CHAT/remote?who=ann");
  const ns = b!.namespace("CHAT");
  const stub = ns.getByName("remote") as unknown as { shout(m: string): Promise<number> };
  assert.equal(await stub.shout("rpc"), 1);
  assert.equal(await ann.next(), "rpc");
  assert.equal(await ns.broadcast(ns.idFromName("remote"), "from outside"), 1);
  assert.equal(await ann.next(), "from outside");
  assert.equal(built, 1);
});

Deno.test("without a transport, an object owned elsewhere is refused with 503 and a report", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat }, {
    noTransport: true,
    kvPlacement: true,
  });
  const [a, b] = cluster.nodes;
  const far = a!.namespace("CHAT").getByName("far") as unknown as { shout(m: string): number };
  assert.equal(await far.shout("x"), 0, "a claims it");
  const response = await fetch(b!.url("/CHAT/far?who=x"), {
    headers: {
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version": "13",
    },
  });
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("x-dormant-error"), "owned_elsewhere");
  await response.body?.cancel();
  assert.equal(b!.exceptions.length, 1);
  assert.match(String(b!.exceptions[0]!.error), /owned by another node and no transport/);
  assert.equal(built, 1, "built on a only");
});

Deno.test("a holder that shuts down: the owner gets webSocketClose for each of its sockets", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat });
  const [a, b] = cluster.nodes;
  const ann = await b!.connect("/CHAT/leave?who=ann");
  ann.socket.send("who");
  await ann.next();
  await b!.stop();
  await until(() => closes.length === 1, "webSocketClose on the owner");
  assert.deepEqual(closes, ["ann:1006:false"]);
  assert.equal(a!.app.stats().objects[0]!.sockets, 0);
});

Deno.test("an owner that shuts down closes the bridged sockets with 1012", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat });
  const [a, b] = cluster.nodes;
  const ann = await b!.connect("/CHAT/moving?who=ann");
  ann.socket.send("who");
  await ann.next();
  await a!.stop();
  const event = await ann.closed;
  assert.equal(event.code, 1012);
});

Deno.test("a transport cut longer than the lease closes bridged sockets with 1011", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat }, { leaseTtlMs: 3_000 });
  const [a, b] = cluster.nodes;
  const ann = await b!.connect("/CHAT/cut?who=ann");
  ann.socket.send("who");
  await ann.next();
  cluster.network.up = false;
  await b!.clock.advance(3_000);
  await a!.clock.advance(3_000);
  const event = await ann.closed;
  assert.equal(event.code, 1011);
  await until(() => closes.length === 1, "webSocketClose on the owner");
  assert.deepEqual(closes, ["ann:1006:false"]);
  cluster.network.up = true;
});

Deno.test("a transport cut shorter than the lease closes bridged sockets with 1011 once it is back (messages may be lost either way)", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat }, { leaseTtlMs: 3_000 });
  const [, b] = cluster.nodes;
  const ann = await b!.connect("/CHAT/blip?who=ann");
  ann.socket.send("who");
  await ann.next();
  cluster.network.up = false;
  ann.socket.send("lost in the cut");
  cluster.network.up = true;
  const event = await ann.closed;
  assert.equal(event.code, 1011);
  await until(() => closes.length === 1, "webSocketClose on the owner");
  assert.deepEqual(closes, ["ann:1006:false"]);
});

class Proto extends DurableObject {
  static readonly storageName = "proto";
  fetch(request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    if (new URL(request.url).searchParams.has("plain")) {
      server.accept();
      server.addEventListener(
        "message",
        (event: MessageEvent) => server.send(`plain:${event.data}`),
      );
      return webSocketResponse(client);
    }
    this.ctx.acceptWebSocket(server);
    return webSocketResponse(client, { protocol: "chat.v2", headers: { "x-room": "yes" } });
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(`hibernatable:${message}`);
  }
}

Deno.test("the owner's subprotocol and headers reach the client; accept() sockets are bridged too", async () => {
  await using cluster = await startCluster({ PROTO: Proto });
  const [, b] = cluster.nodes;
  const client = await b!.connect("/PROTO/p", ["chat.v1", "chat.v2"]);
  assert.equal(client.socket.protocol, "chat.v2");
  client.socket.send("hi");
  assert.equal(await client.next(), "hibernatable:hi");
  const plain = await b!.connect("/PROTO/p?plain");
  plain.socket.send("hi");
  assert.equal(await plain.next(), "plain:hi");
});

Deno.test("a bridged socket's records are kept under the holder's node, beside the owner's own", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat });
  const [a, b] = cluster.nodes;
  await a!.connect("/CHAT/records?who=here");
  const there = await b!.connect("/CHAT/records?who=there");
  const id = a!.namespace("CHAT").idFromName("records");
  await until(() => a!.app.stats().objects[0]?.sockets === 2);
  await hibernateNow(a!.app, "CHAT", id); // writes the records, drops attachments from memory
  const boots = new Set<unknown>();
  for await (const e of a!.kv.list({ prefix: ["dormant", "h", "chat", id.toString(), "ws"] })) {
    boots.add(e.key[5]);
  }
  const leases = new Set<unknown>();
  for await (const e of a!.kv.list({ prefix: ["dormant", "boot"] })) leases.add(e.key[2]);
  assert.equal(boots.size, 2, "one boot per node holding a socket");
  for (const boot of boots) assert.ok(leases.has(boot), "each is a live node's lease");
  there.socket.send("who"); // wakes the owner: attachments come back from KV
  assert.equal(await there.next(), JSON.stringify(["here", "there"]));
});

Deno.test("a node gone silent: its owner side closes with 1006, its held sockets with 1012", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat }, { nodes: ["a", "b", "c"] });
  const [a, b, c] = cluster.nodes;
  const ann = await b!.connect("/CHAT/silent?who=ann");
  const bob = await c!.connect("/CHAT/silent?who=bob");
  bob.socket.send("who");
  assert.equal(await bob.next(), JSON.stringify(["ann", "bob"]));
  cluster.network.silenced.add("b"); // b stops answering: no beats, no frames
  for (let i = 0; i < 4; i++) { // a and c keep beating to each other; b is silent
    await c!.clock.advance(1_000);
    await a!.clock.advance(1_000);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await until(() => closes.length === 1, "webSocketClose on the owner");
  assert.deepEqual(closes, ["ann:1006:false"]);
  // b finds no other owner to resume on (the placement still names a): it gives up, 1012.
  for (let i = 0; i < 8; i++) {
    await b!.clock.advance(1_000);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal((await ann.closed).code, 1012);
  cluster.network.silenced.clear();
  bob.socket.send("who"); // c's socket is unaffected
  assert.equal(await bob.next(), JSON.stringify(["bob"]));
});

Deno.test("an owner that loses the object closes its bridged sockets with 1012", async () => {
  reset();
  await using cluster = await startCluster({ CHAT: Chat });
  const [a, b] = cluster.nodes;
  const ann = await b!.connect("/CHAT/lost?who=ann");
  ann.socket.send("who");
  await ann.next();
  a!.placement.lose("chat", a!.namespace("CHAT").idFromName("lost").toString(), "fenced");
  assert.equal((await ann.closed).code, 1012);
});
