// One instance's counts: releases report to the owner while the generation lives, and change
// nothing once it ended; its timers die with it.
import assert from "node:assert/strict";
import { Generation } from "../../src/objects/generation.ts";
import { ManualClock } from "../../src/testing/mod.ts";

function setup() {
  const log: string[] = [];
  const owner = {
    settle: () => void log.push("settle"),
    report: (error: unknown, operation: string) =>
      void log.push(`report:${operation}:${(error as Error).message}`),
  };
  const opened: Generation[] = [];
  const gen = new Generation(owner, { openGate: (g) => void opened.push(g) });
  return { gen, log, opened, clock: new ManualClock(0) };
}

Deno.test("a live generation's settled() and failed handlers count down inflight and tell the owner, naming the handler that failed", () => {
  const { gen, log } = setup();
  gen.inflight = 3;
  gen.settled();
  gen.failed.message(new Error("m"));
  gen.failed.close(new Error("c"));
  assert.equal(gen.inflight, 0);
  assert.deepEqual(log, [
    "settle",
    "report:webSocketMessage:m",
    "settle",
    "report:webSocketClose:c",
    "settle",
  ]);
  gen.inflight = 1;
  gen.failed.error(new Error("e"));
  assert.equal(log.at(-2), "report:webSocketError:e");
});

Deno.test("storageDone() counts a storage operation down and opens the gate of that generation", () => {
  const { gen, opened } = setup();
  gen.storageOps = 2;
  gen.storageDone();
  assert.equal(gen.storageOps, 1);
  assert.deepEqual(opened, [gen]);
});

Deno.test("after end(), late releases change no count and reach neither the owner nor the gate", () => {
  const { gen, log, opened, clock } = setup();
  gen.inflight = 2;
  gen.storageOps = 1;
  gen.end(clock);
  assert.equal(gen.dead, true);
  gen.settled();
  gen.failed.message(new Error("late"));
  gen.storageDone();
  assert.equal(gen.inflight, 2);
  assert.equal(gen.storageOps, 1);
  assert.deepEqual(log, []);
  assert.deepEqual(opened, []);
});

Deno.test("setTimer() fires once and forgets the timer; clearTimer() and end() stop timers before they fire", async () => {
  const { gen, clock } = setup();
  const fired: string[] = [];
  gen.setTimer(clock, 100, () => void fired.push("a"));
  const b = gen.setTimer(clock, 100, () => void fired.push("b"));
  gen.clearTimer(clock, b);
  assert.equal(gen.timers.size, 1);
  await clock.advance(100);
  assert.deepEqual(fired, ["a"]);
  assert.equal(gen.timers.size, 0);
  gen.setTimer(clock, 50, () => void fired.push("c"));
  gen.end(clock);
  assert.equal(gen.timers.size, 0);
  await clock.advance(1_000);
  assert.deepEqual(fired, ["a"]);
  assert.equal(clock.pending, 0);
});
