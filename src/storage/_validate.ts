// Validation of the arguments of the storage API (keys, batches, `put()`
// entries, `list()` options, alarm times), before anything is read or
// written. Every backend gets the same limits and error messages.

import type { WriteOp } from "./backend.ts";
import { compareBytes, type KeyRange } from "./_key_range.ts";
import { encodeValue } from "./_values.ts";
import type { StoragePutOptions } from "./object_storage.ts";

/** Longest user key, in UTF-8 bytes (KV's 2,048 minus our prefix). */
export const MAX_KEY_BYTES = 1536;
/** Most keys per batch call (Cloudflare's limit). */
export const MAX_BATCH_KEYS = 128;

const encoder = new TextEncoder();

/** A validated key: the string and its UTF-8 bytes. */
export interface ValidKey {
  readonly key: string;
  readonly bytes: Uint8Array;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/**
 * Validates a key and returns its UTF-8 bytes. `subject` completes the
 * message: "Cannot put key as it exceeds 1536 bytes: current size is 1600".
 */
export function validateKey(key: unknown, subject: string): ValidKey {
  if (typeof key !== "string") {
    throw new TypeError(
      `Cannot ${subject} as it must be a string: current type is ${describe(key)}`,
    );
  }
  // A lone surrogate has no UTF-8 form: two different keys would collide.
  if (!key.isWellFormed()) {
    throw new TypeError(
      `Cannot ${subject} as it must be well-formed UTF-16: it contains a lone surrogate`,
    );
  }
  const bytes = encoder.encode(key);
  if (bytes.byteLength > MAX_KEY_BYTES) {
    throw new RangeError(
      `Cannot ${subject} as it exceeds ${MAX_KEY_BYTES} bytes: current size is ${bytes.byteLength}`,
    );
  }
  return { key, bytes };
}

/** Validates a batch of keys (at most 128) and removes duplicates, keeping the first. */
export function validateKeys(keys: readonly unknown[], verb: string): ValidKey[] {
  checkBatchSize(keys.length, verb);
  const seen = new Map<string, ValidKey>();
  for (const key of keys) {
    const valid = validateKey(key, `${verb} key`);
    if (!seen.has(valid.key)) seen.set(valid.key, valid);
  }
  return [...seen.values()];
}

/** Validates the argument of `get()` or `delete()`: one key, or an array of up to 128. */
export function validateKeyArg(arg: unknown, verb: string): ValidKey[] {
  return Array.isArray(arg) ? validateKeys(arg, verb) : [validateKey(arg, `${verb} key`)];
}

/** Throws if a batch call names more than 128 keys. */
export function checkBatchSize(count: number, verb: string): void {
  if (count > MAX_BATCH_KEYS) {
    throw new RangeError(
      `Cannot ${verb} keys as the batch exceeds ${MAX_BATCH_KEYS} keys: current count is ${count}`,
    );
  }
}

/** The smallest byte string greater than every string starting with `prefix`, or `null`. */
function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  let n = prefix.length;
  while (n > 0 && prefix[n - 1] === 0xff) n--;
  if (n === 0) return null;
  const end = prefix.slice(0, n);
  end[n - 1]!++;
  return end;
}

function optionalString(options: Record<string, unknown>, name: string): string | undefined {
  const value = options[name];
  if (value === undefined) return undefined;
  return validateKey(value, `list with '${name}'`).key;
}

/** A validated `list()` request. `range` is `null` when nothing can match. */
export interface ListRequest {
  readonly range: KeyRange | null;
  readonly reverse: boolean;
  readonly limit: number | undefined;
  readonly allowConcurrency: boolean;
}

/** Validates `list()` options and turns them into a byte range. */
export function validateListOptions(options: unknown): ListRequest {
  if (options === undefined || options === null) {
    return {
      range: { lower: null, upper: null },
      reverse: false,
      limit: undefined,
      allowConcurrency: false,
    };
  }
  if (typeof options !== "object") {
    throw new TypeError(
      `Cannot list as the options must be an object: current type is ${describe(options)}`,
    );
  }
  const o = options as Record<string, unknown>;
  const prefix = optionalString(o, "prefix");
  const start = optionalString(o, "start");
  const startAfter = optionalString(o, "startAfter");
  const end = optionalString(o, "end");
  if (start !== undefined && startAfter !== undefined) {
    throw new TypeError("Cannot list with both 'start' and 'startAfter': pass only one of them");
  }
  const limit = o.limit;
  if (limit !== undefined && (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1)) {
    throw new RangeError(
      `Cannot list as 'limit' must be a positive integer: current value is ${String(limit)}`,
    );
  }
  const max = (a: Uint8Array | null, b: Uint8Array) => a === null || compareBytes(b, a) > 0 ? b : a;
  const min = (a: Uint8Array | null, b: Uint8Array) => a === null || compareBytes(b, a) < 0 ? b : a;
  let lower: Uint8Array | null = null;
  let upper: Uint8Array | null = null;
  if (prefix) {
    const bytes = encoder.encode(prefix);
    lower = bytes;
    upper = prefixEnd(bytes);
  }
  if (start !== undefined) lower = max(lower, encoder.encode(start));
  if (startAfter !== undefined) {
    // The smallest key after `startAfter` is `startAfter` followed by a 0 byte.
    const bytes = encoder.encode(startAfter);
    const next = new Uint8Array(bytes.length + 1);
    next.set(bytes);
    lower = max(lower, next);
  }
  if (end !== undefined) upper = min(upper, encoder.encode(end));
  const empty = lower !== null && upper !== null && compareBytes(lower, upper) >= 0;
  return {
    range: empty ? null : { lower, upper },
    reverse: o.reverse === true,
    limit: limit as number | undefined,
    allowConcurrency: o.allowConcurrency === true,
  };
}

/** Converts `setAlarm()`'s argument to whole milliseconds since the epoch. */
export function validateAlarmTime(time: unknown): number {
  const ms = time instanceof Date ? time.getTime() : time;
  if (typeof ms !== "number" || !Number.isFinite(ms)) {
    throw new TypeError(
      `Cannot set alarm as the time must be a finite number of milliseconds or a valid Date: current value is ${
        String(time)
      }`,
    );
  }
  return Math.floor(ms);
}

/** Validates the arguments of `put()` (one key or up to 128 entries) before any write. */
export function validatePut(arg: unknown, value: unknown, options: unknown): {
  ops: WriteOp[];
  action: string;
  options: StoragePutOptions | undefined;
} {
  if (arg !== null && typeof arg === "object" && !Array.isArray(arg)) {
    const entries = Object.entries(arg);
    checkBatchSize(entries.length, "put");
    const ops = entries.map(([key, v]) => {
      const { bytes } = validateKey(key, "put key");
      return { key, keyBytes: bytes, bytes: encodeValue(v) };
    });
    return { ops, action: "put entries", options: value as StoragePutOptions | undefined };
  }
  const { key, bytes } = validateKey(arg, "put key");
  return {
    ops: [{ key, keyBytes: bytes, bytes: encodeValue(value) }],
    action: "put value",
    options: options as StoragePutOptions | undefined,
  };
}

/** The writes that delete `keys`. */
export function deleteOps(keys: readonly ValidKey[]): WriteOp[] {
  return keys.map((k) => ({ key: k.key, keyBytes: k.bytes, bytes: null }));
}
