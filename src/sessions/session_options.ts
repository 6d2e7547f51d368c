/**
 * The bounds of the replay log and the resume window of resumable sessions,
 * with their defaults, checked once at `new App()`.
 *
 * @module
 */

/** Options of resumable sessions (`new App({ sessions })`): the replay log's bounds and the resume window. */
export interface SessionOptions {
  /** Log entries kept per object (a broadcast stored once counts once). Default 1,000. */
  readonly maxMessages?: number;
  /** Payload bytes kept per object. Default 1 MiB. */
  readonly maxBytes?: number;
  /** Age of the oldest entry kept, in milliseconds. Default 120,000 (2 minutes). */
  readonly maxAgeMs?: number;
  /** How long a session whose connection dropped waits for its client, in milliseconds. Default 120,000. */
  readonly resumeWindowMs?: number;
  /**
   * Extra wait before a log commit, in milliseconds. Default 0: a commit
   * starts once the current task ends and takes everything sent meanwhile;
   * what is sent while it runs goes into the next one (group commit).
   */
  readonly commitDelayMs?: number;
}

/** The options with every default applied. */
export type SessionSettings = Required<SessionOptions>;

/** The defaults. */
export const SESSION_DEFAULTS: SessionSettings = Object.freeze({
  maxMessages: 1_000,
  maxBytes: 1024 * 1024,
  maxAgeMs: 120_000,
  resumeWindowMs: 120_000,
  commitDelayMs: 0,
});

/**
 * Checks `options` and applies the defaults.
 *
 * @param options The app's `sessions` option.
 * @returns Every setting.
 * @throws {TypeError} If `options` is not an object.
 * @throws {RangeError} If a setting is not a number in its range.
 *
 * @example Defaults
 * ```ts
 * import { resolveSessionOptions } from "./session_options.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(resolveSessionOptions({ maxMessages: 10 }).maxMessages, 10);
 * assert.equal(resolveSessionOptions(undefined).resumeWindowMs, 120_000);
 * assert.throws(() => resolveSessionOptions({ maxBytes: 0 }), RangeError);
 * ```
 */
export function resolveSessionOptions(options: SessionOptions | undefined): SessionSettings {
  if (options === undefined) return SESSION_DEFAULTS;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot use sessions as it must be an object of options: current value is ${options}`,
    );
  }
  const out = { ...SESSION_DEFAULTS };
  for (const key of Object.keys(SESSION_DEFAULTS) as (keyof SessionSettings)[]) {
    const value = options[key];
    if (value === undefined) continue;
    const min = key === "commitDelayMs" ? 0 : 1;
    if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
      throw new RangeError(
        `Cannot use sessions.${key} as it must be a number ≥ ${min}: current value is ${value}`,
      );
    }
    out[key] = value;
  }
  return out;
}
