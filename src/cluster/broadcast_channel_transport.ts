/**
 * {@linkcode BroadcastChannelTransport}: the isolates of one process (the
 * workers of `deno serve --parallel`) talk over `BroadcastChannel`, with no
 * configuration and no broker.
 *
 * @module
 */

import { delay } from "../clock.ts";
import { checkBytes, checkNodeId } from "./_frame.ts";
import { currentPid, machineId } from "../kv/process_info.ts";
import type { Transport, TransportPeer, TransportStatus } from "./transport.ts";

// A batch is posted at once when it reaches this size, instead of at the end of the turn.
const MAX_BATCH_BYTES = 1024 * 1024;
// How long close() waits for the last posts to leave for other isolates.
const POST_GRACE_MS = 10;

interface Outbox {
  readonly channel: BroadcastChannel;
  pending: Uint8Array[];
  size: number;
  batch: number;
}

/** Options of {@linkcode BroadcastChannelTransport}. */
export interface BroadcastChannelTransportOptions {
  /**
   * Name of the cluster: transports with different names in one process never
   * hear each other. Channel names are `dormant:<cluster>:<node>`.
   * @default "default"
   */
  readonly cluster?: string;
  /**
   * Receives what `onMessage` throws (a throwing listener must not take the
   * process down).
   * @default console.error
   */
  readonly onError?: (error: unknown) => void;
}

/**
 * A {@linkcode Transport} over `BroadcastChannel`: reaches every isolate of the
 * same process (the workers of `deno serve --parallel`) and the same isolate,
 * nothing beyond. Each node listens on its own channel, so a message is
 * decoded only by the node it is addressed to (and by idle sending channels
 * of other isolates that address the same node).
 *
 * A `BroadcastChannel` has no broker to lose: the status is `"up"` from
 * `listen` until `close`. Messages to one node sent in one turn of the event
 * loop travel together as one structured-cloned batch. Deno keeps at most 256
 * `BroadcastChannel` messages in flight per process: an isolate that falls
 * further behind loses the oldest, which `onError` reports (at most once,
 * still in order); batching keeps bursts far below that.
 *
 * @example Two nodes in one isolate
 * ```ts
 * import { BroadcastChannelTransport } from "./broadcast_channel_transport.ts";
 * import assert from "node:assert/strict";
 *
 * const a = new BroadcastChannelTransport();
 * const b = new BroadcastChannelTransport();
 * const got = Promise.withResolvers<string>();
 * await a.listen("a", () => {});
 * await b.listen("b", (from, bytes) => got.resolve(`${from}: ${new TextDecoder().decode(bytes)}`));
 * a.send("b", new TextEncoder().encode("hello"));
 * assert.equal(await got.promise, "a: hello");
 * await a.close();
 * await b.close();
 * ```
 */
export class BroadcastChannelTransport implements Transport {
  readonly #cluster: string;
  readonly #onError: (error: unknown) => void;
  #from: string | null = null;
  #inbox: BroadcastChannel | null = null;
  // One sending channel per destination, opened on first use: posting needs an open channel, and
  // a channel closed right after postMessage drops the message for other isolates (Deno defers
  // the cross-isolate post).
  readonly #outboxes = new Map<string, Outbox>();
  readonly #dirty: Outbox[] = [];
  // The last batch number seen from each sender, to report batches the runtime dropped.
  readonly #lastBatch = new Map<string, number>();
  #machine: { id: string | null } | null = null;
  #status: TransportStatus = "down";
  #closed = false;
  readonly #listeners: Array<(status: TransportStatus) => void> = [];

  /** A transport for the cluster `options.cluster` (default `"default"`). */
  constructor(options: BroadcastChannelTransportOptions = {}) {
    const cluster = options.cluster ?? "default";
    if (typeof cluster !== "string" || cluster.length === 0) {
      throw new TypeError(`cluster must be a non-empty string, got ${String(cluster)}`);
    }
    this.#cluster = cluster;
    this.#onError = options.onError ?? console.error;
  }

  /** `"up"` between `listen` and `close`. */
  get status(): TransportStatus {
    return this.#status;
  }

  /** Starts delivering the messages addressed to `node`. */
  listen(node: string, onMessage: (from: string, bytes: Uint8Array) => void): Promise<void> {
    checkNodeId(node);
    if (typeof onMessage !== "function") throw new TypeError("onMessage must be a function");
    if (this.#closed) throw new TypeError("Cannot listen on a closed transport");
    if (this.#from !== null) {
      // Moving to a new node id: what is pending leaves under the old one.
      this.#flush();
      this.#inbox?.close();
    }
    this.#from = node;
    const inbox = new BroadcastChannel(this.#channel(node));
    inbox.onmessage = (event: MessageEvent) => {
      const data = event.data;
      if (!Array.isArray(data) || typeof data[0] !== "string" || !Array.isArray(data[2])) {
        return; // not ours: someone else posting on a dormant channel name
      }
      const [from, batch, payloads] = data as [string, number, Uint8Array[]];
      const last = this.#lastBatch.get(from);
      this.#lastBatch.set(from, batch);
      if (last !== undefined && batch !== last + 1) {
        this.#onError(
          new Error(
            `BroadcastChannel lost ${batch - last - 1} batch(es) of messages from node ${from}: ` +
              "this isolate fell too far behind (Deno keeps 256 messages per process)",
          ),
        );
      }
      for (const payload of payloads) {
        try {
          onMessage(from, payload);
        } catch (error) {
          this.#onError(error);
        }
      }
    };
    this.#inbox = inbox;
    this.#setStatus("up");
    return Promise.resolve();
  }

  /**
   * Sends `bytes` to `to`; dropped unless the transport is up. The bytes are
   * copied; the messages to one node sent in one turn of the event loop
   * travel as one `BroadcastChannel` message.
   */
  send(to: string, bytes: Uint8Array): void {
    checkNodeId(to, "destination node id");
    checkBytes(bytes);
    if (this.#status !== "up") return;
    let outbox = this.#outboxes.get(to);
    if (outbox === undefined) {
      // Also for `to === from`: a channel never hears its own posts, but this one is not the inbox.
      outbox = { channel: new BroadcastChannel(this.#channel(to)), pending: [], size: 0, batch: 0 };
      this.#outboxes.set(to, outbox);
    }
    // A copy of the view only: structured clone would copy a view's whole ArrayBuffer.
    outbox.pending.push(bytes.slice());
    outbox.size += bytes.length;
    if (outbox.pending.length === 1) {
      this.#dirty.push(outbox);
      if (this.#dirty.length === 1) queueMicrotask(this.#flush);
    }
    if (outbox.size >= MAX_BATCH_BYTES) this.#post(outbox);
  }

  /**
   * Whether a node in process `peer.pid` on `peer.machine` hears this
   * transport: only in this very process (`true` when the machine is unknown:
   * it cannot be told).
   */
  reaches(peer: TransportPeer): boolean {
    const machine = this.#machine ??= { id: machineId() };
    if (peer.machine === null || machine.id === null) return true;
    return peer.machine === machine.id && peer.pid === currentPid();
  }

  /** Registers a status listener. */
  onStatus(listener: (status: TransportStatus) => void): void {
    this.#listeners.push(listener);
  }

  /** Sends what is pending, then closes every channel; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#setStatus("down");
    this.#inbox?.close();
    this.#inbox = null;
    // Deno posts to other isolates a moment after postMessage, and not at all once the channel
    // is closed: let the last batches leave first.
    if (this.#outboxes.size > 0) await delay(POST_GRACE_MS);
    for (const outbox of this.#outboxes.values()) outbox.channel.close();
    this.#outboxes.clear();
  }

  readonly #flush = (): void => {
    for (const outbox of this.#dirty) this.#post(outbox);
    this.#dirty.length = 0;
  };

  #post(outbox: Outbox): void {
    if (outbox.pending.length === 0 || this.#closed) return;
    outbox.channel.postMessage([this.#from, outbox.batch++, outbox.pending]);
    outbox.pending = [];
    outbox.size = 0;
  }

  #channel(node: string): string {
    return `dormant:${this.#cluster}:${node}`;
  }

  #setStatus(status: TransportStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    for (const listener of this.#listeners) listener(status);
  }
}
