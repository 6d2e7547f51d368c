/**
 * Serializes a value in V8's ValueSerializer wire format (version 15, header
 * `FF 0F`), as Deno's `node:v8` `serialize` writes it, without calling
 * `node:v8`: each `v8.serialize` call on Deno leaves native memory behind
 * until a full GC (see "Attachment codec: pure JS or node:v8" in
 * `docs/benchmarks.md`).
 *
 * Output equals `v8.serialize` byte for byte for values in V8's canonical
 * representation. V8 also writes three internal representation choices that
 * JS cannot see; there this codec writes the canonical form, which is never
 * longer, and both forms decode to the same value:
 * - an int32 value V8 holds as a heap number (a double field, a double array,
 *   a value read out of one) is `N` (9 bytes) in V8 and `I` (varint) here;
 * - a Latin-1-only string V8 keeps two-byte (a long slice of a string that
 *   had a non-Latin-1 character) is `c` in V8 and `"` here;
 * - an array without holes whose V8 elements kind is "holey" (for example any
 *   array `v8.deserialize` returns) is sparse `a` in V8 and dense `A` here.
 *
 * Supported: primitives, plain and null-prototype objects, arrays (dense and
 * sparse, extra keys), Date, RegExp, Map, Set, ArrayBuffer (also resizable),
 * every typed array, DataView, Buffer, boxed primitives, errors (subclasses
 * too), shared references and cycles. Anything else (class instances,
 * proxies, SharedArrayBuffers, detached buffers, symbols, functions, nesting
 * deeper than {@linkcode MAX_DEPTH}, …) is handed whole to `node:v8`, which
 * serializes it or throws. Platform objects (see `not_cloneable.ts`) throw a
 * `DataCloneError` naming the type, wherever they sit in the value.
 *
 * @module
 */

import { isUnsupported, T_VERSION, VERSION } from "./_wire.ts";
import { newOutput, type Output } from "./_writer.ts";
import { MAX_DEPTH, writeValue } from "./_write_value.ts";
import { v8Encode } from "./_v8_fallback.ts";

export { MAX_DEPTH };

const SMALL_BUFFER = 1024;
// One output buffer reused by every encode, sliced to the result. Measured
// on Deno 2.9.6: a fresh 64-byte buffer per call, grown by doubling, makes
// encode 1.3x slower for `{ room, n }` and 2.6x slower for a 1 KB record.
// A getter that encodes while an encode runs gets an output of its own.
let scratch: Output | null = newOutput(SMALL_BUFFER);

/**
 * Serializes `value` to the bytes `node:v8` `serialize` produces (see the
 * module doc for the three representation cases where it writes the shorter
 * canonical form). Values it does not write itself go to `node:v8`, so
 * functions and symbols throw `node:v8`'s plain `Error`; exceptions thrown by
 * getters propagate. Each call returns a fresh buffer of exactly the bytes.
 *
 * @param value The value to serialize.
 * @returns The serialized bytes.
 */
export function encode(value: unknown): Uint8Array {
  const reused = scratch;
  const w = reused ?? newOutput(64);
  scratch = null;
  w.pos = 0;
  try {
    w.out[w.pos++] = T_VERSION;
    w.out[w.pos++] = VERSION;
    writeValue(w, value, 0);
    return w.out.slice(0, w.pos);
  } catch (error) {
    if (!isUnsupported(error)) throw error;
  } finally {
    if (reused !== null) {
      w.ids.clear();
      if (w.out.length > 64 * SMALL_BUFFER) w.out = new Uint8Array(SMALL_BUFFER);
      scratch = reused;
    }
  }
  return v8Encode(value);
}
