/**
 * The bridge's wire format: every message between two nodes is one byte of
 * kind, then its body. Requests and replies (fetch, RPC, alarm, broadcast,
 * connect) carry a correlation id and a structured-clone body; socket
 * traffic travels as batches of small binary ops (a send to a list of
 * sockets, a frame with its sequence number, an ack, a close), so a
 * broadcast to many sockets of one node is one message carrying the payload
 * once.
 *
 * @module
 */

import type { AutoResponse } from "../sockets/auto_response.ts";
import { decode as decodeClone } from "../structured_clone/decode.ts";
import { encode as encodeClone } from "../structured_clone/encode.ts";

/** A request: `(id, body)`. */
export const REQUEST = 1;
/** A reply to a request: `(id, status, body)`. */
export const REPLY = 2;
/** A batch of socket ops. */
export const OPS = 3;
/** A liveness beat (no body). */
export const BEAT = 4;

/** The request ran; the body is its result. */
export const OK = 0;
/** The request failed; the body is `{ name, message }`. */
export const FAILED = 1;
/** The receiving node does not own the object: the caller re-resolves and retries once. */
export const NOT_OWNER = 2;

/** Owner → holder: send `payload` to every socket in `ids`. */
export const OP_SEND = 1;
/** Owner → holder: close the socket (`code`, `reason`). */
export const OP_CLOSE = 2;
/** Owner → holder: the object's auto-response changed. */
export const OP_AUTO = 3;
/** Owner → holder: every frame up to `seq` of the socket was taken. */
export const OP_ACK = 4;
/** Holder → owner: a data message of a socket, with its sequence number. */
export const OP_FRAME = 5;
/** Holder → owner: the socket closed (already mapped code). */
export const OP_CLOSED = 6;
/** Holder → owner: a protocol error of the socket (no close follows). */
export const OP_ERROR = 7;
/** Holder → owner: the socket's last auto-response time. */
export const OP_TIMESTAMP = 8;

/** One socket op of a batch. */
export type Op =
  | { op: typeof OP_SEND; ids: string[]; payload: string | ArrayBuffer }
  | { op: typeof OP_CLOSE; sid: string; code: number; reason: string }
  | { op: typeof OP_AUTO; storage: string; hex: string; auto: AutoResponse | null }
  | { op: typeof OP_ACK; sid: string; seq: number }
  | { op: typeof OP_FRAME; sid: string; seq: number; payload: string | ArrayBuffer }
  | { op: typeof OP_CLOSED; sid: string; code: number; reason: string; clean: boolean }
  | { op: typeof OP_ERROR; sid: string; message: string }
  | { op: typeof OP_TIMESTAMP; sid: string; at: number };

/** A decoded message. */
export type Message =
  | { kind: typeof REQUEST; id: number; body: unknown }
  | { kind: typeof REPLY; id: number; status: number; body: unknown }
  | { kind: typeof OPS; ops: Op[] }
  | { kind: typeof BEAT };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A growable byte buffer with the few writes the format needs. */
class Writer {
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  #at = 0;

  #room(n: number): void {
    if (this.#at + n <= this.#bytes.length) return;
    let size = this.#bytes.length * 2;
    while (size < this.#at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#bytes.subarray(0, this.#at));
    this.#bytes = next;
    this.#view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.#room(1);
    this.#bytes[this.#at++] = v;
  }
  u16(v: number): void {
    this.#room(2);
    this.#view.setUint16(this.#at, v);
    this.#at += 2;
  }
  u32(v: number): void {
    this.#room(4);
    this.#view.setUint32(this.#at, v);
    this.#at += 4;
  }
  f64(v: number): void {
    this.#room(8);
    this.#view.setFloat64(this.#at, v);
    this.#at += 8;
  }
  bytes(v: Uint8Array): void {
    this.u32(v.byteLength);
    this.#room(v.byteLength);
    this.#bytes.set(v, this.#at);
    this.#at += v.byteLength;
  }
  str(v: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: reserve that, write, then fill in the length.
    this.#room(4 + v.length * 3);
    const { written } = encoder.encodeInto(v, this.#bytes.subarray(this.#at + 4));
    this.#view.setUint32(this.#at, written);
    this.#at += 4 + written;
  }
  payload(v: string | ArrayBuffer): void {
    if (typeof v === "string") {
      this.u8(0);
      this.str(v);
    } else {
      this.u8(1);
      this.bytes(new Uint8Array(v));
    }
  }
  done(): Uint8Array {
    return this.#bytes.subarray(0, this.#at);
  }
}

/** Reads what {@linkcode Writer} wrote. */
class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  at = 0;
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get more(): boolean {
    return this.at < this.#bytes.byteLength;
  }
  u8(): number {
    return this.#view.getUint8(this.at++);
  }
  u16(): number {
    const v = this.#view.getUint16(this.at);
    this.at += 2;
    return v;
  }
  u32(): number {
    const v = this.#view.getUint32(this.at);
    this.at += 4;
    return v;
  }
  f64(): number {
    const v = this.#view.getFloat64(this.at);
    this.at += 8;
    return v;
  }
  bytes(): Uint8Array {
    const n = this.u32();
    if (this.at + n > this.#bytes.byteLength) throw new RangeError("Truncated cluster message");
    const out = this.#bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  str(): string {
    return decoder.decode(this.bytes());
  }
  payload(): string | ArrayBuffer {
    if (this.u8() === 0) return this.str();
    return this.bytes().slice().buffer; // a private copy: handed to user code
  }
}

/**
 * A request with correlation id `id`; `body` is structured-cloned.
 *
 * @example Round trip
 * ```ts
 * import { decodeMessage, encodeRequest, REQUEST } from "./wire.ts";
 * import assert from "node:assert/strict";
 *
 * const message = decodeMessage(encodeRequest(7, { k: "call", args: [1] }));
 * assert.deepEqual(message, { kind: REQUEST, id: 7, body: { k: "call", args: [1] } });
 * ```
 */
export function encodeRequest(id: number, body: unknown): Uint8Array {
  const w = new Writer();
  w.u8(REQUEST);
  w.u32(id);
  w.bytes(encodeClone(body));
  return w.done();
}

/**
 * The reply to request `id`: `status` is {@linkcode OK}, {@linkcode FAILED}
 * or {@linkcode NOT_OWNER}; `body` is structured-cloned.
 *
 * @example Round trip
 * ```ts
 * import { decodeMessage, encodeReply, OK, REPLY } from "./wire.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeMessage(encodeReply(7, OK, 3)), { kind: REPLY, id: 7, status: OK, body: 3 });
 * ```
 */
export function encodeReply(id: number, status: number, body: unknown): Uint8Array {
  const w = new Writer();
  w.u8(REPLY);
  w.u32(id);
  w.u8(status);
  w.bytes(encodeClone(body));
  return w.done();
}

/**
 * A liveness beat.
 *
 * @example Usage
 * ```ts
 * import { BEAT, decodeMessage, encodeBeat } from "./wire.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeMessage(encodeBeat()), { kind: BEAT });
 * ```
 */
export function encodeBeat(): Uint8Array {
  return new Uint8Array([BEAT]);
}

/**
 * A batch of socket ops, in order.
 *
 * @example A broadcast to two sockets carries the payload once
 * ```ts
 * import { decodeMessage, encodeOps, OP_SEND } from "./wire.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeOps([{ op: OP_SEND, ids: ["a", "b"], payload: "hello" }]);
 * assert.deepEqual(decodeMessage(bytes), {
 *   kind: 3,
 *   ops: [{ op: OP_SEND, ids: ["a", "b"], payload: "hello" }],
 * });
 * ```
 */
export function encodeOps(ops: readonly Op[]): Uint8Array {
  const w = new Writer();
  w.u8(OPS);
  for (const op of ops) {
    w.u8(op.op);
    switch (op.op) {
      case OP_SEND:
        w.u32(op.ids.length);
        for (const id of op.ids) w.str(id);
        w.payload(op.payload);
        break;
      case OP_CLOSE:
        w.str(op.sid);
        w.u16(op.code);
        w.str(op.reason);
        break;
      case OP_AUTO:
        w.str(op.storage);
        w.str(op.hex);
        w.u8(op.auto === null ? 0 : 1);
        if (op.auto !== null) {
          w.str(op.auto.request);
          w.str(op.auto.response);
        }
        break;
      case OP_ACK:
        w.str(op.sid);
        w.u32(op.seq);
        break;
      case OP_FRAME:
        w.str(op.sid);
        w.u32(op.seq);
        w.payload(op.payload);
        break;
      case OP_CLOSED:
        w.str(op.sid);
        w.u16(op.code);
        w.str(op.reason);
        w.u8(op.clean ? 1 : 0);
        break;
      case OP_ERROR:
        w.str(op.sid);
        w.str(op.message);
        break;
      case OP_TIMESTAMP:
        w.str(op.sid);
        w.f64(op.at);
        break;
    }
  }
  return w.done();
}

/**
 * Decodes one message.
 *
 * @throws {RangeError} If the bytes are not a message of this format.
 *
 * @example Usage
 * ```ts
 * import { decodeMessage } from "./wire.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => decodeMessage(new Uint8Array([99])), RangeError);
 * ```
 */
export function decodeMessage(bytes: Uint8Array): Message {
  const r = new Reader(bytes);
  const kind = r.u8();
  switch (kind) {
    case REQUEST: {
      const id = r.u32();
      return { kind, id, body: decodeClone(r.bytes()) };
    }
    case REPLY: {
      const id = r.u32();
      const status = r.u8();
      return { kind, id, status, body: decodeClone(r.bytes()) };
    }
    case BEAT:
      return { kind };
    case OPS:
      return { kind, ops: readOps(r) };
  }
  throw new RangeError(`Cannot decode a cluster message of kind ${kind}: expected 1-4`);
}

function readOps(r: Reader): Op[] {
  const ops: Op[] = [];
  while (r.more) {
    const op = r.u8();
    switch (op) {
      case OP_SEND: {
        const n = r.u32();
        const ids: string[] = [];
        for (let i = 0; i < n; i++) ids.push(r.str());
        ops.push({ op, ids, payload: r.payload() });
        break;
      }
      case OP_CLOSE:
        ops.push({ op, sid: r.str(), code: r.u16(), reason: r.str() });
        break;
      case OP_AUTO: {
        const storage = r.str();
        const hex = r.str();
        const auto = r.u8() === 0 ? null : Object.freeze({ request: r.str(), response: r.str() });
        ops.push({ op, storage, hex, auto });
        break;
      }
      case OP_ACK:
        ops.push({ op, sid: r.str(), seq: r.u32() });
        break;
      case OP_FRAME:
        ops.push({ op, sid: r.str(), seq: r.u32(), payload: r.payload() });
        break;
      case OP_CLOSED:
        ops.push({ op, sid: r.str(), code: r.u16(), reason: r.str(), clean: r.u8() === 1 });
        break;
      case OP_ERROR:
        ops.push({ op, sid: r.str(), message: r.str() });
        break;
      case OP_TIMESTAMP:
        ops.push({ op, sid: r.str(), at: r.f64() });
        break;
      default:
        throw new RangeError(`Cannot decode socket op ${op}: expected 1-8`);
    }
  }
  return ops;
}
