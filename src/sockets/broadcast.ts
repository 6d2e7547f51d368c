/**
 * What a broadcast sends: the message once, checked and copied at the call,
 * then handed unchanged to every matching socket's normal send path.
 *
 * @module
 */

/** What `broadcast()` accepts, as `WebSocket.send()` does. */
export type BroadcastMessage = string | ArrayBuffer | ArrayBufferView;

/** A broadcast message ready for every socket: text, or one private copy of the bytes. */
export type BroadcastPayload = string | ArrayBuffer;

/**
 * Checks `message` and prepares it once for all sockets: text as is (Deno
 * writes each text frame itself), bytes copied once into an `ArrayBuffer` of
 * their own, so a caller that reuses its buffer after the call cannot change
 * what sockets still waiting behind an output gate or the pre-open queue get.
 *
 * @param message A string, an `ArrayBuffer` or an `ArrayBufferView`.
 * @returns The payload every socket is sent.
 * @throws {TypeError} If `message` is anything else.
 *
 * @example Bytes are copied once
 * ```ts
 * import { broadcastPayload } from "./broadcast.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = new Uint8Array([1, 2, 3]);
 * const payload = broadcastPayload(bytes.subarray(1)) as ArrayBuffer;
 * bytes[1] = 9;
 * assert.deepEqual([...new Uint8Array(payload)], [2, 3]);
 * assert.equal(broadcastPayload("hi"), "hi");
 * ```
 */
export function broadcastPayload(message: BroadcastMessage): BroadcastPayload {
  if (typeof message === "string") return message;
  if (message instanceof ArrayBuffer) return message.slice(0);
  if (ArrayBuffer.isView(message)) {
    return new Uint8Array(message.buffer, message.byteOffset, message.byteLength).slice().buffer;
  }
  const type = message === null ? "null" : typeof message;
  throw new TypeError(
    `Cannot broadcast as the message must be a string, an ArrayBuffer or an ArrayBufferView: current type is ${type}`,
  );
}

/**
 * Checks a broadcast's `tag` option: absent, or a string.
 *
 * @param tag The option as given.
 * @returns The tag, or `undefined` for every socket.
 * @throws {TypeError} If `tag` is neither `undefined` nor a string.
 *
 * @example Usage
 * ```ts
 * import { broadcastTag } from "./broadcast.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(broadcastTag("room:a"), "room:a");
 * assert.equal(broadcastTag(undefined), undefined);
 * assert.throws(() => broadcastTag(1), TypeError);
 * ```
 */
export function broadcastTag(tag: unknown): string | undefined {
  if (tag === undefined || typeof tag === "string") return tag;
  throw new TypeError(
    `Cannot broadcast as the tag must be a string: current type is ${
      tag === null ? "null" : typeof tag
    }`,
  );
}
