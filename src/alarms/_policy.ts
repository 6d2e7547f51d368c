// The alarm scheduler's rules: retry counts and delays, and the checks and
// record helpers shared by its public calls.

import type { AlarmRecord } from "./_alarm_store.ts";

/** Retries after a failed delivery (Cloudflare's figure). */
export const MAX_RETRIES = 6;
/** Delay before the first retry; it doubles each time (2 s, 4 s, … 64 s). */
export const FIRST_RETRY_MS = 2000;
/** Pause before an object whose bookkeeping failed in KV is looked at again. */
export const HOLD_MS = 2000;
/** Compare-and-set attempts of `set()`/`delete()`. */
export const MAX_WRITE_ATTEMPTS = 10;

/** The in-memory key of an object's alarm. */
export function objectKey(storageName: string, id: string): string {
  return `${storageName}\0${id}`;
}

/** The record with `name` when there is one (no `name: undefined` key is stored). */
export function withName(record: AlarmRecord, name: string | undefined): AlarmRecord {
  if (name === undefined) return record;
  const { scheduledTime, retryCount, dueTime } = record;
  return { scheduledTime, retryCount, dueTime, name };
}

/** Checks the object an alarm call names, before anything is read or written. */
export function checkObject(storageName: unknown, id: unknown, verb: string): void {
  if (
    typeof storageName !== "string" || storageName === "" || typeof id !== "string" || id === ""
  ) {
    throw new TypeError(
      `Cannot ${verb} alarm as the storage name and id must be non-empty strings`,
    );
  }
}
