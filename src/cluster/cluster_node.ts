/**
 * One node's end of the cluster: requests with correlation ids and a
 * timeout, replies, socket-op batches handed to the bridge, and liveness.
 * A node beats to every peer it shares sockets with; a peer not heard from
 * for `deadMs` is dead, and so is every peer while the transport has been
 * down that long.
 *
 * @module
 */

import type { Clock, ClockTimer } from "../clock.ts";
import type { Transport } from "./transport.ts";
import {
  BEAT,
  decodeMessage,
  encodeBeat,
  encodeReply,
  encodeRequest,
  FAILED,
  type Op,
  OPS,
  REPLY,
  REQUEST,
} from "./wire.ts";

/** A reply: its status (`OK`, `FAILED`, `NOT_OWNER`) and body. */
export interface Reply {
  readonly status: number;
  readonly body: unknown;
}

/** What a node does with what arrives. */
export interface NodeHandlers {
  /** Serves a request from `from`. */
  serve(from: string, body: unknown): Promise<Reply>;
  /** Socket ops from `from`, in order. */
  ops(from: string, ops: Op[]): void;
  /**
   * `node` is dead (silent for too long), or unreachable (`transportDown`: the
   * transport was down too long, or came back after an outage that may have
   * lost messages either way).
   */
  peerDead(node: string, transportDown: boolean): void;
  /** Reports a failure that has no caller. */
  report(error: unknown, operation: string): void;
}

/** Options of {@linkcode ClusterNode}. */
export interface ClusterNodeOptions {
  readonly node: string;
  readonly transport: Transport;
  readonly clock: Clock;
  /** A request without a reply after this fails (the caller re-resolves once). */
  readonly requestTimeoutMs: number;
  /** A peer silent for this long (or the transport down for this long) is dead. */
  readonly deadMs: number;
  readonly handlers: NodeHandlers;
}

/** A request that got no reply in time, or could not be sent. */
export class NoReply extends Error {}

interface Pending {
  readonly to: string;
  resolve(reply: Reply): void;
  reject(error: unknown): void;
  timer: ClockTimer;
}

/** Requests, replies and liveness over one transport. */
export class ClusterNode {
  /** This node's id on the transport (changes when the node rejoins). */
  node: string;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #deadMs: number;
  readonly #handlers: NodeHandlers;
  readonly #pending = new Map<number, Pending>();
  /** Watched peers (sockets shared, requests pending either way) → when last heard from. */
  readonly #peers = new Map<string, number>();
  /** How many reasons each peer is watched for. */
  readonly #watchers = new Map<string, number>();
  #nextId = 1;
  #beat: ClockTimer | null = null;
  #downSince: number | null = null;
  #closed = false;

  constructor(options: ClusterNodeOptions) {
    this.node = options.node;
    this.#transport = options.transport;
    this.#clock = options.clock;
    this.#timeoutMs = options.requestTimeoutMs;
    this.#deadMs = options.deadMs;
    this.#handlers = options.handlers;
  }

  /** Starts listening; resolves once messages reach this node. */
  async start(): Promise<void> {
    this.#transport.onStatus((status) => {
      if (status === "down") this.#downSince ??= this.#clock.now();
      else if (this.#downSince !== null) {
        this.#downSince = null;
        // Messages sent while it was down are gone in both directions (the owner's sends to a
        // held socket carry no sequence number), so every peer counts as lost: bridged sockets
        // close with a clear code instead of staying open with a gap.
        this.#lose([...this.#peers.keys()], true);
      }
    });
    if (this.#transport.status === "down") this.#downSince = this.#clock.now();
    await this.#transport.listen(this.node, (from, bytes) => this.#receive(from, bytes));
    this.#scheduleBeat();
  }

  /**
   * The node rejoined the cluster under the id `node` (its lease was lost):
   * the transport listens on it from now on, and the old id goes silent.
   */
  async rejoin(node: string): Promise<void> {
    if (this.#closed || node === this.node) return;
    this.node = node;
    await this.#transport.listen(node, (from, bytes) => this.#receive(from, bytes));
  }

  /** Whether the transport can deliver now. */
  get up(): boolean {
    return this.#transport.status === "up";
  }

  /**
   * Sends `body` to `to` and resolves to its reply. Rejects with
   * {@linkcode NoReply} when `to` dies meanwhile (both ends beat while a
   * request is pending, so a long call on a live node never times out that
   * way) or after the request timeout, a safety net.
   */
  request(to: string, body: unknown): Promise<Reply> {
    if (this.#closed) return Promise.reject(new NoReply("this node is shutting down"));
    const id = this.#nextId++;
    if (this.#nextId > 0xffff_fff0) this.#nextId = 1;
    const bytes = encodeRequest(id, body); // throws for what cannot be cloned, before sending
    return new Promise<Reply>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.#settle(id)?.reject(new NoReply(`no reply within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, { to, resolve, reject, timer });
      this.watch(to);
      this.#transport.send(to, bytes);
    });
  }

  #settle(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    if (pending === undefined) return undefined;
    this.#pending.delete(id);
    this.#clock.clearTimeout(pending.timer);
    this.unwatch(pending.to);
    return pending;
  }

  /** Sends raw bytes (a batch of ops) to `to`. */
  send(to: string, bytes: Uint8Array): void {
    this.#transport.send(to, bytes);
  }

  /** One more reason to beat to `node` and watch that it beats back (counted). */
  watch(node: string): void {
    this.#watchers.set(node, (this.#watchers.get(node) ?? 0) + 1);
    if (!this.#peers.has(node)) this.#peers.set(node, this.#clock.now());
  }

  /** One reason fewer to watch `node`. */
  unwatch(node: string): void {
    const n = (this.#watchers.get(node) ?? 1) - 1;
    if (n > 0) return void this.#watchers.set(node, n);
    this.#watchers.delete(node);
    this.#peers.delete(node);
  }

  #receive(from: string, bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#peers.has(from)) this.#peers.set(from, this.#clock.now());
    let message;
    try {
      message = decodeMessage(bytes);
    } catch (error) {
      return this.#handlers.report(error, "cluster.receive");
    }
    switch (message.kind) {
      case REQUEST: {
        const id = message.id;
        this.watch(from); // the caller watches us meanwhile: beat to it
        this.#handlers.serve(from, message.body).then(
          (reply) => this.#reply(from, id, reply.status, reply.body),
          (error) => this.#reply(from, id, FAILED, errorBody(error)),
        ).finally(() => this.unwatch(from));
        return;
      }
      case REPLY: // unknown once timed out
        return this.#settle(message.id)?.resolve({ status: message.status, body: message.body });
      case OPS:
        return this.#handlers.ops(from, message.ops);
      case BEAT:
        return;
    }
  }

  #reply(to: string, id: number, status: number, body: unknown): void {
    let bytes: Uint8Array;
    try {
      bytes = encodeReply(id, status, body);
    } catch (error) {
      bytes = encodeReply(id, FAILED, errorBody(error));
    }
    this.#transport.send(to, bytes);
  }

  #scheduleBeat(): void {
    if (this.#closed) return;
    this.#beat = this.#clock.setTimeout(() => {
      this.#beat = null;
      this.#tick();
      this.#scheduleBeat();
    }, Math.max(1, Math.floor(this.#deadMs / 3)));
  }

  #tick(): void {
    const now = this.#clock.now();
    const down = this.#downSince !== null && now - this.#downSince >= this.#deadMs;
    const beat = encodeBeat();
    const dead: string[] = [];
    for (const [peer, heard] of this.#peers) {
      if (down || now - heard >= this.#deadMs) dead.push(peer);
      else this.#transport.send(peer, beat);
    }
    this.#lose(dead, this.#transport.status !== "up");
  }

  #lose(peers: string[], transportDown: boolean): void {
    for (const peer of peers) {
      this.#peers.delete(peer);
      this.#watchers.delete(peer);
      for (const [id, pending] of [...this.#pending]) {
        if (pending.to === peer) this.#settle(id)?.reject(new NoReply(`node ${peer} is gone`));
      }
      this.#handlers.peerDead(peer, transportDown);
    }
  }

  /** Fails pending requests, stops beating and closes the transport. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#beat !== null) this.#clock.clearTimeout(this.#beat);
    for (const pending of this.#pending.values()) {
      this.#clock.clearTimeout(pending.timer);
      pending.reject(new NoReply("this node is shutting down"));
    }
    this.#pending.clear();
    await this.#transport.close();
  }
}

/** An error as a reply body: its name and message survive, as for an RPC error in one process. */
export function errorBody(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}

/** The error a reply body stands for, rebuilt with its name. */
export function errorFrom(body: unknown): Error {
  const { name, message } = body as { name: string; message: string };
  const Ctor = ({ TypeError, RangeError, SyntaxError, ReferenceError } as Record<
    string,
    ErrorConstructor
  >)[name];
  let error: Error;
  if (Ctor !== undefined) error = new Ctor(message);
  else if (name === "DataCloneError") error = new DOMException(message, "DataCloneError");
  else {
    error = new Error(message);
    error.name = name;
  }
  return error;
}
