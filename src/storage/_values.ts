// Values of object storage: structured-clone copies in V8's wire format, at
// most 128 KiB serialized.

import { decode, encode } from "../objects/structured_codec.ts";
import { sortEntries } from "./_key_range.ts";

/** Largest serialized value (Cloudflare's 128 KiB). */
export const MAX_VALUE_BYTES = 131_072;

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

/** An entry a read found: key bytes, key and serialized value. */
export type FoundEntry = [Uint8Array, string, Uint8Array];

/** What `get()` resolves to: the value of its one key, or the keys found and their values in key order. */
export function getResult(found: FoundEntry[], many: boolean): unknown {
  if (!many) return found[0] ? decodeValue(found[0][2]) : undefined;
  return new Map(sortEntries(found).map(([, key, bytes]) => [key, decodeValue(bytes)]));
}
