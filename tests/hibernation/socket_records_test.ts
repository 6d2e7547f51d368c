/**
 * What a hibernated object keeps in KV can be read back whole: settings, and
 * per socket its tags, accept time, last auto-response time and attachment.
 */
import assert from "node:assert/strict";
import { deserialize } from "node:v8";
import { App } from "../../mod.ts";
import { flushNow, hibernateNow, ManualClock } from "../../src/testing/mod.ts";
import { hibernationRoot } from "../../src/kv/keys.ts";
import { readObjectRecords } from "../../src/hibernation/socket_records.ts";
import { serveApp } from "../_helpers.ts";
import { Room, ROUTES, STORAGE } from "./_room.ts";

Deno.test("an object's records read back with its settings and each socket's tags, accept time, auto-response time and attachment", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(1_000);
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES, kv, clock });
  const id = s.app.env.ROOM.idFromName("r");
  const client = await s.connect("/room/r?user=ann");
  client.socket.send("auto"); // sets the auto-response ping → pong
  assert.equal(await client.next(), "ok");
  await s.clock.advance(500);
  client.socket.send("ping");
  assert.equal(await client.next(), "pong");
  await hibernateNow(s.app, "ROOM", id);
  await flushNow(s.app);

  const records = await readObjectRecords(kv, hibernationRoot(STORAGE, id.toString()));
  assert.deepEqual(records.settings?.autoResponse, { request: "ping", response: "pong" });
  assert.equal(records.settings?.eventTimeoutMs, 0);
  assert.equal(records.sockets.size, 1);
  const [socket] = records.sockets.values();
  assert.deepEqual(socket!.tags, ["ann"]);
  assert.equal(socket!.acceptedAt, 1_000);
  assert.equal(socket!.autoResponseAt, 1_500);
  assert.deepEqual(deserialize(socket!.attachment!), { user: "ann", at: new Date(0), n: 1n });
});

Deno.test("a socket's presence is written with its socket record, read back, and deleted by the boot cleanup once its process is gone", async () => {
  using kv = await Deno.openKv(":memory:");
  class PresentRoom extends Room {
    static readonly presence = "user";
  }
  const root = () =>
    hibernationRoot(
      STORAGE,
      new App({ objects: { ROOM: PresentRoom } }).env.ROOM.idFromName("r").toString(),
    );
  {
    await using s = await serveApp({ objects: { ROOM: PresentRoom }, routes: ROUTES, kv });
    await s.connect("/room/r?user=ann");
    await s.connect("/room/r?user=bob");
    await hibernateNow(s.app, "ROOM", s.app.env.ROOM.idFromName("r"));
    await flushNow(s.app);
    const records = await readObjectRecords(kv, root());
    assert.deepEqual([...records.sockets.values()].map((r) => r.presence).sort(), ["ann", "bob"]);
  }
  // The first process stopped (its records stay until a boot cleanup), and one that crashed left
  // a record with presence too (written by hand in the key layout).
  await kv.set([...root(), "ws", "0123456789abcdef", "0"], { t: [], a: null, c: 1, p: "ghost" });
  const left = await readObjectRecords(kv, root());
  assert.deepEqual([...left.sockets.values()].map((r) => r.presence).sort(), [
    "ann",
    "bob",
    "ghost",
  ]);
  // The next process's boot cleanup deletes them all: no ghost member is ever read back.
  await using next = await serveApp({ objects: { ROOM: PresentRoom }, routes: ROUTES, kv });
  await next.app.ready();
  assert.equal((await readObjectRecords(kv, root())).sockets.size, 0);
});
