/**
 * {@linkcode BroadcastChannelTransport}: the isolates of one process (the
 * workers of `deno serve --parallel`) talk over `BroadcastChannel`, with no
 * configuration and no broker.
 *
 * @module
 */

import { checkBytes, checkNodeId } from "./_frame.ts";
import type { Transport, TransportStatus } from "./transport.ts";

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
 * `listen` until `close`. Messages are structured-cloned, so every message
 * costs one copy per receiving isolate.
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
  // One sending channel per destination, opened on first use: posting needs
  // an open channel, and a channel closed right after postMessage drops the
  // message for other isolates (the cross-isolate post is deferred).
  readonly #outboxes = new Map<string, BroadcastChannel>();
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
    if (this.#from !== null || this.#closed) {
      throw new TypeError(
        "listen() was already called on this transport: use one transport per node",
      );
    }
    this.#from = node;
    const inbox = new BroadcastChannel(this.#channel(node));
    inbox.onmessage = (event: MessageEvent) => {
      const data = event.data;
      if (!Array.isArray(data) || typeof data[0] !== "string" || !(data[1] instanceof Uint8Array)) {
        return; // not ours: someone else posting on a dormant channel name
      }
      try {
        onMessage(data[0], data[1]);
      } catch (error) {
        this.#onError(error);
      }
    };
    this.#inbox = inbox;
    this.#setStatus("up");
    return Promise.resolve();
  }

  /** Sends `bytes` to `to`; dropped unless the transport is up. */
  send(to: string, bytes: Uint8Array): void {
    checkNodeId(to, "destination node id");
    checkBytes(bytes);
    if (this.#status !== "up") return;
    let channel = this.#outboxes.get(to);
    if (channel === undefined) {
      // Also for `to === from`: a channel never hears its own posts, but this one is not the inbox.
      channel = new BroadcastChannel(this.#channel(to));
      this.#outboxes.set(to, channel);
    }
    // Structured clone copies a typed array's whole ArrayBuffer, not just the view:
    // a small view of a large buffer is sliced first.
    const payload = bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    channel.postMessage([this.#from, payload]);
  }

  /** Registers a status listener. */
  onStatus(listener: (status: TransportStatus) => void): void {
    this.#listeners.push(listener);
  }

  /** Closes every channel; idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#inbox?.close();
    this.#inbox = null;
    for (const channel of this.#outboxes.values()) channel.close();
    this.#outboxes.clear();
    this.#setStatus("down");
    return Promise.resolve();
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
