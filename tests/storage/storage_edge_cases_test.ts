// Regression tests for bugs found in the review of src/storage and src/alarms (one test per bug).
import assert from "node:assert/strict";
import { AlarmScheduler } from "../../src/alarms/alarm_scheduler.ts";
import { KvStorage } from "../../src/storage/kv_storage.ts";
import { MemoryStorage } from "../../src/storage/memory_storage.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { RecordingHooks, valueOfSize } from "../storage/_storage_conformance.ts";
import { interceptKv } from "../_intercept_kv.ts";

const ID = "a".repeat(64);
const ROOT = ["dormant", "s", "ROOM", ID];
const encoder = new TextEncoder();

/** Runs `fn` and returns the reasons of the unhandled rejections it caused. */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const reasons: unknown[] = [];
  const listener = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    reasons.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", listener);
  try {
    await fn();
    await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    globalThis.removeEventListener("unhandledrejection", listener);
  }
  return reasons;
}

async function withKv(
  fn: (kv: Deno.Kv, storage: KvStorage, hooks: RecordingHooks) => Promise<void>,
  wrap: (kv: Deno.Kv) => Deno.Kv = (kv) => kv,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const alarms = new AlarmScheduler({
    kv,
    clock: new ManualClock(),
    deliver: () => Promise.resolve(),
    onException: (error) => assert.fail(String(error)),
  });
  const hooks = new RecordingHooks();
  try {
    const storage = new KvStorage({ kv: wrap(kv), storageName: "ROOM", id: ID, hooks, alarms });
    await fn(kv, storage, hooks);
    assert.equal(hooks.depth, 0, "the input gate must be balanced");
  } finally {
    alarms.close();
    kv.close();
  }
}

// ---- a transaction's delete that is not awaited ----------------------------------------------

Deno.test("transaction() applies a txn.delete() that the function does not await", async () => {
  await withKv(async (_kv, storage) => {
    await storage.put("a", 1);
    const unhandled = await unhandledDuring(async () => {
      await storage.transaction(async (txn) => {
        txn.delete("a"); // Cloudflare records the delete at once; only its result is async
        await txn.put("b", 2);
      });
    });
    assert.deepEqual(unhandled, []);
    assert.equal(await storage.get("a"), undefined);
    assert.equal(await storage.get("b"), 2);
  });
});

// ---- setAlarm() that is not awaited ------------------------------------------------------------

Deno.test("setAlarm() that fails and is not awaited causes no unhandled rejection", async () => {
  const alarms = new AlarmScheduler({
    clock: new ManualClock(0),
    deliver: () => Promise.resolve(),
    onException: () => {},
  });
  alarms.close();
  const storage = new MemoryStorage({ alarms });
  const unhandled = await unhandledDuring(async () => {
    storage.setAlarm(1_000); // the scheduler is closed: the write fails
    storage.setAlarm(Number.NaN); // invalid time
    await Promise.resolve();
  });
  assert.deepEqual(unhandled, []);
  // Awaiting callers still get the errors.
  await assert.rejects(storage.setAlarm(1_000));
  await assert.rejects(storage.setAlarm(Number.NaN), TypeError);
});

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
  await withKv(async (kv, storage) => {
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
