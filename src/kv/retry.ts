/**
 * One retry policy for every Deno KV call the framework makes. A local SQLite
 * database answers "database is locked" under contention; such a call
 * succeeds when retried shortly after. Anything else fails at once.
 *
 * @module
 */

import { KvError } from "../errors.ts";
import { delay } from "../clock.ts";

/** Waits before the 1st, 2nd and 3rd retry, in milliseconds. */
const RETRY_DELAYS = [10, 40, 160];

/**
 * Longer waits for ownership bookkeeping (claims, leases): on a SQLite file
 * shared by several processes, contention is the normal case there.
 */
// About 10 s in all: three processes claiming as fast as they can on one file need it.
export const CONTENDED_RETRY_DELAYS: readonly number[] = [
  ...[2, 5, 10, 20, 40, 80, 160, 320],
  ...Array<number>(20).fill(500),
];

/** Whether a KV error is transient contention worth retrying. */
export function isTransientKvError(error: unknown): boolean {
  return error instanceof Error && /database is (locked|busy)|SQLITE_BUSY/i.test(error.message);
}

let transientRetries = 0;

/** How many transient KV errors ("database is locked") this process retried so far. */
export function transientRetryCount(): number {
  return transientRetries;
}

/**
 * Runs `fn`, retrying transient KV errors (by default up to 3 times, after
 * `delays` ms each); rethrows the last error as it is.
 */
export async function retryTransient<T>(
  fn: () => Promise<T>,
  delays: readonly number[] = RETRY_DELAYS,
): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const wait = delays[attempt];
      if (wait === undefined || !isTransientKvError(error)) throw error;
      transientRetries++;
      // Contending processes that retry in step collide again: long retry lists are jittered.
      await delay(delays === RETRY_DELAYS ? wait : wait * (0.5 + Math.random()));
    }
  }
}

/** Runs a KV call, retrying transient contention, else throws a `KvError` naming `operation`. */
export async function withRetry<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await retryTransient(fn);
  } catch (error) {
    throw new KvError(operation, error);
  }
}

/** Commits an atomic, retrying transient contention; a rejected (checked) commit is an error. */
export async function commitWithRetry(build: () => Deno.AtomicOperation): Promise<void> {
  await retryTransient(async () => {
    const result = await build().commit();
    if (!result.ok) throw new Error("atomic commit was rejected");
  });
}
