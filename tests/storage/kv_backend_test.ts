import assert from "node:assert/strict";
import { serialize } from "node:v8";
import { AlarmScheduler } from "../../src/alarms/alarm_scheduler.ts";
import { KvPlacement } from "../../src/cluster/kv_placement.ts";
import { KvError } from "../../src/errors.ts";
import { KvBackend } from "../../src/storage/kv_backend.ts";
import type { StorageHooks } from "../../src/storage/object_storage.ts";
import { Storage } from "../../src/storage/storage.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { RecordingHooks, storageConformance, valueOfSize } from "./_storage_conformance.ts";
import { interceptKv } from "../_intercept_kv.ts";

const ID = "a".repeat(64);
const ROOT = ["dormant", "s", "ROOM", ID];
const encoder = new TextEncoder();
const head = (key: string): Deno.KvKey => [...ROOT, "d", encoder.encode(key)];

/** A `Storage` on a `KvBackend`, as the app creates one per object. */
function kvStorage(
  kv: Deno.Kv,
  storageName: string,
  id: string,
  hooks: StorageHooks,
  alarms: AlarmScheduler,
): Storage {
  return new Storage({ backend: new KvBackend(kv, storageName, id), hooks, alarms });
}

// No intentional differences: a Storage on KV passes every shared case.
storageConformance("KvStorage", async () => {
  const kv = await Deno.openKv(":memory:");
  const alarms = new AlarmScheduler({
    kv,
    clock: new ManualClock(),
    deliver: () => Promise.resolve(),
    onException: (error) => assert.fail(String(error)),
  });
  return {
    backend: new KvBackend(kv, "ROOM", ID),
    alarms,
    close() {
      alarms.close();
      kv.close();
    },
  };
});

// The same with ownership on, as in an app: every commit (and alarm write) also checks the
// object's owner record in the same atomic, using one of KV's checks per atomic.
storageConformance("KvStorage (fenced)", async () => {
  const kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const placement = new KvPlacement({ kv, clock, leaseTtlMs: 10_000 });
  await placement.join();
  await placement.locate("ROOM", ID);
  const alarms = new AlarmScheduler({
    kv,
    clock,
    fence: placement,
    deliver: () => Promise.resolve(),
    onException: (error) => assert.fail(String(error)),
  });
  return {
    backend: new KvBackend(kv, "ROOM", ID, placement),
    alarms,
    close() {
      alarms.close();
      kv.close();
    },
  };
});

/** Counts KV calls and makes commits fail on demand. */
interface Faults {
  atomics: number;
  getMany: number[];
  failCommits: number;
  error: () => Error;
}

function faultyKv(kv: Deno.Kv, faults: Faults): Deno.Kv {
  return interceptKv(kv, {
    atomic: () => void faults.atomics++,
    commit(commit) {
      if (faults.failCommits === 0) return commit();
      faults.failCommits--;
      return Promise.reject(faults.error());
    },
    read(method, args, read) {
      if (method === "getMany") faults.getMany.push((args[0] as unknown[]).length);
      return read();
    },
  });
}

interface Fixture {
  kv: Deno.Kv;
  storage: Storage;
  hooks: RecordingHooks;
  faults: Faults;
  clock: ManualClock;
  alarms: AlarmScheduler;
  /** Another storage instance for the same object (as another process would have). */
  twin(): Storage;
}

async function withKv(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const faults: Faults = {
    atomics: 0,
    getMany: [],
    failCommits: 0,
    error: () => new Error("injected"),
  };
  const wrapped = faultyKv(kv, faults);
  const clock = new ManualClock();
  const alarms = new AlarmScheduler({
    kv,
    clock,
    deliver: () => Promise.resolve(),
    onException: (error) => assert.fail(String(error)),
  });
  const hooks = new RecordingHooks();
  const make = () => kvStorage(wrapped, "ROOM", ID, hooks, alarms);
  try {
    await fn({ kv, storage: make(), hooks, faults, clock, alarms, twin: make });
    assert.equal(hooks.depth, 0, "the input gate must be balanced");
  } finally {
    alarms.close();
    kv.close();
  }
}

async function rawKeys(kv: Deno.Kv, prefix: Deno.KvKey): Promise<Deno.KvKey[]> {
  const keys: Deno.KvKey[] = [];
  for await (const entry of kv.list({ prefix })) keys.push(entry.key);
  return keys;
}

Deno.test('KvStorage stores values under ["dormant", "s", storageName, id] and nowhere else', async () => {
  await withKv(async ({ kv, storage, hooks, alarms }) => {
    await storage.put("k", { v: 1 });
    const entries = [];
    for await (const entry of kv.list({ prefix: ["dormant"] })) entries.push(entry);
    assert.equal(entries.length, 1);
    assert.deepEqual(entries[0]!.key, head("k"));
    assert.deepEqual(entries[0]!.value, new Uint8Array(serialize({ v: 1 })));
    // Another object of the same class sees none of it.
    const other = kvStorage(kv, "ROOM", "b".repeat(64), hooks, alarms);
    assert.equal(await other.get("k"), undefined);
    assert.equal((await other.list()).size, 0);
  });
});

Deno.test("KvStorage reads what an earlier instance wrote to the same Kv", async () => {
  await withKv(async ({ storage, twin }) => {
    await storage.put({ a: new Map([[1, 2]]), b: valueOfSize(100_000) });
    const again = twin();
    assert.deepEqual(await again.get("a"), new Map([[1, 2]]));
    assert.deepEqual(await again.get("b"), valueOfSize(100_000));
  });
});

Deno.test("KvStorage constructor rejects malformed storage names and ids", async () => {
  const kv = await Deno.openKv(":memory:");
  const alarms = new AlarmScheduler({
    kv,
    clock: new ManualClock(),
    deliver: async () => {},
    onException() {},
  });
  try {
    const hooks = new RecordingHooks();
    assert.throws(
      () => kvStorage(kv, "a b", ID, hooks, alarms),
      TypeError,
    );
    assert.throws(
      () => kvStorage(kv, "x".repeat(65), ID, hooks, alarms),
      TypeError,
    );
    assert.throws(
      () => kvStorage(kv, "ROOM", "A".repeat(64), hooks, alarms),
      TypeError,
    );
    assert.throws(
      () => kvStorage(kv, "ROOM", "ab", hooks, alarms),
      /64 lowercase hex/,
    );
  } finally {
    alarms.close();
    kv.close();
  }
});

Deno.test("KvStorage.transaction() reruns after a conflicting write through the same Kv, losing no update", async () => {
  await withKv(async ({ kv, storage }) => {
    await storage.put("n", 1);
    let attempts = 0;
    await storage.transaction(async (txn) => {
      attempts++;
      const n = (await txn.get<number>("n"))!;
      const absent = await txn.get("created");
      if (attempts === 1) await kv.set(head("n"), new Uint8Array(serialize(41))); // a write from elsewhere
      await txn.put({ n: n + 1, created: absent === undefined });
    });
    assert.equal(attempts, 2);
    assert.equal(await storage.get("n"), 42);

    // A key the transaction saw as absent is checked too.
    attempts = 0;
    await storage.transaction(async (txn) => {
      attempts++;
      const value = await txn.get<string>("late");
      if (attempts === 1) await kv.set(head("late"), new Uint8Array(serialize("other")));
      await txn.put("seen", value ?? "nothing");
    });
    assert.equal(attempts, 2);
    assert.equal(await storage.get("seen"), "other");
  });
});

Deno.test("KvStorage.transaction() serializes increments from two instances of one object", async () => {
  await withKv(async ({ storage, twin }) => {
    const other = twin();
    const increment = (s: Storage) =>
      s.transaction(async (txn) => {
        const n = (await txn.get<number>("n")) ?? 0;
        await new Promise((resolve) => setTimeout(resolve, 0));
        await txn.put("n", n + 1);
      });
    await Promise.all([storage, other, storage, other, storage, other].map(increment));
    assert.equal(await storage.get("n"), 6);
  });
});

Deno.test("KvStorage.put() splits a value over 64 KiB across two KV entries of one atomic", async () => {
  await withKv(async ({ kv, storage, faults }) => {
    const max = valueOfSize(131_072);
    await storage.put("big", max);
    assert.equal(faults.atomics, 1);
    const headEntry = await kv.get<Uint8Array>(head("big"));
    assert.equal(headEntry.value?.length, 65_536);
    const conts = [];
    for await (const entry of kv.list<Uint8Array>({ prefix: [...ROOT, "c"] })) conts.push(entry);
    assert.equal(conts.length, 1);
    assert.equal(conts[0]!.value.length, 65_536);
    assert.equal(conts[0]!.versionstamp, headEntry.versionstamp);
    assert.deepEqual(await storage.get("big"), max);
    assert.deepEqual(await storage.list(), new Map([["big", max]]));
    assert.deepEqual(await storage.get(["big"]), new Map([["big", max]]));

    // A value of exactly 64 KiB fits in the head; the old continuation is deleted.
    const exact = valueOfSize(65_536);
    await storage.put("big", exact);
    assert.deepEqual(await rawKeys(kv, [...ROOT, "c"]), []);
    // Even a leftover continuation (another versionstamp) is never joined to it.
    await kv.set(conts[0]!.key, new Uint8Array(10));
    assert.deepEqual(await storage.get("big"), exact);
    assert.deepEqual([...(await storage.list()).values()], [exact]);
    await storage.put("small", 1);
    assert.equal(await storage.delete("big"), true);
    assert.deepEqual(await rawKeys(kv, ROOT), [head("small")]);
  });
});

Deno.test("KvStorage.put() leaves no partial value when the commit fails", async () => {
  await withKv(async ({ kv, storage, faults, hooks }) => {
    await storage.put("v", "old");
    faults.failCommits = 1;
    faults.error = () => new TypeError("injected failure");
    const failing = storage.put({ v: "new", big: valueOfSize(131_072) });
    const tracked = hooks.tracked.at(-1)!;
    await assert.rejects(
      failing,
      (e) => e instanceof KvError && /injected failure/.test(e.message),
    );
    await assert.rejects(tracked, KvError);
    assert.equal(await storage.get("v"), "old");
    assert.equal(await storage.get("big"), undefined);
    assert.deepEqual(await rawKeys(kv, ROOT), [head("v")]);
    assert.deepEqual(hooks.commits, [2]);
  });
});

Deno.test('KvStorage retries "database is locked" a few times, then reports a KvError', async () => {
  await withKv(async ({ kv, storage, faults }) => {
    faults.error = () => new TypeError("database is locked");
    faults.failCommits = 2;
    await storage.put("a", 1);
    assert.equal(faults.atomics, 3);
    assert.equal(await storage.get("a"), 1);

    faults.failCommits = 100;
    await assert.rejects(
      storage.put("b", 2),
      (e) => e instanceof KvError && /database is locked/.test(e.message),
    );
    assert.equal(faults.atomics, 3 + 4); // the first try and three retries
    assert.equal(await storage.get("b"), undefined);
    assert.deepEqual(await rawKeys(kv, ROOT), [head("a")]);
    faults.failCommits = 0;
  });
});

Deno.test("KvStorage.get(keys) reads in getMany calls of at most 10 keys", async () => {
  await withKv(async ({ storage, faults }) => {
    const keys = Array.from({ length: 25 }, (_, i) => `k${i}`);
    await storage.put(Object.fromEntries(keys.map((k) => [k, k])));
    await storage.put({ big1: valueOfSize(100_000), big2: valueOfSize(70_000) });
    faults.getMany.length = 0;
    const map = await storage.get([...keys, "big1", "big2", "missing"]);
    assert.equal(map.size, 27);
    assert.deepEqual(map.get("big2"), valueOfSize(70_000));
    assert.ok(faults.getMany.every((n) => n <= 10), `getMany sizes: ${faults.getMany}`);
    assert.equal(faults.getMany.reduce((a, b) => a + b), 28 + 4); // then head + continuation of each big value
  });
});

Deno.test("KvStorage limits reject before anything reaches KV", async () => {
  await withKv(async ({ storage, faults }) => {
    const many = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, i]));
    const big = valueOfSize(120_000);
    const attempts: Promise<unknown>[] = [
      storage.put("x".repeat(1537), 1),
      storage.put("v", valueOfSize(131_073)),
      storage.put(many),
      storage.delete(Object.keys(many)),
      storage.get(Object.keys(many)),
      storage.put(Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`b${i}`, big]))),
      storage.put("\u0000".repeat(1000), 1), // fits 1,536 bytes, but not KV's 2,048-byte key once escaped
      storage.transaction(async (txn) => {
        for (let i = 0; i < 7; i++) await txn.put(`b${i}`, big);
      }),
    ];
    for (const attempt of attempts) await assert.rejects(attempt, RangeError);
    assert.equal(faults.atomics, 0);
    assert.deepEqual(faults.getMany, []);
  });
});

Deno.test("KvStorage.deleteAll() deletes every entry and the alarm, in as many commits as needed", async () => {
  await withKv(async ({ kv, storage, hooks, clock }) => {
    for (let batch = 0; batch < 9; batch++) {
      await storage.put(
        Object.fromEntries(Array.from({ length: 128 }, (_, i) => [`k${batch}:${i}`, i])),
      );
    }
    await storage.put({ big1: valueOfSize(131_072), big2: valueOfSize(90_000) });
    await storage.setAlarm(clock.now() + 60_000);
    assert.ok((await kv.get(["dormant", "a", "ROOM", ID])).versionstamp);
    const before = hooks.commits.length;
    await storage.deleteAll();
    const commits = hooks.commits.slice(before);
    assert.ok(commits.length >= 2, `commits: ${commits}`);
    assert.equal(commits.reduce((a, b) => a + b), 9 * 128 + 4);
    assert.deepEqual(await rawKeys(kv, ["dormant"]), []);
    assert.equal(await storage.getAlarm(), null);
  });
});

/** A storage on `wrap(kv)`, for faults that `faultyKv` cannot inject. */
async function withWrappedKv(
  fn: (kv: Deno.Kv, storage: Storage) => Promise<void>,
  wrap: (kv: Deno.Kv) => Deno.Kv,
): Promise<void> {
  await withKv(async ({ kv, hooks, alarms }) => {
    await fn(kv, kvStorage(wrap(kv), "ROOM", ID, hooks, alarms));
  });
}

// ---- deleteAll() that fails half way ------------------------------------------------------------

Deno.test("KvStorage.deleteAll() failing half way never leaves half of a value over 64 KiB", async () => {
  const bigHead = [...ROOT, "d", encoder.encode("big")];
  const sameKey = (a: Deno.KvKey, b: Deno.KvKey) =>
    a.length === b.length &&
    a.every((part, i) =>
      part instanceof Uint8Array
        ? b[i] instanceof Uint8Array && part.join() === (b[i] as Uint8Array).join()
        : part === b[i]
    );
  // Commits that delete the head of "big" fail (as a KV outage would).
  const wrap = (kv: Deno.Kv): Deno.Kv =>
    interceptKv(kv, {
      commit: (commit, calls) =>
        calls.some((c) => c.method === "delete" && sameKey(c.first as Deno.KvKey, bigHead))
          ? Promise.reject(new Error("injected"))
          : commit(),
    });
  await withWrappedKv(async (kv, storage) => {
    const big = valueOfSize(131_072);
    await storage.put("big", big);
    // 999 leftover continuations that sort before the real one, so that one listing of 1,000
    // keys holds only continuations.
    let atomic = kv.atomic();
    for (let i = 0; i < 999; i++) {
      atomic.set([...ROOT, "c", `!${String(i).padStart(4, "0")}`], new Uint8Array(1));
      if (i % 200 === 199) {
        await atomic.commit();
        atomic = kv.atomic();
      }
    }
    await atomic.commit();
    await assert.rejects(storage.deleteAll());
    // Either the whole value or nothing, never its first 64 KiB.
    const value = await storage.get("big").catch((error) => error);
    const whole = value instanceof Uint8Array && value.length === big.length &&
      value.every((byte, i) => byte === big[i]);
    assert.ok(value === undefined || whole, `read back: ${String(value).slice(0, 80)}`);
  }, wrap);
});
