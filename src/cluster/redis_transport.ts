/**
 * {@linkcode RedisTransport}: nodes in several processes or on several
 * machines talk through Redis pub/sub (npm `ioredis`). A separate entry point,
 * `@dormant/dormant/redis`, so that apps without Redis never load the client.
 *
 * @example Two nodes through one Redis
 * ```ts ignore
 * import { redisTransport } from "@dormant/dormant/redis";
 *
 * const transport = redisTransport(Deno.env.get("DORMANT_REDIS_URL") ?? "redis://127.0.0.1:6379");
 * await transport.listen("node-1", (from, bytes) => console.log(from, bytes.length));
 * transport.send("node-2", new TextEncoder().encode("hello"));
 * await transport.close();
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Redis, type RedisOptions } from "ioredis";
import { checkBytes, checkNodeId, frameSize, readFrame, writeFrame } from "./_frame.ts";
import type { Transport, TransportStatus } from "./transport.ts";

// How long ioredis waits for a closing socket before destroying it.
const DISCONNECT_TIMEOUT_MS = 100;

/** Options of {@linkcode RedisTransport}. */
export interface RedisTransportOptions {
  /**
   * The Redis server, as `redis://[user:password@]host:port[/db]` or
   * `rediss://…` for TLS.
   * @default "redis://127.0.0.1:6379"
   */
  readonly url?: string;
  /**
   * Name of the cluster: nodes of different clusters on one Redis never hear
   * each other. Each node subscribes to `dormant:<cluster>:<node>`.
   * @default "default"
   */
  readonly cluster?: string;
  /**
   * Longest wait between two reconnection attempts, in ms (ioredis retries
   * after 50 ms, 100 ms, … up to this).
   * @default 1000
   */
  readonly maxReconnectDelayMs?: number;
  /**
   * Further options for the `ioredis` client (its `RedisOptions`: `tls`,
   * `password`, `connectTimeout`, …), passed as they are. The transport
   * overrides the ones its guarantees rest on: `enableOfflineQueue`,
   * `autoResubscribe`, `autoResendUnfulfilledCommands`, `lazyConnect`,
   * `maxRetriesPerRequest`, `retryStrategy`, `disconnectTimeout`.
   */
  readonly redis?: Readonly<Record<string, unknown>>;
  /**
   * Receives what `onMessage` throws (a throwing listener must not take the
   * process down).
   * @default console.error
   */
  readonly onError?: (error: unknown) => void;
}

/**
 * A {@linkcode Transport} over Redis pub/sub: one publisher and one
 * subscriber connection per node, one channel per node
 * (`dormant:<cluster>:<node>`), binary payloads behind a small header naming
 * the sender.
 *
 * The status is `"down"` while either connection is lost; ioredis reconnects
 * by itself, the transport subscribes again and turns `"up"`. Messages are
 * never queued while down and never resent after a reconnect (the offline
 * queue and the resending of unanswered commands are off): a message sent
 * while down is dropped, so a long outage never replays stale traffic.
 * Retrying is the caller's job, with its own sequence numbers.
 *
 * @example Usage
 * ```ts ignore
 * import { RedisTransport } from "@dormant/dormant/redis";
 *
 * const transport = new RedisTransport({ url: "redis://127.0.0.1:6379", cluster: "chat" });
 * transport.onStatus((status) => console.log("redis is", status));
 * await transport.listen("node-1", (from, bytes) => console.log(from, bytes.length));
 * await transport.close();
 * ```
 */
export class RedisTransport implements Transport {
  readonly #url: string;
  readonly #cluster: string;
  readonly #options: RedisOptions;
  readonly #onError: (error: unknown) => void;
  readonly #listeners: Array<(status: TransportStatus) => void> = [];
  #from: Uint8Array | null = null;
  #node = "";
  #onMessage: (from: string, bytes: Uint8Array) => void = () => {};
  #pub: Redis | null = null;
  #sub: Redis | null = null;
  #subscribed = false;
  #status: TransportStatus = "down";
  #closed = false;

  /** A transport for the Redis at `options.url`; nothing connects before `listen`. */
  constructor(options: RedisTransportOptions = {}) {
    const url = options.url ?? "redis://127.0.0.1:6379";
    if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) {
      throw new TypeError(`url must start with redis:// or rediss://, got ${String(url)}`);
    }
    const cluster = options.cluster ?? "default";
    if (typeof cluster !== "string" || cluster.length === 0) {
      throw new TypeError(`cluster must be a non-empty string, got ${String(cluster)}`);
    }
    const maxDelay = options.maxReconnectDelayMs ?? 1000;
    if (!Number.isFinite(maxDelay) || maxDelay < 1) {
      throw new RangeError(`maxReconnectDelayMs must be a number ≥ 1, got ${maxDelay}`);
    }
    this.#url = url;
    this.#cluster = cluster;
    this.#onError = options.onError ?? console.error;
    this.#options = {
      ...(options.redis as RedisOptions | undefined),
      lazyConnect: true,
      // Nothing waits for a lost connection: a message sent while down is dropped, not replayed later.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      // The transport subscribes again itself, so it knows when the channel is live.
      autoResubscribe: false,
      maxRetriesPerRequest: 0,
      disconnectTimeout: DISCONNECT_TIMEOUT_MS,
      retryStrategy: (times: number) => Math.min(50 * times, maxDelay),
    };
  }

  /** `"up"` while both connections are ready and the node's channel is subscribed. */
  get status(): TransportStatus {
    return this.#status;
  }

  /**
   * Connects, subscribes to the node's channel and resolves once messages
   * flow; rejects (and releases the connections) if Redis cannot be reached.
   */
  async listen(node: string, onMessage: (from: string, bytes: Uint8Array) => void): Promise<void> {
    const from = checkNodeId(node);
    if (typeof onMessage !== "function") throw new TypeError("onMessage must be a function");
    if (this.#closed) throw new TypeError("Cannot listen on a closed transport");
    this.#onMessage = onMessage;
    if (this.#from !== null) return await this.#move(node, from);
    this.#from = from;
    this.#node = node;
    const pub = this.#pub = new Redis(this.#url, this.#options);
    const sub = this.#sub = new Redis(this.#url, this.#options);
    for (const client of [pub, sub]) {
      // Connection errors show as status changes; ioredis logs unhandled "error" events otherwise.
      client.on("error", () => {});
      client.on("close", () => {
        if (client === sub) this.#subscribed = false;
        this.#update();
      });
    }
    pub.on("ready", () => this.#update());
    sub.on("ready", () => {
      sub.subscribe(this.#channel(this.#node)).then(() => {
        this.#subscribed = true;
        this.#update();
      }, () => {/* the connection dropped again; the next "ready" retries */});
    });
    sub.on("messageBuffer", (_channel: Buffer, message: Buffer) => {
      const frame = readFrame(message);
      if (frame === null) return;
      // A plain Uint8Array view over ioredis' Buffer: no copy.
      const payload = new Uint8Array(
        message.buffer,
        frame.payload.byteOffset,
        frame.payload.length,
      );
      try {
        this.#onMessage(frame.from, payload);
      } catch (error) {
        this.#onError(error);
      }
    });
    const up = new Promise<void>((resolve) => {
      const wait = (status: TransportStatus) => status === "up" && resolve();
      this.#listeners.unshift(wait);
    });
    try {
      await Promise.all([pub.connect(), sub.connect()]);
    } catch (error) {
      await this.close();
      throw error;
    }
    await up;
  }

  /** Moves the subscription to `node`'s channel (the node rejoined under a new id). */
  async #move(node: string, from: Uint8Array): Promise<void> {
    const old = this.#channel(this.#node);
    this.#node = node;
    const sub = this.#sub!;
    if (sub.status === "ready") {
      await sub.subscribe(this.#channel(node));
      this.#from = from;
      await sub.unsubscribe(old);
    } else this.#from = from; // the next "ready" subscribes to the new channel
  }

  /** Publishes `bytes` to `to`'s channel; dropped while the status is `"down"`. */
  send(to: string, bytes: Uint8Array): void {
    checkNodeId(to, "destination node id");
    checkBytes(bytes);
    if (this.#status !== "up") return;
    const frame = writeFrame(Buffer.allocUnsafe(frameSize(this.#from!, bytes)), this.#from!, bytes);
    this.#pub!.publish(this.#channel(to), frame as Buffer).catch(() => {
      // The connection dropped under the message: at most once, the status says why.
    });
  }

  /** Registers a status listener. */
  onStatus(listener: (status: TransportStatus) => void): void {
    this.#listeners.push(listener);
  }

  /** Disconnects both connections and waits until their sockets are closed; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const clients = [this.#pub, this.#sub].filter((c): c is Redis => c !== null);
    this.#pub = this.#sub = null;
    this.#subscribed = false;
    this.#update();
    await Promise.all(clients.map((client) => {
      if (client.status === "end") return;
      const open = client.status !== "reconnecting" && client.status !== "close";
      const ended = new Promise<void>((resolve) => {
        if (open) client.once("end", () => resolve());
        // Between two reconnection attempts the socket is already gone: disconnect() cancels the
        // next attempt and arms ioredis' socket-destroy timer (disconnectTimeout), but no "end"
        // follows; waiting just past that timer lets it run, so close() leaves no timer behind.
        else setTimeout(resolve, DISCONNECT_TIMEOUT_MS + 5);
      });
      client.disconnect();
      return ended;
    }));
  }

  #channel(node: string): string {
    return `dormant:${this.#cluster}:${node}`;
  }

  #update(): void {
    const up = !this.#closed && this.#subscribed && this.#pub?.status === "ready" &&
      this.#sub?.status === "ready";
    const status: TransportStatus = up ? "up" : "down";
    if (status === this.#status) return;
    this.#status = status;
    for (const listener of [...this.#listeners]) listener(status);
  }
}

/**
 * A {@linkcode RedisTransport} for the Redis at `url` (for example the value
 * of `DORMANT_REDIS_URL`).
 *
 * @example Usage
 * ```ts ignore
 * import { redisTransport } from "@dormant/dormant/redis";
 *
 * const transport = redisTransport("redis://127.0.0.1:6379", { cluster: "chat" });
 * ```
 */
export function redisTransport(
  url: string,
  options: Omit<RedisTransportOptions, "url"> = {},
): RedisTransport {
  return new RedisTransport({ ...options, url });
}
