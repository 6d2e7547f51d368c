/**
 * Reads V8's ValueSerializer wire format, as written by `encode` or by
 * `node:v8` `serialize`, without calling `node:v8` for what either writes.
 * A well-formed tag it does not read (V8's own typed-array encoding, shared
 * buffers, …) goes to `v8.deserialize`. Bytes that break the format throw a
 * `DataCloneError` that says what broke and where; no error is swallowed.
 *
 * @module
 */

import { getPrototypeOf } from "./_intrinsics.ts";
import { type Input, malformed, readByte, readVarint } from "./_reader.ts";
import { readValue } from "./_read_value.ts";
import { v8Decode } from "./_v8_fallback.ts";
import { isUnsupported, T_VERSION, UNSUPPORTED, VERSION } from "./_wire.ts";

/**
 * Reads bytes written by `encode` or by `node:v8` `serialize`. Each call
 * returns fresh objects; typed arrays get their own buffer.
 *
 * @param bytes The serialized bytes.
 * @returns The value.
 * @throws {DOMException} `DataCloneError` for bytes that are not a serialized value.
 */
export function decode(bytes: Uint8Array): unknown {
  // A plain view: a Buffer's own subarray() is slow.
  const input = getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r: Input = { input, at: 0, objects: [] };
  try {
    if (readByte(r) !== T_VERSION) throw malformed(r, "no V8 serialization header");
    // Older versions are V8's to read.
    if (readVarint(r) !== VERSION) throw UNSUPPORTED;
    return readValue(r);
  } catch (error) {
    if (!isUnsupported(error)) throw error;
  }
  return v8Decode(bytes);
}
