// Keys and values of object storage: validation, structured-clone encoding and
// the UTF-8 byte order that `list()` follows. Shared by every implementation
// so the limits and error messages are identical.

import { decode } from "../structured_clone/decode.ts";
import { encode } from "../structured_clone/encode.ts";

/** Longest user key, in UTF-8 bytes (KV's 2,048 minus our prefix). */
export const MAX_KEY_BYTES = 1536;
/** Largest serialized value (Cloudflare's 128 KiB). */
export const MAX_VALUE_BYTES = 131_072;
/** Most keys per batch call (Cloudflare's limit). */
export const MAX_BATCH_KEYS = 128;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A validated key: the string and its UTF-8 bytes. */
export interface EncodedKey {
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
export function encodeKey(key: unknown, subject: string): EncodedKey {
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
export function encodeKeys(keys: readonly unknown[], verb: string): EncodedKey[] {
  checkBatchSize(keys.length, verb);
  const seen = new Map<string, EncodedKey>();
  for (const key of keys) {
    const encoded = encodeKey(key, `${verb} key`);
    if (!seen.has(encoded.key)) seen.set(encoded.key, encoded);
  }
  return [...seen.values()];
}

/** Throws if a batch call names more than 128 keys. */
export function checkBatchSize(count: number, verb: string): void {
  if (count > MAX_BATCH_KEYS) {
    throw new RangeError(
      `Cannot ${verb} keys as the batch exceeds ${MAX_BATCH_KEYS} keys: current count is ${count}`,
    );
  }
}

/** Decodes the UTF-8 bytes of a stored key. */
export function decodeKey(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * Serializes a value with structured-clone semantics, in V8's wire format
 * (the shared JS codec: `node:v8` leaks native memory per call on Deno).
 * Functions and symbols throw a plain `Error` there; the web platform calls
 * that a `DataCloneError`, so that is what callers get.
 */
export function encodeValue(value: unknown): Uint8Array {
  if (value === undefined) {
    throw new TypeError("Cannot put value as it is undefined: use delete() to remove a key");
  }
  let buffer: Uint8Array;
  try {
    buffer = encode(value);
  } catch (error) {
    throw new DOMException(
      error instanceof Error ? error.message : String(error),
      "DataCloneError",
    );
  }
  if (buffer.byteLength > MAX_VALUE_BYTES) {
    throw new RangeError(
      `Cannot put value as it exceeds ${MAX_VALUE_BYTES} bytes: current size is ${buffer.byteLength}`,
    );
  }
  // A plain view, not a Node Buffer, so nothing downstream depends on Buffer.
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Deserializes a stored value into a fresh copy (typed arrays get their own buffers). */
export function decodeValue<T>(bytes: Uint8Array): T {
  return decode(bytes) as T;
}

/** Compares byte strings lexicographically (the order of KV keys and of Cloudflare's `list`). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** A half-open range of keys in byte order; `null` bounds are open. */
export interface KeyRange {
  /** Inclusive lower bound. */
  readonly lower: Uint8Array | null;
  /** Exclusive upper bound. */
  readonly upper: Uint8Array | null;
}

/** Whether `key` lies in `range`. */
export function inRange(range: KeyRange, key: Uint8Array): boolean {
  return (range.lower === null || compareBytes(key, range.lower) >= 0) &&
    (range.upper === null || compareBytes(key, range.upper) < 0);
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
  return encodeKey(value, `list with '${name}'`).key;
}

/** A validated `list()` request. `range` is `null` when nothing can match. */
export interface ListRequest {
  readonly range: KeyRange | null;
  readonly reverse: boolean;
  readonly limit: number | undefined;
  readonly allowConcurrency: boolean;
}

/** Validates `list()` options and turns them into a byte range. */
export function parseListOptions(options: unknown): ListRequest {
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
export function alarmTime(time: unknown): number {
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
