import { decode, encode } from "../objects/structured_codec.ts";

/** workerd's current inline attachment limit (its docs still say 2,048). */
export const DEFAULT_MAX_ATTACHMENT_BYTES = 16_384;

/**
 * Serializes an attachment in V8's structured-clone wire format and checks
 * its size. The bytes are `v8.serialize`'s, written in JS (see
 * `structured_codec.ts`: `node:v8` leaks native memory per call and is slow);
 * values the codec does not write itself go to `node:v8`. `v8.serialize`
 * throws a plain `Error` for functions and symbols; structured clone throws
 * `DataCloneError`, which is what ported code expects. Sockets, pair ends,
 * `Request`, `URL` and other platform objects are a `DataCloneError` naming
 * the type (the codec refuses them by prototype).
 */
export function encodeAttachment(value: unknown, limit: number): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = encode(value);
  } catch (error) {
    // The codec's own DataCloneError (a socket, a Request, …) already names the type.
    if (error instanceof DOMException) throw error;
    throw new DOMException(
      error instanceof Error ? error.message : String(error),
      "DataCloneError",
    );
  }
  if (bytes.byteLength > limit) {
    throw new RangeError(
      `Cannot serialize attachment as it exceeds ${limit} bytes: current size is ${bytes.byteLength}`,
    );
  }
  return bytes;
}

/** Returns a fresh copy of a serialized attachment. */
export function decodeAttachment(bytes: Uint8Array): unknown {
  return decode(bytes);
}
