import { utf8Length } from "./tags.ts";

/** A close queued behind the messages before it. */
class CloseRequest {
  constructor(readonly code?: number, readonly reason?: string) {}
}

/**
 * The messages (and a final close) a connection has not handed to Deno's
 * socket yet, in order: the socket is not open yet (the pre-open queue), or a
 * storage write is pending (the output-gate hold). Both wait on this one
 * queue, and its bytes count in `bufferedAmount` and against the send budget,
 * so holding messages never bypasses backpressure. Allocated only while
 * something is queued; an open socket with no pending write has none.
 */
export class Outbox {
  readonly #items: unknown[] = [];
  #bytes = 0;

  /** An outbox holding only a close (the socket is not open yet). */
  static closing(code?: number, reason?: string): Outbox {
    const outbox = new Outbox();
    outbox.close(code, reason);
    return outbox;
  }

  /** UTF-8 bytes of the queued messages. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Queues a message. */
  push(message: unknown): void {
    this.#bytes += byteSize(message);
    this.#items.push(message);
  }

  /** Queues the close, after the messages. */
  close(code?: number, reason?: string): void {
    this.#items.push(new CloseRequest(code, reason));
  }

  /** The queued messages (not a queued close), in order. */
  messages(): unknown[] {
    return this.#items.filter((item) => !(item instanceof CloseRequest));
  }

  /** Hands everything to the open runtime socket, in order. */
  writeTo(live: globalThis.WebSocket): void {
    for (const item of this.#items) {
      if (item instanceof CloseRequest) live.close(item.code, item.reason);
      else live.send(item as string);
    }
  }
}

/** An upper bound of the bytes `send(message)` adds to `bufferedAmount` (UTF-8: ≤ 3 per UTF-16 unit). */
export function sizeBound(message: unknown): number {
  if (typeof message === "string") return message.length * 3;
  const size = (message as { byteLength?: unknown }).byteLength;
  return typeof size === "number" ? size : Infinity;
}

/** The UTF-8 bytes `send(message)` adds to `bufferedAmount`. */
function byteSize(message: unknown): number {
  if (typeof message === "string") return utf8Length(message);
  const size = (message as { byteLength?: unknown }).byteLength;
  return typeof size === "number" ? size : 0;
}
