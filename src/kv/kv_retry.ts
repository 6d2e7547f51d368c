/**
 * One retry policy for every Deno KV call the framework makes. A local SQLite
 * database answers "database is locked" under contention (deno-platform
 * §1.7); such a call succeeds when retried shortly after. Anything else fails
 * at once.
 *
 * @module
 */

import { delay } from "../runtime/clock.ts";

/** Waits before the 1st, 2nd and 3rd retry, in milliseconds. */
const RETRY_DELAYS = [10, 40, 160];

/** Whether a KV error is transient contention worth retrying. */
export function isTransientKvError(error: unknown): boolean {
  return error instanceof Error && /database is (locked|busy)|SQLITE_BUSY/i.test(error.message);
}

/** Runs `fn`, retrying transient KV errors up to 3 times; rethrows the last error as it is. */
export async function retryTransient<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const wait = RETRY_DELAYS[attempt];
      if (wait === undefined || !isTransientKvError(error)) throw error;
      await delay(wait);
    }
  }
}
