/**
 * {@linkcode KvTransport}: nodes that share one Deno KV database and nothing
 * else (Deno Deploy without a broker) talk through per-node inboxes and a
 * watched doorbell key.
 *
 * @module
 */

import { type Clock, type ClockTimer, systemClock } from "../clock.ts";
import {
  bellKey,
  FLUSH_MAX_MUTATIONS,
  FLUSH_MAX_PAYLOAD,
  inboxKey,
  inboxPrefix,
  KV_MAX_VALUE,
} from "../kv/keys.ts";
import { retryTransient } from "../kv/retry.ts";
import { checkBytes, checkNodeId } from "./_frame.ts";
import type { Transport, TransportStatus } from "./transport.ts";

/** Largest message a {@linkcode KvTransport} carries: 512 KiB (8 KV values, one atomic). */
export const KV_TRANSPORT_MAX_MESSAGE = 512 * 1024;
// Entries read per inbox snapshot (one list call with limit = batchSize is one consistent read).
const DRAIN_BATCH = 500;

/** Options of {@linkcode KvTransport}. */
export interface KvTransportOptions {
  /**
   * How often the inbox is read even without a ring, in ms: the backstop
   * when `watch` does not see other writers (separate processes on one
   * local SQLite file).
   * @default 1000
   */
  readonly pollMs?: number;
  /**
   * How long an undelivered message stays in KV, in ms: messages to a node
   * that died (or never listened) expire after this.
   * @default 60000
   */
  readonly ttlMs?: number;
  /** Time source and timers. @default systemClock */
  readonly clock?: Clock;
  /**
   * Receives what `onMessage` throws and KV errors that dropped messages.
   * @default console.error
   */
  readonly onError?: (error: unknown) => void;
}

interface Message {
  readonly from: string;
  readonly bytes: Uint8Array;
}

type InboxKey = [string, string, string, string, number, number, number];

interface Outgoing {
  readonly to: string;
  readonly seq: number;
  readonly bytes: Uint8Array;
}

/**
 * A {@linkcode Transport} over Deno KV. A message to node N is written under
 * `["dormant", "inbox", N, …]` (chunked into 64 KiB values, at most
 * {@linkcode KV_TRANSPORT_MAX_MESSAGE}; larger ones throw a `RangeError`) in
 * one atomic with a write of N's doorbell `["dormant", "bell", N]`. N watches
 * its doorbell, and on each ring (or every `pollMs`) reads its inbox in key
 * order, deletes what it read, then delivers it. One commit is in flight per
 * sender at a time (later messages are batched into the next), which keeps
 * each sender's messages in order.
 *
 * The transport uses the `Deno.Kv` it is given and never closes it. `watch`
 * is instant within one process (also across the isolates of
 * `deno serve --parallel`) and on Deno Deploy's KV; between processes on
 * one local SQLite file only the poll delivers.
 *
 * @example Two nodes on one database
 * ```ts
 * import { KvTransport } from "./kv_transport.ts";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * const a = new KvTransport(kv);
 * const b = new KvTransport(kv);
 * const got = Promise.withResolvers<string>();
 * await a.listen("a", () => {});
 * await b.listen("b", (from, bytes) => got.resolve(`${from}: ${new TextDecoder().decode(bytes)}`));
 * a.send("b", new TextEncoder().encode("hello"));
 * assert.equal(await got.promise, "a: hello");
 * await a.close();
 * await b.close();
 * kv.close();
 * ```
 */
export class KvTransport implements Transport {
  readonly #kv: Deno.Kv;
  readonly #pollMs: number;
  readonly #ttlMs: number;
  readonly #clock: Clock;
  readonly #onError: (error: unknown) => void;
  readonly #listeners: Array<(status: TransportStatus) => void> = [];
  #node: string | null = null;
  #onMessage: (from: string, bytes: Uint8Array) => void = () => {};
  #status: TransportStatus = "down";
  #closed = false;
  #seq = 0;
  #queue: Outgoing[] = [];
  #flushing: Promise<void> | null = null;
  #draining: Promise<void> | null = null;
  #drainAgain = false;
  #watch: ReadableStreamDefaultReader<unknown> | null = null;
  #watching: Promise<void> | null = null;
  #poll: ClockTimer | null = null;
  // The last sequence number delivered from each sender (they only grow, per sender).
  readonly #delivered = new Map<string, number>();

  /** A transport over `kv` (not closed by the transport). */
  constructor(kv: Deno.Kv, options: KvTransportOptions = {}) {
    if (kv === null || typeof kv !== "object" || typeof kv.watch !== "function") {
      throw new TypeError("KvTransport needs a Deno.Kv (from Deno.openKv)");
    }
    const pollMs = options.pollMs ?? 1000;
    if (!Number.isFinite(pollMs) || pollMs < 1) {
      throw new RangeError(`pollMs must be a number ≥ 1, got ${pollMs}`);
    }
    const ttlMs = options.ttlMs ?? 60_000;
    if (!Number.isFinite(ttlMs) || ttlMs < 1000) {
      throw new RangeError(`ttlMs must be a number ≥ 1000, got ${ttlMs}`);
    }
    this.#kv = kv;
    this.#pollMs = pollMs;
    this.#ttlMs = ttlMs;
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? console.error;
  }

  /** `"up"` between `listen` and `close`. */
  get status(): TransportStatus {
    return this.#status;
  }

  /**
   * Discards whatever waited in the node's inbox from before, then watches
   * its doorbell and resolves.
   */
  async listen(node: string, onMessage: (from: string, bytes: Uint8Array) => void): Promise<void> {
    checkNodeId(node);
    if (typeof onMessage !== "function") throw new TypeError("onMessage must be a function");
    if (this.#closed) throw new TypeError("Cannot listen on a closed transport");
    if (this.#node !== null) {
      // Moving to a new node id: stop watching the old doorbell first.
      this.#setStatus("down");
      if (this.#poll !== null) this.#clock.clearTimeout(this.#poll);
      this.#poll = null;
      await this.#watch?.cancel().catch(() => {});
      await this.#watching;
      await this.#draining;
    }
    this.#node = node;
    // Messages sent before the node listened are not for this incarnation: they vanish.
    for (let read = 1; read > 0;) {
      const taken = await this.#take();
      await taken.deleted;
      read = taken.read;
    }
    this.#onMessage = onMessage;
    this.#seq = this.#clock.now() * 1000; // later incarnations of a sender sort after earlier ones
    const stream = this.#kv.watch([bellKey(node)]);
    const reader = this.#watch = stream.getReader();
    this.#watching = (async () => {
      try {
        while (!(await reader.read()).done) this.#ring();
      } catch (error) {
        if (!this.#closed) this.#onError(error);
      }
    })();
    this.#armPoll();
    this.#setStatus("up");
  }

  /** Queues `bytes` for `to`; dropped unless the transport is up. */
  send(to: string, bytes: Uint8Array): void {
    checkNodeId(to, "destination node id");
    checkBytes(bytes);
    if (bytes.length > KV_TRANSPORT_MAX_MESSAGE) {
      throw new RangeError(
        `A KV transport message is ${bytes.length} bytes; the limit is ${KV_TRANSPORT_MAX_MESSAGE}: ` +
          "send large data in parts, or use the Redis or BroadcastChannel transport",
      );
    }
    if (this.#status !== "up") return;
    this.#queue.push({ to, seq: this.#seq++, bytes: bytes.slice() });
    this.#flushing ??= this.#flush();
  }

  /** Registers a status listener. */
  onStatus(listener: (status: TransportStatus) => void): void {
    this.#listeners.push(listener);
  }

  /** Commits what `send` queued, stops watching and polling; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#flushing;
    this.#closed = true;
    this.#setStatus("down");
    if (this.#poll !== null) this.#clock.clearTimeout(this.#poll);
    this.#poll = null;
    await this.#watch?.cancel().catch(() => {});
    await this.#watching;
    await this.#draining;
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const atomic = this.#kv.atomic();
      let mutations = 0, payload = 0, taken = 0;
      const rung = new Set<string>();
      for (const m of this.#queue) {
        const chunks = Math.max(1, Math.ceil(m.bytes.length / KV_MAX_VALUE));
        const cost = chunks + (rung.has(m.to) ? 0 : 1);
        if (
          taken > 0 &&
          (mutations + cost > FLUSH_MAX_MUTATIONS || payload + m.bytes.length > FLUSH_MAX_PAYLOAD)
        ) {
          break;
        }
        for (let i = 0; i < chunks; i++) {
          const part = m.bytes.subarray(i * KV_MAX_VALUE, (i + 1) * KV_MAX_VALUE);
          atomic.set(inboxKey(m.to, this.#node!, m.seq, i, chunks), part, {
            expireIn: this.#ttlMs,
          });
        }
        if (!rung.has(m.to)) {
          rung.add(m.to);
          atomic.set(bellKey(m.to), m.seq, { expireIn: this.#ttlMs });
        }
        mutations += cost;
        payload += m.bytes.length;
        taken++;
      }
      this.#queue = this.#queue.slice(taken);
      try {
        await retryTransient(() => atomic.commit());
      } catch (error) {
        this.#onError(error); // at most once: these messages are lost
      }
    }
    this.#flushing = null;
  }

  #ring(): void {
    if (this.#closed) return;
    if (this.#draining !== null) {
      this.#drainAgain = true;
      return;
    }
    this.#draining = this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      do {
        this.#drainAgain = false;
        for (;;) {
          const { messages, read, deleted } = await this.#take();
          for (const { from, bytes } of messages) {
            if (this.#closed) break;
            try {
              this.#onMessage(from, bytes);
            } catch (error) {
              this.#onError(error);
            }
          }
          await deleted;
          if (read === 0 || this.#closed) break;
        }
      } while (this.#drainAgain && !this.#closed);
    } catch (error) {
      this.#onError(error);
    } finally {
      this.#draining = null;
    }
  }

  /**
   * Reads one consistent snapshot of the inbox (one list call), starts deleting
   * the complete messages in it, and returns the ones not delivered before.
   * Delivery does not wait for the delete: the last sequence number delivered
   * per sender filters out anything read again (a delete still in flight, or
   * one that failed), so each message is handed over at most once.
   */
  async #take(): Promise<{ messages: Message[]; read: number; deleted: Promise<void> }> {
    const entries: Deno.KvEntry<Uint8Array>[] = [];
    const list = this.#kv.list<Uint8Array>({ prefix: inboxPrefix(this.#node!) }, {
      limit: DRAIN_BATCH,
      batchSize: DRAIN_BATCH,
    });
    for await (const entry of list) entries.push(entry);
    const messages: Message[] = [];
    const done: Deno.KvKey[] = [];
    for (let i = 0; i < entries.length;) {
      const [, , , from, seq, , chunks] = entries[i]!.key as InboxKey;
      if (i + chunks > entries.length) break; // cut by the snapshot limit: read again next time
      const parts = entries.slice(i, i + chunks);
      for (const e of parts) done.push(e.key);
      i += chunks;
      if (seq <= (this.#delivered.get(from) ?? -1)) continue;
      this.#delivered.set(from, seq);
      messages.push({
        from,
        bytes: chunks === 1 ? parts[0]!.value : concat(parts.map((e) => e.value)),
      });
    }
    const atomic = this.#kv.atomic();
    for (const key of done) atomic.delete(key);
    const deleted = done.length === 0
      ? Promise.resolve()
      : retryTransient(() => atomic.commit()).then(() => {}, this.#onError);
    return { messages, read: done.length, deleted };
  }

  #armPoll(): void {
    this.#poll = this.#clock.setTimeout(() => {
      this.#ring();
      if (!this.#closed) this.#armPoll();
    }, this.#pollMs);
  }

  #setStatus(status: TransportStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    for (const listener of this.#listeners) listener(status);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
