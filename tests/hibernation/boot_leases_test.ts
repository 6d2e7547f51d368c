/**
 * Boot leases: socket records of a process that is gone (crashed here, or
 * stopped beating elsewhere) are deleted; those of a running app are kept.
 */
import assert from "node:assert/strict";
import { App } from "../../mod.ts";
import { flushNow, hibernateNow, ManualClock } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { count, records, Room, ROUTES, STORAGE } from "./_room.ts";

Deno.test("a new app's ready() deletes socket records of an earlier run; settings and its own records survive", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const hex = new App({ objects: { ROOM: Room } }).env.ROOM.idFromName("x").toString();
    const base = ["dormant", "h", STORAGE, hex];
    {
      // An earlier run: its socket record and the object's settings are in KV.
      await using first = await serveApp({ objects: { ROOM: Room }, routes: ROUTES, kv });
      const old = await first.connect("/room/x?user=old");
      old.socket.send("auto");
      assert.equal(await old.next(), "ok");
      await flushNow(first.app);
      assert.equal(count(await records(kv), "ws"), 1);
    }
    // A process that crashed left records too (written by hand in the key layout).
    await kv.atomic()
      .set([...base, "ws", "0123456789abcdef", "0"], { t: ["ghost"], a: null, c: 1 })
      .set([...base, "ts", "0123456789abcdef", "0"], 5)
      .set(["dormant", "h", "other", hex, "ws", "0123456789abcdef", "1"], { t: [], a: null, c: 1 })
      .commit();
    assert.ok(count(await records(kv), "ws") >= 2);
    assert.equal(count(await records(kv), "cfg"), 1);

    await using second = await serveApp({
      objects: { ROOM: Room },
      routes: ROUTES,
      kv,
      clock: new ManualClock(),
    });
    await second.app.ready();
    let left = await records(kv);
    assert.deepEqual(left.map((r) => r.kind), ["cfg"]);

    const fresh = await second.connect("/room/x?user=new");
    await flushNow(second.app);
    await second.app.ready(); // idempotent: no second cleanup
    left = await records(kv);
    assert.equal(count(left, "ws"), 1);
    assert.deepEqual((left.find((r) => r.kind === "ws")!.value as { t: string[] }).t, ["new"]);
    // The settings written by the first run apply in the second one.
    fresh.socket.send("ping");
    assert.equal(await fresh.next(), "pong");
    fresh.socket.send("whoami");
    assert.equal(JSON.parse(await fresh.next() as string).user, "new");
  } finally {
    kv.close();
  }
});

Deno.test("a second app on the same KV leaves the socket records of a running app alone", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await using first = await serveApp({ objects: { ROOM: Room }, routes: ROUTES, kv });
    const client = await first.connect("/room/x?user=a");
    await hibernateNow(first.app, "ROOM", first.app.env.ROOM.idFromName("x"));
    await using second = await serveApp({ objects: { ROOM: Room }, routes: ROUTES, kv });
    await second.app.ready();
    assert.equal(count(await records(kv), "ws"), 1, "the running app's record survived");
    client.socket.send("whoami");
    assert.deepEqual(JSON.parse(await client.next() as string), { user: "a", at: 0, n: "1" });
  } finally {
    kv.close();
  }
});

Deno.test("cleanup deletes records of dead boots: gone processes on this machine at once, others once their lease expires", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const clock = new ManualClock(Date.now());
    const hex = new App({ objects: { ROOM: Room } }).env.ROOM.idFromName("x").toString();
    const machine = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    const record = { t: [], a: null, c: 1 };
    const ws = (boot: string) => ["dormant", "h", STORAGE, hex, "ws", boot, "0"];
    await kv.atomic()
      // A crashed process on this machine (no such pid): dead at once, whatever its last beat.
      .set(["dormant", "boot", "crashedlocal0000"], {
        beat: clock.now(),
        pid: 2 ** 22 + 7,
        machine,
      })
      .set(ws("crashedlocal0000"), record)
      // A live process elsewhere (another Deploy instance): kept while it beats.
      .set(["dormant", "boot", "remotelive000000"], {
        beat: clock.now(),
        pid: 1,
        machine: "elsewhere",
      })
      .set(ws("remotelive000000"), record)
      // A remote process that stopped beating 2 minutes ago: dead.
      .set(["dormant", "boot", "remotestale00000"], {
        beat: clock.now() - 120_000,
        pid: 1,
        machine: "elsewhere",
      })
      .set(ws("remotestale00000"), record)
      // Records with no lease at all (written before leases existed, or lease lost): dead.
      .set(ws("nolease000000000"), record)
      .commit();
    await using app = await serveApp({ objects: { ROOM: Room }, routes: ROUTES, kv, clock });
    await app.app.ready();
    const boots = (await records(kv)).filter((r) => r.kind === "ws").map((r) => r.key[5]);
    assert.deepEqual(boots, ["remotelive000000"]);
    const leases = [];
    for await (const entry of kv.list({ prefix: ["dormant", "boot"] })) leases.push(entry.key[2]);
    assert.ok(leases.includes("remotelive000000"));
    assert.ok(!leases.includes("crashedlocal0000") && !leases.includes("remotestale00000"));
    // The remote boot stops beating: the periodic cleanup (every third 30 s beat) removes it.
    await app.clock.advance(90_000);
    await until(
      async () => (await records(kv)).filter((r) => r.kind === "ws").length === 0,
      "cleanup",
    );
  } finally {
    kv.close();
  }
});
