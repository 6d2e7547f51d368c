/**
 * KvPlacement on a real Deno KV (in memory), time from ManualClocks: two
 * placements on one database are two nodes.
 */
import assert from "node:assert/strict";
import { KvPlacement, type OwnerRecord } from "../../src/cluster/kv_placement.ts";
import type { LossReason } from "../../src/cluster/placement.ts";
import { ObjectMovedError } from "../../src/errors.ts";
import { ownerKey } from "../../src/kv/keys.ts";
import { ManualClock } from "../../src/testing/mod.ts";
import { interceptKv } from "../_intercept_kv.ts";

const TTL = 2_000;
const SKEW = 500; // a quarter of the TTL
const ID = "a".repeat(64);

interface Node {
  placement: KvPlacement;
  clock: ManualClock;
  lost: Array<[string, string, LossReason]>;
}

async function node(kv: Deno.Kv, clock = new ManualClock(1_000_000)): Promise<Node> {
  const lost: Node["lost"] = [];
  const placement = new KvPlacement({ kv, clock, leaseTtlMs: TTL });
  placement.onLost((storageName, id, reason) => lost.push([storageName, id, reason]));
  await placement.join();
  return { placement, clock, lost };
}

async function record(kv: Deno.Kv, id = ID): Promise<OwnerRecord | null> {
  return (await kv.get<OwnerRecord>(ownerKey("ROOM", id))).value;
}

Deno.test("the first node to locate an unowned object claims it at epoch 1; another node sees it owned there", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await node(kv);
  const b = await node(kv);
  assert.deepEqual(await a.placement.locate("ROOM", ID), { local: true });
  assert.deepEqual(await record(kv), { node: a.placement.node, epoch: 1 });
  assert.deepEqual(await b.placement.locate("ROOM", ID), { local: false, node: a.placement.node });
  assert.equal(a.placement.epochOf("ROOM", ID), 1);
  assert.equal(b.placement.epochOf("ROOM", ID), undefined);
});

Deno.test("an object this node owns is located without any KV read or write", async () => {
  using real = await Deno.openKv(":memory:");
  let reads = 0;
  let commits = 0;
  const kv = interceptKv(real, {
    ownership: true,
    read: (_method, _args, read) => (reads++, read()),
    commit: (commit) => (commits++, commit()),
  });
  const a = await node(kv);
  await a.placement.locate("ROOM", ID);
  const before = { reads, commits };
  for (let i = 0; i < 1_000; i++) {
    assert.deepEqual(await a.placement.locate("ROOM", ID), { local: true });
  }
  assert.deepEqual({ reads, commits }, before);
});

Deno.test("concurrent first locates of one object make one claim", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await node(kv);
  const all = await Promise.all(Array.from({ length: 20 }, () => a.placement.locate("ROOM", ID)));
  assert.ok(all.every((where) => where.local));
  assert.equal(a.placement.claims, 1);
});

Deno.test("concurrent first claims of many objects share reads and commits", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await node(kv);
  const ids = Array.from({ length: 150 }, (_, i) => i.toString(16).padStart(64, "0"));
  const all = await Promise.all(ids.map((id) => a.placement.locate("ROOM", id)));
  assert.ok(all.every((where) => where.local));
  assert.ok(a.placement.claims <= 3, `${a.placement.claims} commits for 150 objects`);
  for (const id of ids) {
    assert.deepEqual(await record(kv, id), { node: a.placement.node, epoch: 1 });
  }
});

Deno.test("a live owner that renews keeps its objects: no other node takes them over", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(1_000_000);
  const a = await node(kv, clock);
  const b = await node(kv, clock);
  await a.placement.locate("ROOM", ID);
  for (let i = 0; i < 10; i++) {
    await clock.advance(TTL / 2);
    await a.placement.renew();
    assert.deepEqual(await b.placement.locate("ROOM", ID), {
      local: false,
      node: a.placement.node,
    });
    b.placement.invalidate("ROOM", ID);
  }
  assert.deepEqual(a.lost, []);
});

Deno.test("an owner whose lease expired is taken over after TTL + skew: epoch 2, and the old owner's next fenced commit fails and it steps down", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await node(kv, new ManualClock(1_000_000));
  const b = await node(kv, new ManualClock(1_000_000));
  await a.placement.locate("ROOM", ID);
  const fence = a.placement.check("ROOM", ID);

  await b.clock.advance(TTL + SKEW); // exactly at expiry + skew: still alive
  assert.deepEqual(await b.placement.locate("ROOM", ID), { local: false, node: a.placement.node });
  b.placement.invalidate("ROOM", ID);
  await b.placement.renew();
  await b.clock.advance(1);
  assert.deepEqual(await b.placement.locate("ROOM", ID), { local: true });
  assert.deepEqual(await record(kv), { node: b.placement.node, epoch: 2 });

  // A write a's instance still attempts, with the check it claimed with: rejected.
  const result = await kv.atomic().check(fence).set(["x"], 1).commit();
  assert.equal(result.ok, false);
  assert.equal(await a.placement.rejected("ROOM", ID, fence), true);
  assert.deepEqual(a.lost, [["ROOM", ID, "fenced"]]);
  assert.throws(() => a.placement.check("ROOM", ID), ObjectMovedError);
  assert.equal((await kv.get(["x"])).versionstamp, null);
});

Deno.test("a graceful release lets another node claim at once, with the epoch raised by one", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await node(kv);
  const b = await node(kv);
  await a.placement.locate("ROOM", ID);
  assert.equal(b.placement.node !== a.placement.node, true);
  assert.deepEqual(await b.placement.locate("ROOM", ID), { local: false, node: a.placement.node });
  const started = performance.now();
  assert.equal(await a.placement.release(), 1);
  const releaseMs = performance.now() - started;
  assert.deepEqual(a.lost, [["ROOM", ID, "released"]]);
  assert.deepEqual(await record(kv), { node: a.placement.node, epoch: 1, released: true });
  b.placement.invalidate("ROOM", ID);
  assert.deepEqual(await b.placement.locate("ROOM", ID), { local: true });
  assert.deepEqual(await record(kv), { node: b.placement.node, epoch: 2 });
  await a.placement.leave();
  assert.equal((await kv.get(["dormant", "boot", a.placement.node])).versionstamp, null);
  console.log(`release of 1 object: ${releaseMs.toFixed(2)} ms`);
});

Deno.test("a release stops at its time budget: what is left is taken over once the lease expires", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await node(kv);
  await a.placement.locate("ROOM", ID);
  assert.equal(await a.placement.release(new Set(), 0), 0);
  assert.deepEqual(await record(kv), { node: a.placement.node, epoch: 1 });
  assert.deepEqual(a.lost, [["ROOM", ID, "released"]], "it stopped acting as owner anyway");
});

Deno.test("epochs rise by one per change of node and never go back, over many takeovers", async () => {
  using kv = await Deno.openKv(":memory:");
  const nodes = [await node(kv), await node(kv), await node(kv)];
  let last = 0;
  for (let round = 0; round < 12; round++) {
    const n = nodes[round % 3]!;
    // Everyone else released: n claims it.
    assert.deepEqual(await n.placement.locate("ROOM", ID), { local: true });
    const epoch = (await record(kv))!.epoch;
    assert.equal(epoch, last + 1);
    last = epoch;
    await n.placement.release();
    nodes[round % 3] = await node(kv); // a restarted process is a new node
  }
});

Deno.test("self-fence: a node whose clock stalled past its lease, taken over meanwhile, drops every object and rejoins under a new id", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await node(kv, new ManualClock(1_000_000));
  const b = await node(kv, new ManualClock(1_000_000));
  const other = "b".repeat(64);
  await a.placement.locate("ROOM", ID);
  await a.placement.locate("ROOM", other);
  const old = a.placement.node;
  // a stalls (its clock and timers do not move); b's time passes.
  await b.clock.advance(TTL + SKEW + 1);
  await b.placement.renew();
  assert.deepEqual(await b.placement.locate("ROOM", ID), { local: true });
  // a wakes up: the dispatch check sees its lease lapsed, renewing finds it lost.
  await a.clock.advance(TTL + SKEW + 1);
  assert.deepEqual(await a.placement.locate("ROOM", ID), { local: false, node: b.placement.node });
  assert.notEqual(a.placement.node, old);
  assert.deepEqual(a.lost.map(([, id, reason]) => [id, reason]).sort(), [
    [ID, "lease lost"],
    [other, "lease lost"],
  ]);
  // The object b did not take is claimed again by a's new node, at a new epoch.
  assert.deepEqual(await a.placement.locate("ROOM", other), { local: true });
  assert.deepEqual(await record(kv, other), { node: a.placement.node, epoch: 2 });
});

Deno.test("a lease that lapsed by the clock but that no node took over is renewed without stepping down", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await node(kv);
  await a.placement.locate("ROOM", ID);
  const id = a.placement.node;
  await a.clock.advance(10 * TTL); // a long stall, nobody else around
  assert.deepEqual(await a.placement.locate("ROOM", ID), { local: true });
  assert.equal(a.placement.node, id);
  assert.deepEqual(a.lost, []);
});

Deno.test("a node whose lease was lost claims nothing before it rejoined", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await node(kv);
  const old = a.placement.node;
  await kv.delete(["dormant", "boot", old]); // another node found it dead and removed it
  assert.deepEqual(await a.placement.locate("ROOM", ID), { local: true });
  assert.notEqual(a.placement.node, old);
  assert.deepEqual(await record(kv), { node: a.placement.node, epoch: 1 });
});

Deno.test("a renewal that finds the lease lost steps down from every object", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await node(kv);
  await a.placement.locate("ROOM", ID);
  await kv.delete(["dormant", "boot", a.placement.node]);
  await a.placement.renew();
  assert.deepEqual(a.lost, [["ROOM", ID, "lease lost"]]);
  assert.equal(a.placement.ownedCount, 0);
});

Deno.test("a dead owner whose process is gone from this machine is taken over at once", async () => {
  using kv = await Deno.openKv(":memory:");
  const machine = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  const clock = new ManualClock(1_000_000);
  await kv.atomic()
    .set(["dormant", "boot", "deadlocal0000000"], {
      beat: clock.now(),
      expiresAt: clock.now() + 60_000,
      pid: 2 ** 22 + 7,
      machine,
    })
    .set(ownerKey("ROOM", ID), { node: "deadlocal0000000", epoch: 4 })
    .commit();
  const b = await node(kv, clock);
  assert.deepEqual(await b.placement.locate("ROOM", ID), { local: true });
  assert.deepEqual(await record(kv), { node: b.placement.node, epoch: 5 });
  assert.equal((await kv.get(["dormant", "boot", "deadlocal0000000"])).versionstamp, null);
});
