/** Node leases on a real Deno KV (in memory), time from a ManualClock. */
import assert from "node:assert/strict";
import { leaseDead, NodeLease, skewMarginMs } from "../../src/cluster/node_lease.ts";
import { ManualClock } from "../../src/testing/mod.ts";

Deno.test("a node lease keeps its expiry in the value and is renewed by compare and swap", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(1_000);
  const lease = new NodeLease({ kv, clock, ttlMs: 3_000 });
  await lease.join();
  const first = await kv.get<{ beat: number; expiresAt: number }>(["dormant", "boot", lease.node]);
  assert.equal(first.value!.expiresAt, 4_000);
  await clock.advance(1_000);
  assert.equal(await lease.renew(), "ok");
  const second = await kv.get<{ expiresAt: number }>(["dormant", "boot", lease.node]);
  assert.equal(second.value!.expiresAt, 5_000);
  assert.notEqual(second.versionstamp, first.versionstamp);
});

Deno.test("a lease another node deleted (or rewrote) is lost: renewing it says so and writes nothing", async () => {
  using kv = await Deno.openKv(":memory:");
  const lease = new NodeLease({ kv, clock: new ManualClock(0), ttlMs: 3_000 });
  await lease.join();
  await kv.delete(["dormant", "boot", lease.node]);
  assert.equal(await lease.renew(), "lost");
  assert.equal((await kv.get(["dormant", "boot", lease.node])).versionstamp, null);
});

Deno.test("concurrent renewals share one commit (two would fail each other's check)", async () => {
  using kv = await Deno.openKv(":memory:");
  const lease = new NodeLease({ kv, clock: new ManualClock(0), ttlMs: 3_000 });
  await lease.join();
  assert.deepEqual(await Promise.all([lease.renew(), lease.renew(), lease.renew()]), [
    "ok",
    "ok",
    "ok",
  ]);
});

Deno.test("a node considers its lease lapsed a skew margin before it expires; joining fresh takes a new node id", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(0);
  const lease = new NodeLease({ kv, clock, ttlMs: 2_000 });
  await lease.join();
  assert.equal(skewMarginMs(2_000), 500);
  assert.equal(skewMarginMs(60_000), 1_000);
  assert.equal(lease.lapsed(1_499), false);
  assert.equal(lease.lapsed(1_500), true);
  const old = lease.node;
  await lease.join(true);
  assert.notEqual(lease.node, old);
  await lease.leave();
  assert.equal((await kv.get(["dormant", "boot", lease.node])).versionstamp, null);
});

Deno.test("a lease is dead once absent, expired by more than the skew, or (legacy) 90 s after its beat", () => {
  const live = { beat: 0, expiresAt: 1_000, pid: 1, machine: "elsewhere" };
  assert.equal(leaseDead(null, 0, 500, null), true);
  assert.equal(leaseDead(live, 1_500, 500, null), false);
  assert.equal(leaseDead(live, 1_501, 500, null), true);
  assert.equal(leaseDead({ beat: 0, pid: 1, machine: null }, 89_999, 500, null), false);
  assert.equal(leaseDead({ beat: 0, pid: 1, machine: null }, 90_000, 500, null), true);
});
