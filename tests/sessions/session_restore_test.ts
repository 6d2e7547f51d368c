import assert from "node:assert/strict";
import {
  App,
  durableObject,
  type DurableObjectState,
  onConnect,
  onMessage,
  type WebSocket,
} from "../../mod.ts";
import { connect } from "../../src/client/connect.js";
import { ManualClock } from "../../src/testing/mod.ts";
import { serveApp, serveBuilt, until } from "../_helpers.ts";
import { TcpRelay } from "../_tcp_relay.ts";

@durableObject({ name: "rroom", resumable: true })
class Room {
  constructor(readonly ctx: DurableObjectState) {}

  @onMessage
  message(ws: WebSocket, message: string | ArrayBuffer): void {
    if (message === "count") return ws.send(String(this.ctx.getWebSockets().length));
    for (const socket of this.ctx.getWebSockets()) socket.send(message);
  }
}

const routes = [{ pattern: "/rooms/:name", object: "ROOM" }];

Deno.test("a message larger than a KV value is replayed whole (its parts joined)", async () => {
  await using served = await serveApp({ objects: { ROOM: Room }, routes });
  const relay = new TcpRelay(served.port);
  const ann = connect(`ws://127.0.0.1:${relay.port}/rooms/big`, { minDelayMs: 10 });
  const ben = connect(`ws://127.0.0.1:${served.port}/rooms/big`);
  const got: string[] = [];
  ann.onmessage = (event) => got.push(String(event.data));
  try {
    await until(() => ann.status === "open" && ben.status === "open", "open");
    await relay.cut();
    await until(() => served.app.stats().connections === 1, "ann away");
    const big = "é".repeat(50_000);
    ben.send(big);
    ben.send("small");
    relay.restore();
    await until(() => got.length === 2, "replay");
    assert.equal(got[0], big);
    assert.equal(got[1], "small");
  } finally {
    ann.close();
    ben.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await relay.close();
  }
});

Deno.test("a new app on the same KV lists the sessions of the last run again, detached, without building the object", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const first = new App({ objects: { ROOM: Room }, routes, kv, clock: new ManualClock() });
    const served = await serveBuilt(first);
    const ann = connect(`ws://127.0.0.1:${served.port}/rooms/again`, { minDelayMs: 10 });
    await until(() => ann.status === "open", "open");
    ann.send("hi");
    await until(() => ann.session?.seq === 1, "hi back");
    await served[Symbol.asyncDispose](); // shutdown: the session stays in KV
    ann.close();
    const second = new App({ objects: { ROOM: Room }, routes, kv, clock: new ManualClock() });
    await second.ready();
    const [object] = second.stats().objects;
    assert.equal(object?.sockets, 1);
    assert.equal(object?.status, "hibernated");
    assert.equal(object?.wakes, 0);
    assert.equal(object?.name, "again");
    await second.shutdown();
  } finally {
    kv.close();
  }
});

let built = 0;

@durableObject({ name: "proom", resumable: true, presence: { from: (name) => ({ name }) } })
class PresenceRoom {
  constructor(readonly ctx: DurableObjectState) {
    built++;
  }

  @onConnect
  connect(ws: WebSocket, request: Request): void {
    this.ctx.acceptWebSocket(ws);
    ws.serializeAttachment(new URL(request.url).searchParams.get("name"));
  }
}

Deno.test("restored sessions are listed by presence again (derived from their attachment), without building the object", async () => {
  const kv = await Deno.openKv(":memory:");
  const options = { objects: { ROOM: PresenceRoom }, routes, kv };
  try {
    const first = new App({ ...options, clock: new ManualClock() });
    const served = await serveBuilt(first);
    const ann = connect(`ws://127.0.0.1:${served.port}/rooms/p?name=ann`, { minDelayMs: 10 });
    await until(() => ann.status === "open", "open");
    await served[Symbol.asyncDispose](); // shutdown: the session stays in KV
    ann.close();
    built = 0;
    const second = new App({ ...options, clock: new ManualClock() });
    await second.ready();
    const members = await second.env.ROOM.presence(second.env.ROOM.idFromName("p"));
    assert.deepEqual(members.map((m) => m.value), [{ name: "ann" }]);
    assert.equal(built, 0);
    await second.shutdown();
  } finally {
    kv.close();
  }
});
