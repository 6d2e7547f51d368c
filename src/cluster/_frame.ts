/**
 * The wire form shared by the byte-oriented transports (Redis, KV): one
 * length byte, the sender's node id in UTF-8, then the payload. Node ids are
 * checked once, in `checkNodeId`, before any side effect.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Longest node id, in UTF-8 bytes (it travels behind a one-byte length). */
export const MAX_NODE_ID_BYTES = 255;

/** The UTF-8 bytes of `node`; throws a `TypeError` unless it is a 1–255 byte string. */
export function checkNodeId(node: unknown, what = "node id"): Uint8Array {
  if (typeof node !== "string" || node.length === 0) {
    throw new TypeError(`The ${what} must be a non-empty string, got ${String(node)}`);
  }
  const bytes = encoder.encode(node);
  if (bytes.length > MAX_NODE_ID_BYTES) {
    throw new TypeError(
      `The ${what} is ${bytes.length} UTF-8 bytes long; the limit is ${MAX_NODE_ID_BYTES}: use a shorter id`,
    );
  }
  return bytes;
}

/** Throws a `TypeError` unless `bytes` is a `Uint8Array`. */
export function checkBytes(bytes: unknown): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`A transport message must be a Uint8Array, got ${typeof bytes}`);
  }
}

/** `[from.length][from][payload]` written into `out` (from byte 0); returns the frame length. */
export function frameSize(from: Uint8Array, payload: Uint8Array): number {
  return 1 + from.length + payload.length;
}

/** Writes the frame of (`from`, `payload`) into `out`, which is `frameSize` bytes long. */
export function writeFrame(out: Uint8Array, from: Uint8Array, payload: Uint8Array): Uint8Array {
  out[0] = from.length;
  out.set(from, 1);
  out.set(payload, 1 + from.length);
  return out;
}

/** The sender and payload (a view, no copy) of a frame, or `null` if it is malformed. */
export function readFrame(frame: Uint8Array): { from: string; payload: Uint8Array } | null {
  if (frame.length < 2) return null;
  const end = 1 + frame[0]!;
  if (frame[0] === 0 || end > frame.length) return null;
  return {
    from: decoder.decode(frame.subarray(1, end)),
    payload: frame.subarray(end),
  };
}
