import { deserialize, serialize } from "node:v8";

/** workerd's current inline attachment limit (the seeds still say 2,048). */
export const DEFAULT_MAX_ATTACHMENT_BYTES = 16_384;

/**
 * Serializes an attachment with V8's structured-clone serializer and checks
 * its size. `v8.serialize` throws a plain `Error` for functions and symbols;
 * structured clone throws `DataCloneError`, which is what ported code expects.
 */
export function encodeAttachment(value: unknown, limit: number): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = serialize(value);
  } catch (error) {
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
  return deserialize(bytes);
}
