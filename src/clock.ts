/**
 * The one place that reads the time and starts timers. Everything that waits
 * (hibernation, event timeouts, write-behind, alarms) goes through a
 * {@linkcode Clock}, so tests drive idle time with a manual clock instead of
 * sleeping.
 *
 * @module
 */

/** A timer handle returned by {@linkcode Clock.setTimeout}. */
export interface ClockTimer {
  /** Opaque; only meaningful to the clock that created it. */
  readonly id: number;
}

/** Options of {@linkcode Clock.setTimeout}. */
export interface TimerOptions {
  /**
   * Whether the pending timer keeps the process alive. The framework's timers
   * are background work (hibernation, event timeouts, alarms, the lease beat)
   * and do not, so a process whose server stopped can exit; only work that
   * must finish first (the KV write-behind) passes `true`.
   * @default false
   */
  readonly keepAlive?: boolean;
}

/** Time source and timer factory used by every part of the framework. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Calls `callback` once, `ms` milliseconds from now (any length, also beyond
   * 2³¹−1 ms). A real clock lets the process exit while the timer is pending
   * unless `options.keepAlive` is true; a manual clock may ignore `options`.
   */
  setTimeout(callback: () => void, ms: number, options?: TimerOptions): ClockTimer;
  /** Cancels a timer; unknown or already fired timers are ignored. */
  clearTimeout(timer: ClockTimer): void;
}

// setTimeout clamps delays above 2^31-1 ms to 1 ms, so long timers are chained.
const MAX_DELAY = 2 ** 31 - 1;

/**
 * The real clock: `Date.now()` and the runtime's timers, unreferenced
 * (`Deno.unrefTimer`) unless `keepAlive` is set.
 *
 * @example Usage
 * ```ts
 * import { systemClock } from "./clock.ts";
 * import assert from "node:assert/strict";
 *
 * const t = systemClock.setTimeout(() => {}, 1000);
 * systemClock.clearTimeout(t);
 * assert.ok(systemClock.now() > 0);
 * ```
 */
export const systemClock: Clock = (() => {
  const handles = new Map<number, ReturnType<typeof setTimeout>>();
  let next = 1;
  function arm(id: number, callback: () => void, due: number, keepAlive: boolean): void {
    const delay = Math.max(0, due - Date.now());
    const handle = setTimeout(() => {
      if (due - Date.now() > 0) return arm(id, callback, due, keepAlive);
      handles.delete(id);
      callback();
    }, Math.min(delay, MAX_DELAY));
    // A pending referenced timer keeps Deno's event loop alive: the 30 s lease beat
    // alone kept a `deno serve` process running after its server shut down on Ctrl-C.
    if (!keepAlive) Deno.unrefTimer(handle);
    handles.set(id, handle);
  }
  return {
    now: () => Date.now(),
    setTimeout(callback: () => void, ms: number, options?: TimerOptions): ClockTimer {
      const id = next++;
      arm(id, callback, Date.now() + Math.max(0, ms), options?.keepAlive === true);
      return { id };
    },
    clearTimeout(timer: ClockTimer): void {
      const handle = handles.get(timer.id);
      if (handle !== undefined) {
        clearTimeout(handle);
        handles.delete(timer.id);
      }
    },
  };
})();

/**
 * Runs `fn` on the next macrotask: after every pending promise continuation.
 * Used to reopen an object's input gate only once the code that awaited
 * storage has continued (workerd delivers the next event from its event loop).
 */
export function nextTask(fn: () => void): void {
  setTimeout(fn, 0);
}

/** Waits `ms` of real time (short retry backoffs against I/O contention only). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
