// The behaviour of `Storage` on every `StorageBackend`: the conformance suite
// of the backend interface. Each backend's test calls storageConformance()
// with a factory; intentional gaps are passed as `skip` entries with a reason.

import assert from "node:assert/strict";
import { serialize } from "node:v8";
import type { StorageBackend } from "../../src/storage/backend.ts";
import type {
  ObjectStorage,
  StorageHooks,
  StorageTransaction,
} from "../../src/storage/object_storage.ts";
import { type AlarmBook, Storage } from "../../src/storage/storage.ts";

/** Hooks that record what a storage did with them. */
export class RecordingHooks implements StorageHooks {
  closes = 0;
  opens = 0;
  readonly commits: number[] = [];
  readonly tracked: Promise<unknown>[] = [];
  readonly inputGate: { close(): () => void } = {
    close: () => {
      this.closes++;
      let opened = false;
      return () => {
        assert.ok(!opened, "the open() returned by inputGate.close() was called twice");
        opened = true;
        this.opens++;
      };
    },
  };

  /** Closes minus opens: 0 when balanced. */
  get depth(): number {
    return this.closes - this.opens;
  }

  trackWrite(commit: Promise<unknown>): void {
    commit.catch(() => {});
    this.tracked.push(commit);
  }

  onCommit(mutations: number): void {
    this.commits.push(mutations);
  }
}

/** What a factory returns: a fresh, empty backend, its alarms and how to dispose of them. */
export interface BackendUnderTest {
  backend: StorageBackend;
  alarms?: AlarmBook;
  close(): void | Promise<void>;
}

/** Creates a fresh backend. */
export type BackendFactory = () => Promise<BackendUnderTest>;

/** Cases an implementation intentionally does not meet, with the reason. */
export interface ConformanceOptions {
  skip?: { reason: string; tests: string[] }[];
}

interface Context {
  storage: ObjectStorage;
  hooks: RecordingHooks;
}

/** A value whose `v8.serialize` form is exactly `size` bytes. */
export function valueOfSize(size: number): Uint8Array {
  let length = size;
  while (serialize(new Uint8Array(length)).byteLength > size) length--;
  const value = new Uint8Array(length).map((_, i) => i % 251);
  assert.equal(serialize(value).byteLength, size);
  return value;
}

/** Registers the shared cases of a `Storage` over the backend `name` ("KvStorage", "MemoryStorage"). */
export function storageConformance(
  name: string,
  factory: BackendFactory,
  options: ConformanceOptions = {},
): void {
  const skipped = new Set(options.skip?.flatMap((s) => s.tests) ?? []);

  function test(title: string, fn: (ctx: Context) => Promise<void>): void {
    Deno.test({
      name: `${name}${title}`,
      ignore: skipped.has(title),
      async fn() {
        const hooks = new RecordingHooks();
        const under = await factory();
        try {
          const storage = new Storage({ backend: under.backend, hooks, alarms: under.alarms });
          await fn({ storage, hooks });
          assert.equal(hooks.depth, 0, "the input gate must be balanced");
        } finally {
          await under.close();
        }
      },
    });
  }

  // ---- values and keys ------------------------------------------------------------------------

  test(".get() returns undefined for a key that was never written", async ({ storage }) => {
    assert.equal(await storage.get("nothing"), undefined);
    assert.deepEqual(await storage.get(["nothing"]), new Map());
  });

  test(".put() and .get() round-trip structured-clone values", async ({ storage }) => {
    const cyclic: { self?: unknown; n: number } = { n: 1 };
    cyclic.self = cyclic;
    const values: Record<string, unknown> = {
      map: new Map<unknown, unknown>([["a", 1], [2, { b: [3] }]]),
      set: new Set(["x", "y"]),
      date: new Date(Date.UTC(2026, 0, 2)),
      big: 2n ** 70n,
      bytes: new Uint8Array([1, 2, 3]),
      nested: { list: [1, "two", null, true], text: "héllo 😀" },
      zero: 0,
      empty: "",
      nil: null,
    };
    await storage.put(values);
    for (const [key, value] of Object.entries(values)) {
      assert.deepEqual(await storage.get(key), value);
    }
    await storage.put("cyclic", cyclic);
    const back = await storage.get<typeof cyclic>("cyclic");
    assert.equal(back?.self, back);
  });

  test(".list() rejects a bound no KV key can hold with a RangeError, before any I/O", async ({ storage }) => {
    const huge = "\0".repeat(1_500); // within 1,536 UTF-8 bytes, but NUL encodes to two bytes in a KV key
    await assert.rejects(storage.list({ start: huge }), RangeError);
    await assert.rejects(storage.list({ end: huge }), RangeError);
    await assert.rejects(storage.transaction((txn) => txn.list({ startAfter: huge })), RangeError);
    assert.deepEqual(await storage.list({ start: "\0".repeat(10) }), new Map());
  });

  test(".get() returns typed arrays with their own bytes: mutating one changes nothing stored", async ({ storage }) => {
    await storage.put("bytes", { data: new Uint8Array([1, 2, 3]), view: new Float64Array([0.5]) });
    // Read the same key twice without a write between: no cached copy may be shared.
    const first = await storage.get<{ data: Uint8Array; view: Float64Array }>("bytes");
    first!.data[0] = 99;
    first!.view[0] = 99;
    const second = await storage.get<{ data: Uint8Array; view: Float64Array }>("bytes");
    assert.deepEqual([...second!.data], [1, 2, 3]);
    assert.deepEqual([...second!.view], [0.5]);
  });

  test(".get() returns a fresh copy, and mutating a value after .put() changes nothing", async ({ storage }) => {
    const value = { list: [1] };
    const written = storage.put("k", value);
    value.list.push(2);
    await written;
    const first = await storage.get<{ list: number[] }>("k");
    assert.deepEqual(first, { list: [1] });
    first!.list.push(3);
    assert.deepEqual(await storage.get("k"), { list: [1] });
    assert.notEqual(await storage.get("k"), await storage.get("k"));
  });

  test(".put(entries) and .get(keys) work on batches, leaving out missing keys, in key order", async ({ storage, hooks }) => {
    await storage.put({ b: 2, a: 1, c: 3 });
    const map = await storage.get(["c", "missing", "a", "a"]);
    assert.deepEqual([...map], [["a", 1], ["c", 3]]);
    const commits = hooks.commits.length;
    await storage.put({});
    assert.equal(await storage.delete([]), 0);
    assert.deepEqual(await storage.get([]), new Map());
    assert.equal(hooks.commits.length, commits, "empty batches commit nothing");
  });

  test(".sync() resolves once un-awaited writes (allowUnconfirmed too) have committed; at once with none", async ({ storage, hooks }) => {
    await storage.sync();
    assert.equal(hooks.commits.length, 0);
    void storage.put("a", 1);
    void storage.put("b", 2, { allowUnconfirmed: true });
    assert.equal(hooks.commits.length, 0, "nothing committed yet");
    await storage.sync();
    assert.ok(hooks.commits.length > 0, "committed once sync() resolved");
    const committed = hooks.commits.length;
    assert.deepEqual(await storage.get(["a", "b"]), new Map([["a", 1], ["b", 2]]));
    assert.equal(hooks.commits.length, committed);
  });

  test(".delete() reports whether the key existed, and .delete(keys) how many did", async ({ storage }) => {
    await storage.put({ a: 1, b: 2 });
    assert.equal(await storage.delete("a"), true);
    assert.equal(await storage.delete("a"), false);
    assert.equal(await storage.delete(["a", "b", "c", "b"]), 1);
    assert.equal(await storage.get("b"), undefined);
  });

  test(".put() rejects functions and symbols with a DataCloneError", async ({ storage, hooks }) => {
    for (const value of [() => 1, Symbol("s"), { nested: () => 1 }]) {
      await assert.rejects(
        storage.put("k", value),
        (error) => error instanceof DOMException && error.name === "DataCloneError",
      );
    }
    assert.equal(await storage.get("k"), undefined);
    assert.equal(hooks.commits.length, 0);
  });

  test(".put() rejects undefined values and non-string keys with a TypeError", async ({ storage }) => {
    await assert.rejects(storage.put("k", undefined), TypeError);
    await assert.rejects(storage.put({ k: undefined }), TypeError);
    await assert.rejects(
      storage.put(1 as unknown as string, 1),
      /must be a string: current type is number/,
    );
    await assert.rejects(storage.get([1] as unknown as string[]), TypeError);
    await assert.rejects(storage.delete(null as unknown as string), TypeError);
  });

  test(".get() rejects keys with a lone surrogate", async ({ storage }) => {
    await assert.rejects(storage.get("\ud800"), /well-formed/);
    await assert.rejects(storage.put("a\udc00b", 1), TypeError);
  });

  // ---- limits ---------------------------------------------------------------------------------

  test(".put() rejects a key over 1536 UTF-8 bytes before writing anything", async ({ storage, hooks }) => {
    await storage.put("x".repeat(1536), 1);
    await assert.rejects(
      storage.put("é".repeat(769), 1),
      (e) =>
        e instanceof RangeError &&
        e.message === "Cannot put key as it exceeds 1536 bytes: current size is 1538",
    );
    await assert.rejects(storage.put({ ok: 1, ["y".repeat(1537)]: 2 }), RangeError);
    await assert.rejects(storage.get("y".repeat(1537)), RangeError);
    await assert.rejects(storage.list({ prefix: "y".repeat(1537) }), RangeError);
    assert.deepEqual([...(await storage.list()).keys()], ["x".repeat(1536)]);
    assert.equal(hooks.commits.length, 1);
  });

  test(".put() rejects a value over 131072 bytes and accepts exactly 131072", async ({ storage }) => {
    const max = valueOfSize(131_072);
    await storage.put("max", max);
    assert.deepEqual(await storage.get("max"), max);
    await assert.rejects(
      storage.put("over", valueOfSize(131_073)),
      (e) =>
        e instanceof RangeError &&
        e.message === "Cannot put value as it exceeds 131072 bytes: current size is 131073",
    );
    assert.equal(await storage.get("over"), undefined);
  });

  test(".put() rejects more than 128 keys per batch call", async ({ storage, hooks }) => {
    const entries = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, i]));
    await assert.rejects(storage.put(entries), /batch exceeds 128 keys: current count is 129/);
    await assert.rejects(storage.get(Object.keys(entries)), RangeError);
    await assert.rejects(storage.delete(Object.keys(entries)), RangeError);
    delete entries.k128;
    await storage.put(entries);
    assert.equal((await storage.list()).size, 128);
    assert.equal(hooks.commits.length, 1);
  });

  test(".put() rejects a batch that would exceed one KV atomic before writing anything", async ({ storage, hooks }) => {
    const big = valueOfSize(120_000);
    const entries = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`big${i}`, big]));
    await assert.rejects(
      storage.put(entries),
      /atomic commit would exceed 819200 bytes: current size is \d+/,
    );
    assert.equal((await storage.list()).size, 0);
    assert.equal(hooks.commits.length, 0);
    assert.equal(hooks.closes, 1); // only list() did I/O
  });

  test(".put() rejects only the call that makes coalesced writes exceed one KV atomic", async ({ storage, hooks }) => {
    const calls = Array.from(
      { length: 501 },
      (_, i) => storage.put(`k${String(i).padStart(3, "0")}`, i),
    );
    const results = await Promise.allSettled(calls);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 500);
    const last = results[500]!;
    assert.equal(last.status, "rejected");
    assert.match(
      String((last as PromiseRejectedResult).reason),
      /exceed 1000 mutations: current count is 1002/,
    );
    assert.deepEqual(hooks.commits, [1000]);
    assert.equal((await storage.list()).size, 500);
  });

  // ---- list -----------------------------------------------------------------------------------

  test(".list() returns keys in UTF-8 byte order", async ({ storage }) => {
    // UTF-16 order would put the surrogate pair (U+1F600) before U+FFFD.
    const keys = ["b", "a", "\ufffd", "😀", "a\u0000", "A", "", "ab", "é"];
    await storage.put(Object.fromEntries(keys.map((k) => [k, k])));
    const expected = [...keys].sort((x, y) => {
      const a = new TextEncoder().encode(x);
      const b = new TextEncoder().encode(y);
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        if (a[i] !== b[i]) return a[i]! - b[i]!;
      }
      return a.length - b.length;
    });
    assert.deepEqual(expected.slice(-2), ["\ufffd", "😀"]);
    assert.deepEqual([...(await storage.list()).keys()], expected);
    assert.deepEqual([...(await storage.list({ reverse: true })).keys()], [...expected].reverse());
  });

  test(".list() applies prefix, start, startAfter, end, reverse and limit", async ({ storage }) => {
    await storage.put({ "a": 0, "b:1": 1, "b:2": 2, "b:3": 3, "b;": 4, "c": 5 });
    const keys = async (
      o: Parameters<ObjectStorage["list"]>[0],
    ) => [...(await storage.list(o)).keys()];
    assert.deepEqual(await keys({ prefix: "b:" }), ["b:1", "b:2", "b:3"]);
    assert.deepEqual(await keys({ prefix: "b:", reverse: true, limit: 2 }), ["b:3", "b:2"]);
    assert.deepEqual(await keys({ start: "b:2" }), ["b:2", "b:3", "b;", "c"]);
    assert.deepEqual(await keys({ startAfter: "b:2" }), ["b:3", "b;", "c"]);
    assert.deepEqual(await keys({ end: "b:2" }), ["a", "b:1"]);
    assert.deepEqual(await keys({ start: "b:1", end: "c", limit: 3 }), ["b:1", "b:2", "b:3"]);
    assert.deepEqual(await keys({ prefix: "b", startAfter: "b:1", end: "b;" }), ["b:2", "b:3"]);
    assert.deepEqual(await keys({ start: "z" }), []);
    assert.deepEqual(await keys({ start: "c", end: "a" }), []);
    assert.deepEqual(await keys({ prefix: "" }), ["a", "b:1", "b:2", "b:3", "b;", "c"]);
    assert.deepEqual([...(await storage.list({ prefix: "b:", limit: 1 })).values()], [1]);
  });

  test(".list() rejects conflicting or invalid options", async ({ storage }) => {
    await assert.rejects(storage.list({ start: "a", startAfter: "b" }), TypeError);
    for (const limit of [0, -1, 1.5, NaN]) {
      await assert.rejects(storage.list({ limit }), RangeError);
    }
    await assert.rejects(storage.list({ prefix: 1 as unknown as string }), TypeError);
  });

  test(".list() sees writes issued before it", async ({ storage }) => {
    storage.put("a", 1);
    storage.delete("missing");
    const listed = storage.list();
    storage.put("b", 2);
    assert.deepEqual([...(await listed).keys()], ["a", "b"]);
  });

  // ---- coalescing and ordering ----------------------------------------------------------------

  test(".put() commits writes issued without await in one atomic", async ({ storage, hooks }) => {
    await storage.put("c", 0);
    hooks.commits.length = 0;
    const a = storage.put("a", 1);
    const b = storage.put({ b: 2 });
    const c = storage.delete("c");
    assert.equal(hooks.commits.length, 0);
    const settled: string[] = [];
    for (const [label, p] of [["a", a], ["b", b], ["c", c]] as const) {
      p.then(() => settled.push(`${label}:${hooks.commits.length}`));
    }
    assert.equal(await c, true);
    await Promise.all([a, b]);
    assert.deepEqual(hooks.commits, [6]);
    assert.deepEqual(settled, ["a:1", "b:1", "c:1"]);
  });

  test(".get() sees writes that are not committed yet", async ({ storage, hooks }) => {
    await storage.put({ gone: 1, kept: 2 });
    const commits = hooks.commits.length;
    const writes = [storage.put("new", { v: 1 }), storage.delete("gone")];
    assert.deepEqual(await storage.get("new"), { v: 1 });
    assert.equal(await storage.get("gone"), undefined);
    assert.deepEqual([...(await storage.get(["gone", "kept", "new"])).keys()], ["kept", "new"]);
    await Promise.all(writes);
    assert.equal(hooks.commits.length, commits + 1);
  });

  test(".delete() after .put() in the same turn reports the key as existing", async ({ storage }) => {
    const put = storage.put("k", 1);
    const first = storage.delete("k");
    const second = storage.delete("k");
    await put;
    assert.equal(await first, true);
    assert.equal(await second, false);
    assert.equal(await storage.get("k"), undefined);
  });

  test(" commits writes separated by an await in order, in separate atomics", async ({ storage, hooks }) => {
    await storage.put("x", 0);
    hooks.commits.length = 0;
    const first = storage.delete("x");
    await Promise.resolve();
    const second = storage.put("x", 2);
    assert.equal(await first, true);
    await second;
    assert.equal(await storage.get("x"), 2);
    assert.equal(hooks.commits.length, 2);
  });

  test(".deleteAll() removes every key and the alarm; writes issued after it survive", async ({ storage }) => {
    await storage.put({ a: 1, b: valueOfSize(100_000), c: 3 });
    await storage.setAlarm(Date.UTC(2030, 0, 1));
    storage.put("before", 1);
    const cleared = storage.deleteAll();
    const after = storage.put("after", 2);
    assert.equal(await storage.get("a"), undefined);
    assert.equal(await storage.get("after"), 2);
    await Promise.all([cleared, after]);
    assert.deepEqual([...(await storage.list())], [["after", 2]]);
    assert.equal(await storage.getAlarm(), null);
  });

  // ---- transactions ---------------------------------------------------------------------------

  test(".transaction() commits all writes together and returns the function's result", async ({ storage, hooks }) => {
    await storage.put("old", 1);
    hooks.commits.length = 0;
    const result = await storage.transaction(async (txn) => {
      await txn.put("a", 1);
      await txn.put({ b: 2 });
      assert.equal(await txn.delete("old"), true);
      assert.equal(await storage.get("a"), undefined, "not visible before commit");
      return "done";
    });
    assert.equal(result, "done");
    assert.deepEqual([...(await storage.list())], [["a", 1], ["b", 2]]);
    assert.deepEqual(hooks.commits, [6]);
  });

  test(".transaction() writes nothing when the function throws", async ({ storage, hooks }) => {
    await assert.rejects(
      storage.transaction(async (txn) => {
        await txn.put("a", 1);
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(await storage.get("a"), undefined);
    assert.equal(hooks.commits.length, 0);
  });

  test(".transaction() discards writes after rollback()", async ({ storage }) => {
    const result = await storage.transaction(async (txn) => {
      await txn.put("a", 1);
      txn.rollback();
      await assert.rejects(txn.put("b", 2), /rolled back/);
      return 7;
    });
    assert.equal(result, 7);
    assert.equal((await storage.list()).size, 0);
  });

  test(".transaction() reads its own writes, also in list()", async ({ storage }) => {
    await storage.put({ "i:1": 1, "i:2": 2, "i:3": 3 });
    await storage.transaction(async (txn) => {
      await txn.put("i:4", 4);
      assert.equal(await txn.delete("i:1"), true);
      assert.equal(await txn.delete("i:1"), false);
      assert.equal(await txn.get("i:4"), 4);
      assert.equal(await txn.get("i:1"), undefined);
      assert.deepEqual([...(await txn.get(["i:1", "i:2", "i:4"])).keys()], ["i:2", "i:4"]);
      assert.deepEqual([...(await txn.list({ prefix: "i:" })).keys()], ["i:2", "i:3", "i:4"]);
      assert.deepEqual([...(await txn.list({ prefix: "i:", limit: 2 })).keys()], ["i:2", "i:3"]);
      assert.deepEqual([...(await txn.list({ reverse: true, limit: 1 })).keys()], ["i:4"]);
    });
    assert.deepEqual([...(await storage.list()).keys()], ["i:2", "i:3", "i:4"]);
  });

  test(".transaction() reruns the function when a concurrent write changes what it read", async ({ storage }) => {
    await storage.put("n", 1);
    let attempts = 0;
    await storage.transaction(async (txn) => {
      attempts++;
      const n = (await txn.get<number>("n"))!;
      if (attempts === 1) await storage.put("n", 100); // another event's write, between read and commit
      await txn.put("n", n + 1);
    });
    assert.equal(attempts, 2);
    assert.equal(await storage.get("n"), 101);
  });

  test(".transaction() reruns when another write lands in a range it listed", async ({ storage }) => {
    await storage.put({ "item:1": 1, "item:2": 2 });
    let attempts = 0;
    await storage.transaction(async (txn) => {
      attempts++;
      const items = await txn.list({ prefix: "item:" });
      if (attempts === 1) await storage.put("item:3", 3);
      await txn.put("count", items.size);
    });
    assert.equal(attempts, 2);
    assert.equal(await storage.get("count"), 3);
  });

  test(".transaction() loses no update when concurrent transactions increment one counter", async ({ storage }) => {
    const increment = (txn: StorageTransaction) =>
      txn.get<number>("n").then(async (n) => {
        await new Promise((resolve) => setTimeout(resolve, 0)); // let the others read too
        await txn.put("n", (n ?? 0) + 1);
      });
    await Promise.all(Array.from({ length: 5 }, () => storage.transaction(increment)));
    assert.equal(await storage.get("n"), 5);
  });

  test(".transaction() refuses its transaction object once it has finished", async ({ storage }) => {
    let leaked: StorageTransaction | undefined;
    await storage.transaction(async (txn) => {
      leaked = txn;
      await txn.put("a", 1);
    });
    await assert.rejects(leaked!.put("b", 2), /has finished/);
    await assert.rejects(leaked!.get("a"), /has finished/);
    assert.equal(await storage.get("b"), undefined);
  });

  test(".transaction() applies the same limits as .put()", async ({ storage }) => {
    const big = valueOfSize(120_000);
    await assert.rejects(
      storage.transaction(async (txn) => {
        for (let i = 0; i < 7; i++) await txn.put(`big${i}`, big);
      }),
      /exceed 819200 bytes/,
    );
    assert.equal((await storage.list()).size, 0);
  });

  // ---- alarms ---------------------------------------------------------------------------------

  test(".setAlarm(), .getAlarm() and .deleteAlarm() manage one alarm", async ({ storage }) => {
    assert.equal(await storage.getAlarm(), null);
    await storage.setAlarm(Date.UTC(2030, 0, 1));
    assert.equal(await storage.getAlarm(), Date.UTC(2030, 0, 1));
    await storage.setAlarm(new Date(Date.UTC(2031, 0, 1) + 0.5));
    assert.equal(await storage.getAlarm(), Date.UTC(2031, 0, 1));
    await storage.deleteAlarm();
    assert.equal(await storage.getAlarm(), null);
    for (const bad of [NaN, Infinity, "soon", new Date("x")]) {
      await assert.rejects(storage.setAlarm(bad as number), TypeError);
    }
  });

  // ---- hooks ----------------------------------------------------------------------------------

  test(" closes the input gate during storage I/O and opens it before the caller resumes", async ({ storage, hooks }) => {
    await storage.put("k", 1);
    const read = storage.get("k");
    assert.equal(hooks.depth, 1);
    assert.equal(await read, 1);
    assert.equal(hooks.depth, 0);
    const listed = storage.list();
    assert.equal(hooks.depth, 1);
    await listed;
    // Failures keep the gate balanced too.
    await assert.rejects(
      storage.transaction(async (txn) => {
        await txn.get("k");
        throw new Error("boom");
      }),
    );
    assert.equal(hooks.depth, 0);
    // Validation errors do no I/O and never close the gate.
    const closes = hooks.closes;
    await assert.rejects(storage.put("k", () => {}));
    assert.equal(hooks.closes, closes);
    // allowConcurrency skips the gate.
    await storage.get("k", { allowConcurrency: true });
    assert.equal(hooks.closes, closes);
  });

  test(" gives trackWrite() a promise for each write as soon as it is issued", async ({ storage, hooks }) => {
    const put = storage.put("a", 1);
    storage.put("b", 2);
    assert.equal(hooks.tracked.length, 1, "one promise per atomic, given synchronously");
    await hooks.tracked[0];
    await put;
    await storage.put("c", 3, { allowUnconfirmed: true });
    assert.equal(hooks.tracked.length, 1);
    await storage.transaction(async (txn) => {
      await txn.get("a");
      assert.equal(hooks.tracked.length, 1, "reads are not tracked");
      await txn.put("d", 4);
      assert.equal(hooks.tracked.length, 2);
    });
    await hooks.tracked[1];
    await storage.setAlarm(Date.UTC(2030, 0, 1));
    assert.equal(hooks.tracked.length, 3);
  });

  test(" reports every commit's mutation count to onCommit()", async ({ storage, hooks }) => {
    await storage.put("a", 1);
    await storage.put({ b: 2, c: 3 });
    await storage.delete(["a", "b"]);
    await storage.transaction((txn) => txn.put("d", 4));
    assert.deepEqual(hooks.commits, [2, 4, 4, 2]);
  });
}
