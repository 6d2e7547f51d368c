/**
 * {@linkcode Batches}: what one node sends the others, gathered per node
 * within one microtask turn and sent as one transport message each; a send
 * of the same payload as the op before it adds its socket id to that op, so
 * a broadcast carries its payload once per node. It also counts the sockets
 * shared with each peer, so the node watches exactly the peers it shares
 * sockets with.
 *
 * @module
 */

import { encodeOps, type Op, OP_SEND } from "./wire.ts";

/** What the batches are sent through and peers are watched with (the cluster node). */
export interface BridgeNode {
  send(to: string, bytes: Uint8Array): void;
  watch(node: string): void;
  unwatch(node: string): void;
}

/** An upper bound of a payload in bytes. */
export function sizeOf(payload: string | ArrayBuffer): number {
  return typeof payload === "string" ? payload.length * 3 : payload.byteLength;
}

/** Whether two payloads are the same message. */
export function samePayload(a: string | ArrayBuffer, b: string | ArrayBuffer): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (a === b) return true;
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Pending ops per node, and sockets shared per peer. */
export class Batches {
  readonly #node: BridgeNode;
  readonly #out = new Map<string, Op[]>();
  readonly #peers = new Map<string, number>();
  #scheduled = false;

  constructor(node: BridgeNode) {
    this.#node = node;
  }

  /** Queues `op` for `to`; the batch goes at the end of this microtask turn. */
  push(to: string, op: Op): void {
    let ops = this.#out.get(to);
    if (ops === undefined) this.#out.set(to, ops = []);
    ops.push(op);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Queues a send of `payload` to socket `sid` of `to`, merged with an identical send before it. */
  send(to: string, sid: string, payload: string | ArrayBuffer): void {
    const ops = this.#out.get(to);
    const last = ops?.[ops.length - 1];
    if (last?.op === OP_SEND && samePayload(last.payload, payload)) {
      last.ids.push(sid); // a broadcast: the payload travels once
      return;
    }
    this.push(to, { op: OP_SEND, ids: [sid], payload });
  }

  /** Sends every pending batch now, one transport message per node. */
  flush(): void {
    this.#scheduled = false;
    for (const [to, ops] of this.#out) this.#node.send(to, encodeOps(ops));
    this.#out.clear();
  }

  /** One more socket is shared with `peer`. */
  acquire(peer: string): void {
    const n = this.#peers.get(peer) ?? 0;
    if (n === 0) this.#node.watch(peer);
    this.#peers.set(peer, n + 1);
  }

  /** One socket fewer is shared with `peer`. */
  release(peer: string): void {
    const n = (this.#peers.get(peer) ?? 1) - 1;
    if (n > 0) return void this.#peers.set(peer, n);
    this.#peers.delete(peer);
    this.#node.unwatch(peer);
  }
}
