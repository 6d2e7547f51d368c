import assert from "node:assert/strict";
import { AlarmScheduler } from "../../src/alarms/alarm_scheduler.ts";
import type { AlarmSchedulerOptions } from "../../src/alarms/alarm_scheduler_options.ts";
import { App, DurableObject, durableObject } from "../../mod.ts";
import { DormantError } from "../../src/errors.ts";
import type { AlarmInvocationInfo } from "../../src/types.ts";
import { ManualClock } from "../../src/testing/manual_clock.ts";
import { until } from "../_helpers.ts";

const ID = "c".repeat(64);
const T0 = Date.UTC(2026, 0, 1);

interface Delivery {
  storageName: string;
  id: string;
  info: AlarmInvocationInfo;
  at: number;
  /** The object's name, when the scheduler delivered one. */
  name?: string;
}

interface Harness {
  clock: ManualClock;
  kv: Deno.Kv | undefined;
  scheduler: AlarmScheduler;
  deliveries: Delivery[];
  errors: { error: unknown; context: { namespace: string; id: string; operation: string } }[];
  /** What `deliver` does; resolves by default. */
  behaviour: (delivery: Delivery) => Promise<void>;
  /** The names `nameOf` knows, by id (a process knows the names of the objects it reached by name). */
  names: Map<string, string>;
  /** A second scheduler on the same store (a restart), sharing this harness's records. */
  restart(): AlarmScheduler;
  /** Moves the clock, then waits until the scheduler is idle. */
  advance(ms: number): Promise<void>;
}

type Mode = "KV" | "memory";

function schedulerTest(
  title: string,
  fn: (h: Harness) => Promise<void>,
  modes: Mode[] = ["KV", "memory"],
): void {
  for (const mode of modes) {
    Deno.test(`AlarmScheduler ${title} (${mode})`, async () => {
      const kv = mode === "KV" ? await Deno.openKv(":memory:") : undefined;
      const clock = new ManualClock(T0);
      const schedulers: AlarmScheduler[] = [];
      const h: Harness = {
        clock,
        kv,
        scheduler: undefined as unknown as AlarmScheduler,
        deliveries: [],
        errors: [],
        behaviour: () => Promise.resolve(),
        names: new Map(),
        restart() {
          const options: AlarmSchedulerOptions = {
            kv,
            clock,
            nameOf: (_storageName, id) => h.names.get(id),
            deliver(storageName, id, info, name) {
              const delivery: Delivery = {
                storageName,
                id,
                info,
                at: clock.now(),
                ...(name === undefined ? {} : { name }),
              };
              h.deliveries.push(delivery);
              return h.behaviour(delivery);
            },
            onException: (error, context) => void h.errors.push({ error, context }),
          };
          const scheduler = new AlarmScheduler(options);
          schedulers.push(scheduler);
          return scheduler;
        },
        async advance(ms) {
          await clock.advance(ms);
          for (const s of schedulers) await s.settled();
        },
      };
      h.scheduler = h.restart();
      try {
        await fn(h);
      } finally {
        for (const s of schedulers) {
          s.close();
          await s.settled();
        }
        assert.equal(clock.pending, 0, "no timer may outlive close()");
        kv?.close();
      }
    });
  }
}

async function ticks(n = 50): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

schedulerTest("delivers an alarm at its scheduled time, then forgets it", async (h) => {
  await h.scheduler.start();
  await h.scheduler.set("ROOM", ID, T0 + 5_000);
  assert.equal(await h.scheduler.get("ROOM", ID), T0 + 5_000);
  if (h.kv) {
    assert.deepEqual((await h.kv.get(["dormant", "a", "ROOM", ID])).value, {
      scheduledTime: T0 + 5_000,
      retryCount: 0,
      dueTime: T0 + 5_000,
    });
    assert.ok((await h.kv.get(["dormant", "ai", T0 + 5_000, "ROOM", ID])).versionstamp);
  }
  await h.advance(4_999);
  assert.equal(h.deliveries.length, 0);
  await h.advance(1);
  assert.deepEqual(h.deliveries, [{
    storageName: "ROOM",
    id: ID,
    info: { isRetry: false, retryCount: 0, scheduledTime: T0 + 5_000 },
    at: T0 + 5_000,
  }]);
  assert.equal(await h.scheduler.get("ROOM", ID), null);
  assert.equal(h.clock.pending, 0);
  if (h.kv) {
    const left = [];
    for await (const entry of h.kv.list({ prefix: ["dormant"] })) left.push(entry.key);
    assert.deepEqual(left, []);
  }
  await h.advance(60_000);
  assert.equal(h.deliveries.length, 1);
});

schedulerTest(
  "retries a failing delivery after 2 s, doubling up to 6 times, then reports it",
  async (h) => {
    const failure = new Error("handler failed");
    h.behaviour = () => Promise.reject(failure);
    await h.scheduler.start();
    const scheduledTime = T0 + 1_000;
    await h.scheduler.set("ROOM", ID, scheduledTime);
    await h.advance(1_000);
    assert.equal(h.deliveries.length, 1);
    if (h.kv) {
      const record =
        (await h.kv.get<{ retryCount: number; dueTime: number }>(["dormant", "a", "ROOM", ID]))
          .value;
      assert.equal(record?.retryCount, 1, "the retry count is persisted");
      assert.equal(record?.dueTime, scheduledTime + 2_000);
    }
    let at = scheduledTime;
    for (let retry = 1; retry <= 6; retry++) {
      const delay = 2_000 * 2 ** (retry - 1);
      await h.advance(delay - 1);
      assert.equal(h.deliveries.length, retry, `retry ${retry} must not come early`);
      await h.advance(1);
      at += delay;
      assert.deepEqual(h.deliveries.at(-1), {
        storageName: "ROOM",
        id: ID,
        info: { isRetry: true, retryCount: retry, scheduledTime },
        at,
      });
    }
    assert.deepEqual(h.errors, [{
      error: failure,
      context: { namespace: "ROOM", id: ID, operation: "alarm" },
    }]);
    assert.equal(await h.scheduler.get("ROOM", ID), null);
    assert.equal(h.clock.pending, 0);
    await h.advance(600_000);
    assert.equal(h.deliveries.length, 7);
  },
);

schedulerTest(
  "returns the scheduled time while a retry is pending and null while delivering",
  async (h) => {
    let during: number | null | undefined;
    h.behaviour = async () => {
      during = await h.scheduler.get("ROOM", ID);
      throw new Error("again");
    };
    await h.scheduler.start();
    await h.scheduler.set("ROOM", ID, T0 + 10);
    await h.advance(10);
    assert.equal(during, null);
    assert.equal(await h.scheduler.get("ROOM", ID), T0 + 10);
  },
);

schedulerTest("delivers overdue alarms right after start() of a new scheduler", async (h) => {
  await h.scheduler.start();
  await h.scheduler.set("ROOM", ID, T0 + 1_000);
  await h.scheduler.set("ROOM", "d".repeat(64), T0 + 90_000);
  h.scheduler.close();
  await h.advance(5_000); // the process is down: nothing fires
  assert.equal(h.deliveries.length, 0);
  const next = h.restart();
  await next.start();
  await next.settled();
  assert.deepEqual(h.deliveries.map((d) => [d.id, d.info, d.at]), [
    [ID, { isRetry: false, retryCount: 0, scheduledTime: T0 + 1_000 }, T0 + 5_000],
  ]);
  await h.advance(85_000);
  assert.equal(h.deliveries.length, 2);
  assert.equal(h.deliveries[1]!.id, "d".repeat(64));
}, ["KV"]);

schedulerTest("keeps the retry count across a restart", async (h) => {
  h.behaviour = () => Promise.reject(new Error("down"));
  await h.scheduler.start();
  await h.scheduler.set("ROOM", ID, T0 + 1_000);
  await h.advance(1_000);
  h.scheduler.close();
  await h.advance(10_000);
  h.behaviour = () => Promise.resolve();
  const next = h.restart();
  await next.start();
  await next.settled();
  assert.deepEqual(h.deliveries.map((d) => d.info), [
    { isRetry: false, retryCount: 0, scheduledTime: T0 + 1_000 },
    { isRetry: true, retryCount: 1, scheduledTime: T0 + 1_000 },
  ]);
  assert.equal(await next.get("ROOM", ID), null);
}, ["KV"]);

schedulerTest(
  "keeps the object's name with its alarm: a restarted scheduler delivers it, and its retries",
  async (h) => {
    h.behaviour = () => Promise.reject(new Error("down"));
    h.names.set(ID, "lobby");
    await h.scheduler.start();
    await h.scheduler.set("ROOM", ID, T0 + 1_000);
    await h.scheduler.set("ROOM", "d".repeat(64), T0 + 1_000); // an object made without a name
    await h.advance(1_000);
    h.scheduler.close();
    h.names.clear(); // a new process has reached no object by name yet
    h.behaviour = () => Promise.resolve();
    const next = h.restart();
    await next.start();
    await h.advance(2_000);
    // Deliveries of different objects run concurrently: compare them in a fixed order.
    const seen = h.deliveries.map((d) => [d.info.retryCount, d.id[0], d.name]).sort((a, b) =>
      String(a.slice(0, 2)).localeCompare(String(b.slice(0, 2)))
    );
    assert.deepEqual(seen, [
      [0, "c", "lobby"],
      [0, "d", undefined],
      [1, "c", "lobby"],
      [1, "d", undefined],
    ]);
  },
  ["KV"],
);

schedulerTest(
  "set() by a process that does not know the object's name keeps the stored name",
  async (h) => {
    h.names.set(ID, "lobby");
    await h.scheduler.start();
    await h.scheduler.set("ROOM", ID, T0 + 5_000);
    h.scheduler.close();
    h.names.clear();
    const next = h.restart();
    await next.start();
    await next.set("ROOM", ID, T0 + 1_000);
    await h.advance(1_000);
    assert.deepEqual(h.deliveries.map((d) => [d.info.scheduledTime, d.name]), [
      [T0 + 1_000, "lobby"],
    ]);
  },
  ["KV"],
);

schedulerTest(
  "does nothing before start() and delivers what is overdue once started",
  async (h) => {
    await h.scheduler.set("ROOM", ID, T0 - 5_000);
    await h.advance(1_000);
    assert.equal(h.deliveries.length, 0);
    assert.equal(h.clock.pending, 0);
    await h.scheduler.start();
    await h.scheduler.settled();
    assert.deepEqual(h.deliveries.map((d) => d.info.scheduledTime), [T0 - 5_000]);
  },
);

schedulerTest("set() replaces the object's alarm", async (h) => {
  await h.scheduler.start();
  await h.scheduler.set("ROOM", ID, T0 + 1_000);
  await h.scheduler.set("ROOM", ID, T0 + 3_000);
  assert.equal(await h.scheduler.get("ROOM", ID), T0 + 3_000);
  if (h.kv) {
    const index = [];
    for await (const entry of h.kv.list({ prefix: ["dormant", "ai"] })) index.push(entry.key);
    assert.deepEqual(index, [["dormant", "ai", T0 + 3_000, "ROOM", ID]]);
  }
  await h.advance(1_000);
  assert.equal(h.deliveries.length, 0);
  await h.advance(2_000);
  assert.deepEqual(h.deliveries.map((d) => d.info.scheduledTime), [T0 + 3_000]);
});

schedulerTest("delete() cancels the object's alarm", async (h) => {
  await h.scheduler.start();
  await h.scheduler.set("ROOM", ID, T0 + 1_000);
  await h.scheduler.delete("ROOM", ID);
  await h.scheduler.delete("ROOM", ID); // deleting nothing is fine
  await h.scheduler.settled();
  assert.equal(await h.scheduler.get("ROOM", ID), null);
  assert.equal(h.clock.pending, 0);
  await h.advance(10_000);
  assert.equal(h.deliveries.length, 0);
});

schedulerTest("arms one timer, for the nearest alarm", async (h) => {
  await h.scheduler.start();
  await h.scheduler.set("B", ID, T0 + 2_000);
  await h.scheduler.set("A", ID, T0 + 1_000);
  await h.scheduler.set("C", ID, T0 + 1_000);
  await h.scheduler.settled();
  assert.equal(h.clock.pending, 1);
  await h.advance(1_000);
  // Objects due at the same time are delivered concurrently, in no set order.
  assert.deepEqual(h.deliveries.map((d) => d.storageName).sort(), ["A", "C"]);
  assert.equal(h.clock.pending, 1);
  await h.advance(1_000);
  assert.deepEqual(h.deliveries.map((d) => d.storageName).at(-1), "B");
});

schedulerTest("works with delays longer than 2^31 - 1 ms", async (h) => {
  await h.scheduler.start();
  const far = T0 + 2 ** 31 + 5_000;
  await h.scheduler.set("ROOM", ID, far);
  await h.advance(2 ** 31 + 4_999);
  assert.equal(h.deliveries.length, 0);
  await h.advance(1);
  assert.deepEqual(h.deliveries.map((d) => [d.info.scheduledTime, d.at]), [[far, far]]);
});

schedulerTest("close() clears its timer and nothing fires afterwards", async (h) => {
  await h.scheduler.start();
  await h.scheduler.set("ROOM", ID, T0 + 1_000);
  await h.scheduler.settled();
  assert.equal(h.clock.pending, 1);
  h.scheduler.close();
  h.scheduler.close();
  assert.equal(h.clock.pending, 0);
  await h.advance(10_000);
  assert.equal(h.deliveries.length, 0);
  await assert.rejects(h.scheduler.set("ROOM", ID, T0), DormantError);
  await assert.rejects(h.scheduler.start(), DormantError);
});

schedulerTest("keeps an alarm set again during its delivery", async (h) => {
  h.behaviour = async (d) => {
    if (d.info.scheduledTime === T0 + 1_000) await h.scheduler.set("ROOM", ID, T0 + 6_000);
  };
  await h.scheduler.start();
  await h.scheduler.set("ROOM", ID, T0 + 1_000);
  await h.advance(1_000);
  assert.equal(await h.scheduler.get("ROOM", ID), T0 + 6_000);
  await h.advance(5_000);
  assert.deepEqual(h.deliveries.map((d) => d.info.scheduledTime), [T0 + 1_000, T0 + 6_000]);
  assert.equal(await h.scheduler.get("ROOM", ID), null);
});

schedulerTest("runs at most one delivery per object at a time", async (h) => {
  const first = Promise.withResolvers<void>();
  let active = 0;
  let maxActive = 0;
  h.behaviour = async (d) => {
    active++;
    maxActive = Math.max(maxActive, active);
    if (d.info.scheduledTime === T0 + 1_000) await first.promise;
    active--;
  };
  await h.scheduler.start();
  await h.scheduler.set("ROOM", ID, T0 + 1_000);
  await h.clock.advance(1_000);
  await ticks();
  assert.equal(h.deliveries.length, 1);
  await h.scheduler.set("ROOM", ID, T0 + 1_000 - 1); // due now, while the first delivery runs
  assert.equal(await h.scheduler.get("ROOM", ID), T0 + 999);
  await ticks();
  assert.equal(h.deliveries.length, 1, "no second delivery while the first runs");
  first.resolve();
  await h.scheduler.settled();
  assert.deepEqual(h.deliveries.map((d) => d.info.scheduledTime), [T0 + 1_000, T0 + 999]);
  assert.equal(maxActive, 1);
});

schedulerTest("validates its arguments", async (h) => {
  await assert.rejects(h.scheduler.set("ROOM", ID, NaN), TypeError);
  await assert.rejects(h.scheduler.set("", ID, T0), TypeError);
  await assert.rejects(h.scheduler.get("ROOM", ""), TypeError);
});

// ---- through an app ---------------------------------------------------------------------------------

Deno.test("an alarm set by a named object sees ctx.id.name when a new app on the same KV file delivers it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dormant_alarm_name_" });
  const kvPath = `${dir}/app.sqlite3`;
  const seen: Array<string | undefined> = [];
  @durableObject({ name: "reminders" })
  class Reminder extends DurableObject {
    arm(at: number): Promise<void> {
      return this.ctx.storage.setAlarm(at);
    }
    alarm(): void {
      seen.push(this.ctx.id.name);
    }
  }
  const objects = { REMINDER: Reminder };
  const exceptions: unknown[] = [];
  const onException = (error: unknown) => void exceptions.push(error);
  try {
    const first = new App({ objects, kvPath, clock: new ManualClock(T0), onException });
    await first.env.REMINDER.getByName("lobby").arm(T0 + 60_000);
    await first.shutdown();
    const clock = new ManualClock(T0);
    await using second = new App({ objects, kvPath, clock, onException });
    await second.ready();
    await clock.advance(60_000);
    await until(() => seen.length > 0, "the alarm");
    assert.deepEqual(seen, ["lobby"]);
    assert.deepEqual(exceptions, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
