/**
 * Ownership in a running app: claim before running, fencing of every kind of
 * commit, stepping down (sockets closed 1012), the 503 for an object another
 * node owns, release on shutdown, self-fence. The other node is a bare
 * KvPlacement on the same KV (in memory); time comes from ManualClocks.
 */
import assert from "node:assert/strict";
import {
  DurableObject,
  durableObject,
  ObjectElsewhereError,
  ObjectMovedError,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../mod.ts";
import { KvPlacement, type OwnerRecord } from "../src/cluster/kv_placement.ts";
import { alarmIndexKey, alarmKey, ownerKey } from "../src/kv/keys.ts";
import { flushNow, ManualClock } from "../src/testing/mod.ts";
import { interceptKv } from "./_intercept_kv.ts";
import { serveApp, until, UPGRADE_HEADERS } from "./_helpers.ts";

const TTL = 2_000;
const SKEW = 500;
const STORAGE = "fenced";
const alarms: string[] = [];
let hits = 0;

@durableObject({ name: STORAGE })
class Counter extends DurableObject {
  fetch(): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return webSocketResponse(client);
  }

  /** RPC: counts the calls that ran. */
  hit(): number {
    return ++hits;
  }

  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (message === "put") await this.ctx.storage.put("n", 1);
    if (message === "alarm") await this.ctx.storage.setAlarm(Date.now() + 1_000_000);
    ws.send(`done ${message}`);
  }

  alarm(): void {
    alarms.push(this.ctx.id.toString());
  }
}

const ROUTES = [{ pattern: "/c/:name", object: "C" }];

async function app(kv: Deno.Kv, clock = new ManualClock()) {
  const served = await serveApp({
    objects: { C: Counter },
    routes: ROUTES,
    kv,
    clock,
    // No transport: these tests drive one node's clock by hand, and 503 is the answer for an
    // object owned elsewhere.
    cluster: { leaseTtlMs: TTL, transport: null },
  });
  await served.app.ready();
  return served;
}

/** Another node on the same KV, its clock at `now`. */
async function otherNode(kv: Deno.Kv, now: number) {
  const clock = new ManualClock(now);
  const placement = new KvPlacement({ kv, clock, leaseTtlMs: TTL });
  await placement.join();
  return { placement, clock };
}

function hex(served: Awaited<ReturnType<typeof app>>, name: string): string {
  return served.app.env.C.idFromName(name).toString();
}

Deno.test("a storage commit of an object another node took over is fenced: nothing is written, onException gets ObjectMovedError, the socket closes 1012", async () => {
  using kv = await Deno.openKv(":memory:");
  await using a = await app(kv);
  const client = await a.connect("/c/x");
  client.socket.send("put");
  assert.equal(await client.next(), "done put");
  const x = hex(a, "x");
  const before = await kv.get(["dormant", "s", STORAGE, x, "d", new TextEncoder().encode("n")]);
  // a's lease looks expired to b (a stalled, from b's point of view): b takes x over.
  const b = await otherNode(kv, a.clock.now() + TTL + SKEW + 1);
  assert.deepEqual(await b.placement.locate(STORAGE, x), { local: true });
  client.socket.send("put");
  const closed = await client.closed;
  assert.equal(closed.code, 1012);
  const after = await kv.get(["dormant", "s", STORAGE, x, "d", new TextEncoder().encode("n")]);
  assert.equal(after.versionstamp, before.versionstamp, "the fenced write left nothing");
  assert.ok(a.exceptions.some((e) => e.error instanceof ObjectMovedError));
  assert.ok(a.exceptions.some((e) => e.context.operation === "fenced"));
  assert.deepEqual((await kv.get<OwnerRecord>(ownerKey(STORAGE, x))).value, {
    node: b.placement.node,
    epoch: 2,
  });
});

Deno.test("a hibernation flush drops the records of an object another node took over and still writes the others", async () => {
  using kv = await Deno.openKv(":memory:");
  await using a = await app(kv);
  const x = await a.connect("/c/x");
  const y = await a.connect("/c/y");
  const b = await otherNode(kv, a.clock.now() + TTL + SKEW + 1);
  await b.placement.locate(STORAGE, hex(a, "x"));
  await flushNow(a.app);
  const records: string[] = [];
  for await (const entry of kv.list({ prefix: ["dormant", "h", STORAGE] })) {
    if (entry.key[4] === "ws") records.push(entry.key[3] as string);
  }
  assert.deepEqual(records, [hex(a, "y")]);
  assert.equal((await x.closed).code, 1012);
  y.socket.send("ping");
  assert.equal(await y.next(), "done ping", "the other object is untouched");
});

Deno.test("an alarm write of an object another node took over is fenced: no alarm is stored", async () => {
  using kv = await Deno.openKv(":memory:");
  await using a = await app(kv);
  const client = await a.connect("/c/x");
  const b = await otherNode(kv, a.clock.now() + TTL + SKEW + 1);
  await b.placement.locate(STORAGE, hex(a, "x"));
  client.socket.send("alarm");
  assert.equal((await client.closed).code, 1012);
  assert.equal((await kv.get(alarmKey(STORAGE, hex(a, "x")))).versionstamp, null);
  assert.ok(a.exceptions.some((e) => e.error instanceof ObjectMovedError));
});

Deno.test("an object another live node owns is refused with 503 and a report when no transport is configured", async () => {
  using kv = await Deno.openKv(":memory:");
  await using a = await app(kv);
  const b = await otherNode(kv, a.clock.now());
  await b.placement.locate(STORAGE, hex(a, "z"));
  const response = await fetch(a.url("/c/z"), { headers: UPGRADE_HEADERS });
  assert.equal(response.status, 503);
  assert.match(await response.text(), /owned by another node and no transport is configured/);
  assert.equal(response.headers.get("x-dormant-error"), "owned_elsewhere");
  assert.ok(a.exceptions.some((e) => e.error instanceof ObjectElsewhereError));
});

Deno.test("a graceful shutdown releases every owned object: another node claims it at once and the sockets close 1012", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await app(kv);
  const client = await a.connect("/c/x");
  const x = hex(a, "x");
  const b = await otherNode(kv, a.clock.now());
  assert.deepEqual(await b.placement.locate(STORAGE, x), {
    local: false,
    node: await nodeOf(kv, x),
  });
  const started = performance.now();
  await a.app.shutdown();
  console.log(`shutdown with release of 1 object: ${(performance.now() - started).toFixed(1)} ms`);
  assert.equal((await client.closed).code, 1012);
  b.placement.invalidate(STORAGE, x);
  assert.deepEqual(await b.placement.locate(STORAGE, x), { local: true });
  assert.equal((await kv.get<OwnerRecord>(ownerKey(STORAGE, x))).value!.epoch, 2);
  await a[Symbol.asyncDispose]();
});

async function nodeOf(kv: Deno.Kv, id: string): Promise<string> {
  return (await kv.get<OwnerRecord>(ownerKey(STORAGE, id))).value!.node;
}

Deno.test("a single app shuts down as before: sockets close 1001 and its owner records are released", async () => {
  using kv = await Deno.openKv(":memory:");
  const a = await app(kv);
  const client = await a.connect("/c/x");
  await a.app.shutdown();
  assert.equal((await client.closed).code, 1001);
  assert.equal((await kv.get<OwnerRecord>(ownerKey(STORAGE, hex(a, "x")))).value!.released, true);
  await a[Symbol.asyncDispose]();
});

Deno.test("self-fence: an app whose lease was lost closes its sockets with 1012, rejoins under a new node id and claims objects again on use", async () => {
  using kv = await Deno.openKv(":memory:");
  await using a = await app(kv);
  const client = await a.connect("/c/x");
  const old = await nodeOf(kv, hex(a, "x"));
  await kv.delete(["dormant", "boot", old]); // another node found the lease expired and took it
  await a.clock.advance(Math.ceil(TTL / 3)); // the renewal finds it lost
  assert.equal((await client.closed).code, 1012);
  assert.ok(a.exceptions.some((e) => e.context.operation === "lease lost"));
  const again = await a.connect("/c/x");
  again.socket.send("put");
  assert.equal(await again.next(), "done put");
  const now = await kv.get<OwnerRecord>(ownerKey(STORAGE, hex(a, "x")));
  assert.notEqual(now.value!.node, old);
  assert.equal(now.value!.epoch, 2);
});

Deno.test("an alarm of an object another live node owns is left to it; once that node is dead the alarm is claimed and fired here", async () => {
  using kv = await Deno.openKv(":memory:");
  alarms.length = 0;
  const clock = new ManualClock();
  const b = await otherNode(kv, clock.now());
  await using a = await app(kv, clock);
  const id = hex(a, "w");
  await b.placement.locate(STORAGE, id);
  const due = clock.now() + 100;
  await kv.atomic()
    .set(alarmKey(STORAGE, id), { scheduledTime: due, retryCount: 0, dueTime: due })
    .set(alarmIndexKey(due, STORAGE, id), null)
    .commit();
  // b renews in step with a's clock for a while: a leaves the alarm alone.
  for (let t = 0; t < 3; t++) {
    await clock.advance(TTL / 2);
    await b.clock.advance(TTL / 2);
    await b.placement.renew();
  }
  assert.deepEqual(alarms, []);
  // b dies (stops renewing): after its TTL + skew, at the next look (every TTL), a claims the
  // object and fires its alarm.
  await clock.advance(2 * TTL + SKEW + 1);
  await until(() => alarms.length === 1, "the alarm to fire");
  assert.deepEqual(alarms, [id]);
  assert.equal(await nodeOf(kv, id) !== b.placement.node, true);
});

Deno.test("after a stall past its lease, a call to an awake object waits for the lease check: if the object was taken over meanwhile it never runs here", async () => {
  using real = await Deno.openKv(":memory:");
  const hold = { on: false, waiting: [] as Array<() => void> };
  // The node's renewals can be held: its lease lapses by the clock while it thinks it is fine.
  const kv = interceptKv(real, {
    ownership: true,
    async commit(commit, calls) {
      const renewal = calls.some((c) => c.method === "set" && (c.first as string[])[1] === "boot");
      if (renewal && hold.on) await new Promise<void>((resolve) => hold.waiting.push(resolve));
      return commit();
    },
  });
  await using a = await app(kv);
  const stub = a.app.env.C.get(a.app.env.C.idFromName("x"));
  hits = 0;
  assert.equal(await stub.hit(), 1);
  const client = await a.connect("/c/x");
  hold.on = true;
  await a.clock.advance(TTL + SKEW); // the renewal started at TTL/3 is stuck: the lease lapsed
  assert.equal(hold.waiting.length, 1);
  // Meanwhile another node found the lease expired and took the object over.
  const b = await otherNode(real, a.clock.now() + SKEW + 1);
  assert.deepEqual(await b.placement.locate(STORAGE, hex(a, "x")), { local: true });
  const call = stub.hit();
  hold.on = false;
  for (const resolve of hold.waiting.splice(0)) resolve();
  await assert.rejects(call);
  assert.equal(hits, 1, "the call never ran on the superseded node");
  assert.equal((await client.closed).code, 1012);
});

Deno.test("after a stall past its lease that nobody used, a call renews the lease and runs", async () => {
  using real = await Deno.openKv(":memory:");
  const hold = { on: false, waiting: [] as Array<() => void> };
  const kv = interceptKv(real, {
    ownership: true,
    async commit(commit, calls) {
      const renewal = calls.some((c) => c.method === "set" && (c.first as string[])[1] === "boot");
      if (renewal && hold.on) await new Promise<void>((resolve) => hold.waiting.push(resolve));
      return commit();
    },
  });
  await using a = await app(kv);
  const stub = a.app.env.C.get(a.app.env.C.idFromName("x"));
  hits = 0;
  assert.equal(await stub.hit(), 1);
  hold.on = true;
  await a.clock.advance(TTL + SKEW);
  const call = stub.hit();
  hold.on = false;
  for (const resolve of hold.waiting.splice(0)) resolve();
  assert.equal(await call, 2);
  assert.deepEqual(a.exceptions, []);
});
