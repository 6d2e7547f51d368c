// Dispatch of socket events to the handlers: exceptions go to onException, and the event
// timeout resets the instance. Through a served app and real WebSocket clients.

import assert from "node:assert/strict";
import { EventTimeoutError, ObjectResetError, type WebSocket, WebSocketPair } from "../../mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { probe, ROUTES } from "./_probe.ts";

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
