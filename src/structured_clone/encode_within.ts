import { encode } from "./encode.ts";

/**
 * Serializes `value` as {@linkcode encode} does and checks the size: what an
 * attachment and a stored value both need. Any failure to clone is a
 * `DataCloneError` (the codec's own already names the type; `node:v8` throws a
 * plain `Error` for functions and symbols, which ported code does not expect).
 *
 * @param value The value to serialize.
 * @param limit The largest allowed size, in serialized bytes.
 * @param action What the caller was doing, for the message (`"put value"`).
 * @returns The serialized bytes.
 * @throws {DOMException} `DataCloneError` if the value cannot be cloned.
 * @throws {RangeError} If the serialized value is larger than `limit`.
 */
export function encodeWithin(value: unknown, limit: number, action: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = encode(value);
  } catch (error) {
    if (error instanceof DOMException) throw error;
    throw new DOMException(
      error instanceof Error ? error.message : String(error),
      "DataCloneError",
    );
  }
  if (bytes.byteLength > limit) {
    throw new RangeError(
      `Cannot ${action} as it exceeds ${limit} bytes: current size is ${bytes.byteLength}`,
    );
  }
  return bytes;
}
