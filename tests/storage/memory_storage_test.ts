import assert from "node:assert/strict";
import { AlarmScheduler } from "../../src/alarms/alarm_scheduler.ts";
import { MemoryStorage } from "../../src/storage/memory_storage.ts";
import type { AlarmInvocationInfo } from "../../src/storage/object_storage.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { storageConformance } from "./_storage_conformance.ts";

// No intentional differences: MemoryStorage passes every shared case.
storageConformance(
  "MemoryStorage",
  (hooks) => Promise.resolve({ storage: new MemoryStorage({ hooks }), close() {} }),
);

Deno.test("MemoryStorage works without hooks or a scheduler", async () => {
  const storage = new MemoryStorage();
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
    const storage = new MemoryStorage({ alarms, storageName: "ROOM", id: "b".repeat(64) });
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
