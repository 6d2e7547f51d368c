import assert from "node:assert/strict";
import { ManualClock } from "../../src/testing/manual_clock.ts";

Deno.test("ManualClock.now starts at the given time and moves only by advance; a negative advance is a RangeError", async () => {
  const clock = new ManualClock(1_000);
  assert.equal(clock.now(), 1_000);
  await clock.advance(0);
  assert.equal(clock.now(), 1_000);
  await clock.advance(250);
  assert.equal(clock.now(), 1_250);
  await assert.rejects(clock.advance(-1), {
    name: "RangeError",
    message: "Cannot advance the clock by a negative time: -1",
  });
  assert.equal(clock.now(), 1_250);
});

Deno.test("ManualClock.advance fires due timers in due order, each at its own time, with the timers they start", async () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  const at = (name: string) => () => fired.push(`${name}@${clock.now()}`);
  clock.setTimeout(at("c"), 30);
  clock.setTimeout(at("a"), 10);
  clock.setTimeout(at("b1"), 20);
  clock.setTimeout(at("b2"), 20); // same due time: in the order they were set
  clock.setTimeout(() => {
    fired.push(`chain@${clock.now()}`);
    clock.setTimeout(at("started"), 5);
  }, 12);
  clock.setTimeout(at("late"), 31);
  await clock.advance(30);
  assert.deepEqual(fired, ["a@10", "chain@12", "started@17", "b1@20", "b2@20", "c@30"]);
  assert.equal(clock.pending, 1);
  await clock.advance(1);
  assert.equal(fired.at(-1), "late@31");
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock.clearTimeout cancels a pending timer and ignores one that fired", async () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  const kept = clock.setTimeout(() => fired.push("kept"), 10);
  const cancelled = clock.setTimeout(() => fired.push("cancelled"), 10);
  clock.clearTimeout(cancelled);
  assert.equal(clock.pending, 1);
  await clock.advance(10);
  clock.clearTimeout(kept);
  await clock.advance(100);
  assert.deepEqual(fired, ["kept"]);
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock.advance lets promises a timer starts settle before the next timer fires", async () => {
  const clock = new ManualClock(0);
  const order: string[] = [];
  clock.setTimeout(() => {
    Promise.resolve().then(() => Promise.resolve()).then(() => order.push("first's promise"));
  }, 10);
  clock.setTimeout(() => order.push("second"), 20);
  await clock.advance(20);
  assert.deepEqual(order, ["first's promise", "second"]);
});
