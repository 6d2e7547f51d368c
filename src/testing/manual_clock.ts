import type { Clock, ClockTimer } from "../clock.ts";

interface Pending {
  id: number;
  due: number;
  callback: () => void;
}

/**
 * A {@linkcode Clock} that only moves when told to. Timers fire, in due
 * order, during {@linkcode ManualClock.advance}; promises started by a timer
 * get a chance to settle before the next one fires.
 *
 * @example Drive an idle timer
 * ```ts
 * import { ManualClock } from "@dormant/dormant/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock(1_000);
 * let fired = false;
 * clock.setTimeout(() => fired = true, 10_000);
 * await clock.advance(9_999);
 * assert.equal(fired, false);
 * await clock.advance(1);
 * assert.equal(fired, true);
 * assert.equal(clock.now(), 11_000);
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #next = 1;
  #timers: Pending[] = [];

  /**
   * Creates the instance.
   *
   * @param start The initial time in milliseconds since the epoch. Defaults
   * to the real time when the clock is made, so objects that call
   * `Date.now()` (as Cloudflare code does, e.g. for `setAlarm`) agree with it.
   */
  constructor(start: number = Date.now()) {
    this.#now = start;
  }

  /** The current (manual) time. */
  now(): number {
    return this.#now;
  }

  /** Schedules `callback` at `now() + ms`. */
  setTimeout(callback: () => void, ms: number): ClockTimer {
    const id = this.#next++;
    this.#timers.push({ id, due: this.#now + Math.max(0, ms), callback });
    return { id };
  }

  /** Cancels a pending timer. */
  clearTimeout(timer: ClockTimer): void {
    this.#timers = this.#timers.filter((t) => t.id !== timer.id);
  }

  /** How many timers are pending. */
  get pending(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, firing every timer that comes due on the way
   * (including timers those timers start), each at its own due time.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`Cannot advance the clock by a negative time: ${ms}`);
    const end = this.#now + ms;
    while (true) {
      await settle();
      const due = this.#timers.filter((t) =>
        t.due <= end
      ).sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.due);
      due.callback();
    }
    this.#now = end;
    await settle();
  }
}

// Lets promise chains and I/O callbacks started by a timer run before the next one.
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setTimeout(resolve, 0));
}
