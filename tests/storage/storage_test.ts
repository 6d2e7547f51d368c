// What `Storage` adds to every backend: default hooks, the alarm without and
// with a scheduler, and no unhandled rejection from writes nobody awaits.
// The shared behaviour on each backend is in _storage_conformance.ts.
import assert from "node:assert/strict";
import { AlarmScheduler } from "../../src/alarms/alarm_scheduler.ts";
import { KvBackend } from "../../src/storage/kv_backend.ts";
import { MemoryBackend } from "../../src/storage/memory_backend.ts";
import type { AlarmInvocationInfo } from "../../src/types.ts";
import { Storage } from "../../src/storage/storage.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { RecordingHooks } from "./_storage_conformance.ts";

const ID = "a".repeat(64);

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
  fn: (kv: Deno.Kv, storage: Storage, hooks: RecordingHooks) => Promise<void>,
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
    const storage = new Storage({ backend: new KvBackend(kv, "ROOM", ID), hooks, alarms });
    await fn(kv, storage, hooks);
    assert.equal(hooks.depth, 0, "the input gate must be balanced");
  } finally {
    alarms.close();
    kv.close();
  }
}

// ---- defaults and alarms ------------------------------------------------------------------------

Deno.test("MemoryStorage works without hooks or a scheduler", async () => {
  const storage = new Storage({ backend: new MemoryBackend() });
  await storage.put("a", 1);
  await storage.setAlarm(5);
  assert.equal(await storage.get("a"), 1);
  assert.equal(await storage.getAlarm(), 5);
});

Deno.test("MemoryStorage delivers its alarm through a scheduler", async () => {
  const clock = new ManualClock(0);
  const delivered: [string, string, AlarmInvocationInfo][] = [];
  const alarms = new AlarmScheduler({
    clock,
    deliver: (storageName, id, info) =>
      Promise.resolve(void delivered.push([storageName, id, info])),
    onException: (error) => assert.fail(String(error)),
  });
  try {
    await alarms.start();
    const storage = new Storage({ backend: new MemoryBackend("ROOM", "b".repeat(64)), alarms });
    await storage.setAlarm(1_000);
    assert.equal(await alarms.get("ROOM", "b".repeat(64)), 1_000);
    await clock.advance(1_000);
    await alarms.settled();
    assert.deepEqual(delivered, [["ROOM", "b".repeat(64), {
      isRetry: false,
      retryCount: 0,
      scheduledTime: 1_000,
    }]]);
    assert.equal(await storage.getAlarm(), null);
  } finally {
    alarms.close();
  }
});

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
  const storage = new Storage({ backend: new MemoryBackend(), alarms });
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
