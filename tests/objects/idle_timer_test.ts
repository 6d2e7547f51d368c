// The idle period and what keeps an object awake: `ctx.waitUntil()` promises. Through a
// served app and real WebSocket clients.

import assert from "node:assert/strict";
import { hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { probe, ROUTES } from "./_probe.ts";

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
