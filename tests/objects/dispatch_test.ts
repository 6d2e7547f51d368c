// Contract §2 "ordering", "event timeout" and "exceptions": how an object's
// events are dispatched, through a served app and real WebSocket clients.

import assert from "node:assert/strict";
import {
  DurableObject,
  type DurableObjectState,
  EventTimeoutError,
  ObjectResetError,
  type WebSocket,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";
import { hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import type { TestClient } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";

const ROUTES = [{ pattern: "/room/:name", object: "ROOM" }];

interface ProbeState {
  /** ctx of the most recently constructed instance. */
  ctx: DurableObjectState;
  byName: Map<string, DurableObjectState>;
  constructed: number;
  /** Handler starts, in order: `"<socket tag>:<message>"` or `"close:<tag>"`. */
  log: string[];
}

type MessageHook = (
  ctx: DurableObjectState,
  ws: WebSocket,
  message: string,
  state: ProbeState,
) => unknown;
type CloseHook = (ctx: DurableObjectState, ws: WebSocket, code: number) => unknown;

/**
 * An object that accepts every socket with the tag in `?tag=`, logs each
 * handler start and hands messages to `onMessage`.
 */
function probe(onMessage: MessageHook, onClose?: CloseHook) {
  const state: ProbeState = {
    ctx: undefined as unknown as DurableObjectState,
    byName: new Map(),
    constructed: 0,
    log: [],
  };
  class Probe extends DurableObject {
    constructor(ctx: DurableObjectState, env: unknown) {
      super(ctx, env);
      state.ctx = ctx;
      state.byName.set(ctx.id.name ?? "", ctx);
      state.constructed++;
    }
    fetch(request: Request): Response {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1], [new URL(request.url).searchParams.get("tag") ?? "?"]);
      return webSocketResponse(pair[0]);
    }
    webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
      const text = typeof message === "string" ? message : "<binary>";
      state.log.push(`${this.ctx.getTags(ws)[0]}:${text}`);
      return onMessage(this.ctx, ws, text, state);
    }
    webSocketClose(ws: WebSocket, code: number) {
      state.log.push(`close:${this.ctx.getTags(ws)[0]}`);
      return onClose?.(this.ctx, ws, code);
    }
  }
  return { Probe, state };
}

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

// ---- waitUntil ------------------------------------------------------------------------------------------

Deno.test("waitUntil keeps the object out of hibernation until its promise settles", async () => {
  const pending = Promise.withResolvers<void>();
  const { Probe, state } = probe((ctx, ws) => {
    ctx.waitUntil(pending.promise);
    ws.send("waiting");
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/a?tag=A");
  const id = state.ctx.id;
  a.socket.send("go");
  assert.equal(await a.next(), "waiting");
  assert.deepEqual(s.app.stats().objects[0]!.blockers, ["waitUntil"]);
  await s.clock.advance(60_000);
  assert.equal(objectStatus(s.app, "ROOM", id), "active");
  await assert.rejects(hibernateNow(s.app, "ROOM", id), /waitUntil/);
  pending.resolve();
  await until(() => s.app.stats().objects[0]!.blockers.length === 0, "waitUntil to settle");
  await s.clock.advance(10_000);
  await until(() => objectStatus(s.app, "ROOM", id) === "hibernated", "hibernation");
  assert.equal(state.constructed, 1);
  assert.deepEqual(s.exceptions, []);
});

Deno.test("a rejected waitUntil promise goes to onException", async () => {
  const boom = new Error("background failed");
  const { Probe, state } = probe((ctx, ws) => {
    ctx.waitUntil(Promise.reject(boom));
    ws.send("queued");
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/a?tag=A");
  a.socket.send("go");
  assert.equal(await a.next(), "queued");
  await until(() => s.exceptions.length === 1, "the exception");
  assert.equal(s.exceptions[0]!.error, boom);
  assert.deepEqual(s.exceptions[0]!.context, {
    namespace: "ROOM",
    id: state.ctx.id.toString(),
    operation: "waitUntil",
  });
  await until(() => s.app.stats().objects[0]!.blockers.length === 0, "waitUntil to be released");
});

// ---- exceptions -----------------------------------------------------------------------------------------

for (const mode of ["synchronous", "asynchronous"] as const) {
  Deno.test(`${mode === "synchronous" ? "a" : "an"} ${mode} throw in webSocketMessage goes to onException, and the same instance keeps serving every socket`, async () => {
    const thrown: Error[] = [];
    const fail = (message: string) => {
      const error = new Error(`failed on ${message}`);
      thrown.push(error);
      return error;
    };
    const { Probe, state } = probe(
      mode === "synchronous"
        ? (_ctx, ws, message) => {
          if (message === "throw") throw fail(message);
          ws.send(`done:${message}`);
        }
        : async (_ctx, ws, message) => {
          await Promise.resolve();
          if (message === "throw") throw fail(message);
          ws.send(`done:${message}`);
        },
    );
    await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
    const a = await s.connect("/room/a?tag=A");
    const b = await s.connect("/room/a?tag=B");
    a.socket.send("throw");
    a.socket.send("after");
    assert.equal(await a.next(), "done:after");
    await until(() => s.exceptions.length === 1, "the exception");
    assert.equal(s.exceptions[0]!.error, thrown[0]);
    assert.deepEqual(s.exceptions[0]!.context, {
      namespace: "ROOM",
      id: state.ctx.id.toString(),
      operation: "webSocketMessage",
    });
    b.socket.send("other");
    assert.equal(await b.next(), "done:other");
    assert.equal(a.socket.readyState, 1);
    assert.equal(b.socket.readyState, 1);
    assert.equal(a.buffered, 0); // nothing was sent to the client for the failed event
    assert.equal(state.constructed, 1);
    assert.equal(state.ctx.getWebSockets().length, 2);
  });
}

Deno.test("a throw in webSocketClose goes to onException and leaves the other sockets alone", async () => {
  const boom = new Error("close failed");
  const { Probe, state } = probe((_ctx, ws, message) => ws.send(`done:${message}`), () => {
    throw boom;
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/a?tag=A");
  const b = await s.connect("/room/a?tag=B");
  await a.close(1000);
  await until(() => s.exceptions.length === 1, "the exception");
  assert.equal(s.exceptions[0]!.error, boom);
  assert.deepEqual(s.exceptions[0]!.context, {
    namespace: "ROOM",
    id: state.ctx.id.toString(),
    operation: "webSocketClose",
  });
  b.socket.send("still");
  assert.equal(await b.next(), "done:still");
  assert.equal(state.constructed, 1);
});

// ---- event timeout --------------------------------------------------------------------------------------

Deno.test("a handler that outlives the event timeout resets the instance; the socket stays open and the next message builds a fresh one", async () => {
  const seen: { hung?: WebSocket } = {};
  const { Probe, state } = probe((_ctx, ws, message) => {
    if (message === "hang") {
      seen.hung = ws;
      return new Promise(() => {}); // never settles
    }
    ws.send(`done:${message}`);
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/a?tag=A");
  const b = await s.connect("/room/a?tag=B");
  const oldCtx = state.ctx;
  const hex = oldCtx.id.toString();
  oldCtx.setHibernatableWebSocketEventTimeout(1_000);
  a.socket.send("hang");
  await until(() => seen.hung, "the hanging handler to start");
  const hung = seen.hung!;
  await s.clock.advance(999);
  assert.equal(s.exceptions.length, 0);
  assert.deepEqual(oldCtx.getWebSockets().length, 2);
  await s.clock.advance(1);
  await until(() => s.exceptions.length === 1, "the timeout report");
  const { error, context } = s.exceptions[0]!;
  assert.ok(error instanceof EventTimeoutError);
  assert.equal(error.timeoutMs, 1_000);
  assert.equal(error.code, "event_timeout");
  assert.deepEqual(context, { namespace: "ROOM", id: hex, operation: "webSocketMessage" });
  // The discarded instance's ctx refuses every call.
  const uses: Array<() => unknown> = [
    () => oldCtx.getWebSockets(),
    () => oldCtx.getTags(hung),
    () => oldCtx.acceptWebSocket(new WebSocketPair()[1]),
    () => oldCtx.setWebSocketAutoResponse(),
    () => oldCtx.getWebSocketAutoResponse(),
    () => oldCtx.getHibernatableWebSocketEventTimeout(),
    () => oldCtx.waitUntil(Promise.resolve()),
    () => oldCtx.blockConcurrencyWhile(() => 1),
    () => oldCtx.storage,
  ];
  for (const use of uses) assert.throws(use, ObjectResetError);
  // Its connections can still send; nothing closed.
  hung.send("late");
  assert.equal(await a.next(), "late");
  assert.equal(a.socket.readyState, 1);
  assert.equal(b.socket.readyState, 1);
  // The next message builds a fresh instance, which sees both sockets and the setting.
  a.socket.send("next");
  assert.equal(await a.next(), "done:next");
  assert.equal(state.constructed, 2);
  assert.notEqual(state.ctx, oldCtx);
  assert.equal(state.ctx.getWebSockets().length, 2);
  assert.ok(state.ctx.getWebSockets().includes(hung));
  assert.equal(state.ctx.getHibernatableWebSocketEventTimeout(), 1_000);
  b.socket.send("other");
  assert.equal(await b.next(), "done:other");
  assert.equal(state.constructed, 2);
  assert.equal(s.exceptions.length, 1);
});

Deno.test("a handler that settles before the event timeout is not affected by it", async () => {
  const { Probe, state } = probe(async (_ctx, ws, message) => {
    await Promise.resolve();
    ws.send(`done:${message}`);
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/a?tag=A");
  state.ctx.setHibernatableWebSocketEventTimeout(1_000);
  a.socket.send("one");
  assert.equal(await a.next(), "done:one");
  await s.clock.advance(5_000);
  a.socket.send("two");
  assert.equal(await a.next(), "done:two");
  assert.deepEqual(s.exceptions, []);
  assert.equal(state.constructed, 1);
});
