// The per-object event queue: events start in arrival order, wait while the input gate is
// closed or the object wakes, keep what their sockets need across a hibernation, and reach
// nobody after shutdown. Through a served app and real WebSocket clients.

import assert from "node:assert/strict";
import {
  DurableObject,
  type DurableObjectState,
  type WebSocket,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";
import { hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import type { TestClient } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { probe, ROUTES } from "./_probe.ts";
import { RawClient } from "../_raw_client.ts";

/** Sends the auto-response request and waits for the reply: every earlier message reached the server. */
async function barrier(client: TestClient): Promise<void> {
  client.socket.send("ping");
  assert.equal(await client.next(), "pong");
}

// ---- ordering -----------------------------------------------------------------------------------------

Deno.test("events start in arrival order, also when their async handlers finish in another order", async () => {
  const gates = Array.from({ length: 20 }, () => Promise.withResolvers<void>());
  const ended: number[] = [];
  const { Probe, state } = probe(async (_ctx, ws, message) => {
    const i = Number(message);
    await gates[i]!.promise;
    ended.push(i);
    ws.send(`done:${i}`);
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const client = await s.connect("/room/a?tag=A");
  for (let i = 0; i < 20; i++) client.socket.send(String(i));
  await until(() => state.log.length === 20, "all 20 handlers to start");
  assert.deepEqual(state.log, Array.from({ length: 20 }, (_, i) => `A:${i}`));
  for (let i = 19; i >= 0; i--) gates[i]!.resolve();
  for (let i = 19; i >= 0; i--) assert.equal(await client.next(), `done:${i}`);
  assert.deepEqual(ended, Array.from({ length: 20 }, (_, i) => 19 - i));
});

Deno.test("an async handler awaiting an unresolved promise does not hold the next message", async () => {
  const gate = Promise.withResolvers<void>();
  const { Probe, state } = probe(async (_ctx, ws, message) => {
    if (message === "slow") await gate.promise;
    ws.send(`done:${message}`);
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/a?tag=A");
  const b = await s.connect("/room/a?tag=B");
  a.socket.send("slow");
  a.socket.send("fast");
  assert.equal(await a.next(), "done:fast");
  b.socket.send("other");
  assert.equal(await b.next(), "done:other");
  assert.deepEqual(state.log, ["A:slow", "A:fast", "B:other"]);
  gate.resolve();
  assert.equal(await a.next(), "done:slow");
  assert.equal(state.constructed, 1);
});

Deno.test("a close may overtake an unfinished async message handler of the same socket", async () => {
  const gate = Promise.withResolvers<void>();
  const { Probe, state } = probe(async (_ctx, _ws, message) => {
    if (message === "slow") await gate.promise;
    state.log.push(`end:${message}`);
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/a?tag=A");
  a.socket.send("slow");
  await a.close(1000);
  await until(() => state.log.includes("close:A"), "webSocketClose");
  assert.deepEqual(state.log, ["A:slow", "close:A"]);
  gate.resolve();
  await until(() => state.log.length === 3, "the message handler to finish");
  assert.deepEqual(state.log, ["A:slow", "close:A", "end:slow"]);
});

Deno.test("blockConcurrencyWhile holds every event until its callback resolves, then they run in arrival order", async () => {
  const gate = Promise.withResolvers<string>();
  const { Probe, state } = probe(async (ctx, ws, message) => {
    if (message === "block") {
      const value = await ctx.blockConcurrencyWhile(() => gate.promise);
      ws.send(`unblocked:${value}`);
      return;
    }
    ws.send(`done:${message}`);
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/a?tag=A");
  const b = await s.connect("/room/a?tag=B");
  state.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  a.socket.send("block");
  await until(() => state.log.length === 1, "the blocking handler to start");
  a.socket.send("m1");
  a.socket.send("m2");
  await barrier(a); // m1 and m2 reached the server (the auto-response is not held)
  b.socket.send("m3");
  await barrier(b);
  assert.deepEqual(state.log, ["A:block"]);
  const stats = s.app.stats().objects[0]!;
  assert.ok(stats.blockers.includes("blockConcurrencyWhile"), stats.blockers.join());
  gate.resolve("ok");
  assert.equal(await a.next(), "unblocked:ok");
  assert.equal(await a.next(), "done:m1");
  assert.equal(await a.next(), "done:m2");
  assert.equal(await b.next(), "done:m3");
  assert.deepEqual(state.log, ["A:block", "A:m1", "A:m2", "B:m3"]);
  assert.deepEqual(s.exceptions, []);
});

Deno.test("events of different objects run concurrently", async () => {
  const gate = Promise.withResolvers<void>();
  const { Probe } = probe(async (ctx, ws, message) => {
    if (message === "block") await ctx.blockConcurrencyWhile(() => gate.promise);
    ws.send(`done:${message}`);
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/a?tag=A");
  const b = await s.connect("/room/b?tag=B");
  a.socket.send("block");
  b.socket.send("free");
  assert.equal(await b.next(), "done:free");
  gate.resolve();
  assert.equal(await a.next(), "done:block");
});

// ---- attachments of closing sockets after hibernation ------------------------------------------

const named: string[] = [];

class Named extends DurableObject {
  fetch(request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ name: new URL(request.url).searchParams.get("n") });
    return webSocketResponse(client);
  }
  webSocketClose(ws: WebSocket, code: number): void {
    named.push(`close ${(ws.deserializeAttachment() as { name: string }).name} ${code}`);
  }
  webSocketError(ws: WebSocket): void {
    named.push(`error ${(ws.deserializeAttachment() as { name: string }).name}`);
  }
}

Deno.test("webSocketClose of a hibernated object reads the closing socket's attachment", async () => {
  named.length = 0;
  await using s = await serveApp({
    objects: { NAMED: Named },
    routes: [{ pattern: "/n/:name", object: "NAMED" }],
  });
  const alice = await s.connect("/n/a?n=alice");
  const id = s.app.env.NAMED.idFromName("a");
  await hibernateNow(s.app, "NAMED", id);
  assert.equal(objectStatus(s.app, "NAMED", id), "hibernated");
  await alice.close(4000, "bye");
  await until(() => named.length > 0 || s.exceptions.length > 0, "webSocketClose");
  assert.deepEqual(s.exceptions.map((e) => String(e.error)), []);
  assert.deepEqual(named, ["close alice 4000"]);
});

Deno.test("webSocketError of a hibernated object reads the socket's attachment", async () => {
  named.length = 0;
  await using s = await serveApp({
    objects: { NAMED: Named },
    routes: [{ pattern: "/n/:name", object: "NAMED" }],
    maxMessageBytes: 8,
  });
  const bob = await s.connect("/n/b?n=bob");
  const id = s.app.env.NAMED.idFromName("b");
  await hibernateNow(s.app, "NAMED", id);
  bob.socket.send("0123456789"); // over 8 bytes: 1009 + webSocketError
  await until(() => named.length > 0 || s.exceptions.length > 0, "webSocketError");
  assert.deepEqual(s.exceptions.map((e) => String(e.error)), []);
  assert.deepEqual(named, ["error bob"]);
  assert.equal((await bob.closed).code, 1009);
});

// ---- events after shutdown ---------------------------------------------------------------------

let builtAfter = 0;
let shutDown = false;
const lateEvents: string[] = [];

class Closer extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    if (shutDown) builtAfter++;
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (message === "close me") ws.close(4001, "server closes");
  }
  webSocketClose(_ws: WebSocket, code: number): void {
    if (shutDown) lateEvents.push(`close ${code}`);
  }
}

Deno.test("a close arriving after shutdown builds no instance and runs no handler", async () => {
  builtAfter = 0;
  shutDown = false;
  lateEvents.length = 0;
  await using s = await serveApp({
    objects: { CLOSER: Closer },
    routes: [{ pattern: "/c/:name", object: "CLOSER" }],
  });
  await using raw = await RawClient.connect(s.port, "/c/a");
  await raw.text("close me");
  const frame = await raw.nextData(); // the server's Close; the raw client does not answer yet
  assert.equal(frame?.opcode, 0x8);
  await s.app.shutdown({ timeoutMs: 0 });
  shutDown = true;
  await raw.close(4001, "server closes"); // the reply arrives after shutdown
  await raw.rest();
  await until(() => s.app.stats().connections === 0, "socket gone");
  // Give a wrongly started wake a few macrotasks to run.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 2));
  assert.equal(builtAfter, 0);
  assert.deepEqual(lateEvents, []);
});

Deno.test("a close of a hibernated object whose class has no close handler wakes nothing and is no event", async () => {
  let built = 0;
  class Silent extends DurableObject {
    static readonly storageName = "silent";
    constructor(ctx: DurableObjectState, env: unknown) {
      super(ctx, env);
      built++;
    }
    fetch(): Response {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1]);
      return webSocketResponse(pair[0]);
    }
  }
  await using s = await serveApp({ objects: { ROOM: Silent }, routes: ROUTES });
  const leaving = await s.connect("/room/a");
  const dropping = await RawClient.connect(s.port, "/room/a");
  await s.connect("/room/a"); // keeps the object in memory once the others left
  const id = s.app.env.ROOM.idFromName("a");
  await hibernateNow(s.app, "ROOM", id);
  const stats = () => s.app.stats().objects.find((o) => o.id === id.toString())!;
  const events = stats().events;
  await leaving.close();
  await dropping.drop();
  await until(() => stats().sockets === 1, "both sockets to leave");
  assert.equal(built, 1, "no instance was built for the closes");
  assert.equal(objectStatus(s.app, "ROOM", id), "hibernated");
  assert.equal(stats().events, events);
});
