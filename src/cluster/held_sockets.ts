/**
 * {@linkcode HeldSockets}: the holder's side of the bridge. Each socket this
 * node accepted for an object another node owns keeps its real socket here;
 * its frames go to the owner with a per-socket sequence number and stay in
 * a bounded resend buffer until the owner acks them. When the owner dies,
 * the socket resumes on the object's new owner (which rebuilds it from its
 * record in KV, and gets the unacknowledged frames again); when that is not
 * possible it closes with 1012, so its client reconnects.
 *
 * @module
 */

import type { Clock, ClockTimer } from "../clock.ts";
import type { AutoResponse } from "../sockets/auto_response.ts";
import type { Connection } from "../sockets/connection.ts";
import { TIMESTAMP } from "../sockets/connection_owner.ts";
import {
  ACCEPT_HIBERNATABLE,
  ADOPT,
  AUTO_RESPONSE_AT,
  DIRTY,
  PLAIN,
  SID,
  TERMINATE,
} from "../sockets/connection_internals.ts";
import { type Batches, sizeOf } from "./batches.ts";
import { BridgeOwner, type HolderLimits, type HolderLink } from "./bridge_owner.ts";
import {
  type Op,
  OP_ACK,
  OP_AUTO,
  OP_CLOSE,
  OP_CLOSED,
  OP_ERROR,
  OP_FRAME,
  OP_SEND,
  OP_TIMESTAMP,
} from "./wire.ts";

/** Unacknowledged frames a holder keeps per socket, in bytes; over it the socket closes with 1013. */
export const RESEND_BUFFER_BYTES = 1024 * 1024;
/** The owner is gone (shut down, moved, or dead with no way to resume): the client reconnects. */
export const CLOSE_OWNER_GONE = 1012;
/** The transport was down longer than the dead-peer time. */
export const CLOSE_TRANSPORT_DOWN = 1011;

/** What a socket resuming on a new owner carries there. */
export interface Resumable {
  readonly storage: string;
  readonly hex: string;
  readonly name: string | undefined;
  readonly sid: string;
  readonly url: string;
  readonly protocol: string;
  /** The owner that died. */
  readonly from: string;
  /** Unacknowledged frames, oldest first. */
  readonly frames: ReadonlyArray<readonly [number, string | ArrayBuffer]>;
}

/** Finds the new owner and moves the socket there: its node and auto-response, or `null`. */
export type Resume = (socket: Resumable) => Promise<
  { node: string; auto: AutoResponse | null } | null
>;

interface Held {
  readonly conn: Connection;
  owner: BridgeOwner | null;
  name: string | undefined;
  seq: number;
  /** Frames not acked yet: [seq, payload] pairs, oldest first. */
  unacked: Array<[number, string | ArrayBuffer]>;
  unackedBytes: number;
  /** Ops that arrived before the owner's accept reply. */
  pending: Op[] | null;
  closedSent: boolean;
  /** Moving to a new owner: frames wait in `unacked`. */
  resuming: boolean;
  /** Ops from other nodes while resuming: the new owner may send before its reply arrives. */
  early: Array<[string, Op]> | null;
  /** Its owner's peer count was given back (it died); a new owner takes it again. */
  detached: boolean;
  gone: boolean;
}

/** The sockets this node holds for objects other nodes own. */
export class HeldSockets implements HolderLink {
  readonly #out: Batches;
  readonly #clock: Clock;
  readonly #limits: HolderLimits;
  readonly #tsDelay: number;
  readonly #resume: Resume | null;
  readonly #held = new Map<string, Held>();
  readonly #objects = new Map<string, BridgeOwner>();
  readonly #stamps = new Set<Held>();
  #stampTimer: ClockTimer | null = null;

  constructor(
    out: Batches,
    clock: Clock,
    limits: HolderLimits,
    timestampDelayMs: number,
    resume: Resume | null,
  ) {
    this.#out = out;
    this.#clock = clock;
    this.#limits = limits;
    this.#tsDelay = timestampDelayMs;
    this.#resume = resume;
  }

  /** `conn` is about to be offered to a remote owner: ops for it wait until {@linkcode hold}. */
  expect(conn: Connection, name: string | undefined): void {
    this.#held.set(conn[SID], {
      conn,
      owner: null,
      name,
      seq: 0,
      unacked: [],
      unackedBytes: 0,
      pending: [],
      closedSent: false,
      resuming: false,
      early: null,
      detached: false,
      gone: false,
    });
  }

  /** The owner refused or did not answer: `conn` is dropped (it was never accepted). */
  abandon(conn: Connection): void {
    this.#held.delete(conn[SID]);
  }

  /** The owner `node` accepted `conn` for object `storage`/`hex`: bridged from now on. */
  hold(
    conn: Connection,
    node: string,
    where: { storage: string; hex: string },
    auto: AutoResponse | null,
    plain: boolean,
  ): void {
    const held = this.#held.get(conn[SID])!;
    const owner = this.#ownerOf(where.storage, where.hex, node);
    owner.autoResponse = auto;
    owner.sockets++;
    held.owner = owner;
    this.#out.acquire(node);
    if (plain) {
      conn.accept();
      conn[ADOPT](owner);
    } else conn[ACCEPT_HIBERNATABLE](owner, [], this.#limits.now());
    const pending = held.pending!;
    held.pending = null;
    for (const op of pending) this.apply(node, op);
  }

  #ownerOf(storage: string, hex: string, node: string): BridgeOwner {
    const key = `${storage}/${hex}`;
    let owner = this.#objects.get(key);
    if (owner === undefined) {
      owner = new BridgeOwner(this, this.#limits, storage, hex, node);
      this.#objects.set(key, owner);
    }
    owner.node = node; // all its sockets follow the object
    return owner;
  }

  frame(owner: BridgeOwner, ws: Connection, data: string | ArrayBuffer): void {
    const held = this.#held.get(ws[SID]);
    if (held === undefined) return;
    const seq = ++held.seq;
    held.unacked.push([seq, data]);
    held.unackedBytes += sizeOf(data);
    if (held.unackedBytes > RESEND_BUFFER_BYTES) {
      return ws[TERMINATE](1013, "Object owner is not keeping up");
    }
    if (!held.resuming) {
      this.#out.push(owner.node, { op: OP_FRAME, sid: ws[SID], seq, payload: data });
    }
  }

  closed(owner: BridgeOwner, ws: Connection, code: number, reason: string, clean: boolean): void {
    const held = this.#held.get(ws[SID]);
    if (held === undefined || held.closedSent || held.resuming) return;
    held.closedSent = true;
    this.#out.push(owner.node, { op: OP_CLOSED, sid: ws[SID], code, reason, clean });
  }

  error(owner: BridgeOwner, ws: Connection, message: string): void {
    this.#out.push(owner.node, { op: OP_ERROR, sid: ws[SID], message });
  }

  gone(owner: BridgeOwner, ws: Connection): void {
    const held = this.#held.get(ws[SID]);
    if (held === undefined) return;
    // Closed without a close event here (shutdown, a dead owner): the owner still gets one.
    this.closed(owner, ws, 1006, "", false);
    held.gone = true;
    this.#held.delete(ws[SID]);
    this.#stamps.delete(held);
    if (--owner.sockets === 0 && this.#objects.get(`${owner.storage}/${owner.hex}`) === owner) {
      this.#objects.delete(`${owner.storage}/${owner.hex}`);
    }
    if (!held.detached) this.#out.release(owner.node);
  }

  timestamp(_owner: BridgeOwner, ws: Connection): void {
    const held = this.#held.get(ws[SID]);
    if (held === undefined) return;
    this.#stamps.add(held);
    // Lazily, coalesced: never one message per ping.
    this.#stampTimer ??= this.#clock.setTimeout(() => this.#sendStamps(), this.#tsDelay);
  }

  #sendStamps(): void {
    this.#stampTimer = null;
    for (const held of this.#stamps) {
      const ws = held.conn;
      ws[DIRTY] &= ~TIMESTAMP;
      if (held.owner !== null && !held.closedSent && !held.resuming) {
        this.#out.push(held.owner.node, {
          op: OP_TIMESTAMP,
          sid: ws[SID],
          at: ws[AUTO_RESPONSE_AT],
        });
      }
    }
    this.#stamps.clear();
  }

  /** An op from the owner `from` for a socket held here. */
  apply(from: string, op: Op): void {
    if (op.op === OP_AUTO) {
      const owner = this.#objects.get(`${op.storage}/${op.hex}`);
      if (owner !== undefined && owner.node === from) owner.autoResponse = op.auto;
      return;
    }
    if (op.op !== OP_SEND && op.op !== OP_CLOSE && op.op !== OP_ACK) return;
    for (const sid of op.op === OP_SEND ? op.ids : [op.sid]) {
      const held = this.#held.get(sid);
      // Unknown here, or from a node that no longer owns the object: that node's socket is closed.
      if (held !== undefined && (held.owner === null || held.owner.node === from)) {
        applyHeld(held, sid, op);
      } else if (held !== undefined && held.resuming) {
        const one: Op = op.op === OP_SEND ? { op: OP_SEND, ids: [sid], payload: op.payload } : op;
        (held.early ??= []).push([from, one]);
      } else if (op.op !== OP_ACK) {
        this.#out.push(from, { op: OP_CLOSED, sid, code: 1006, reason: "", clean: false });
      }
    }
  }

  /**
   * The owner `peer` is dead (silent too long), or unreachable (the
   * transport was down too long: close 1011). A dead owner's hibernatable
   * sockets resume on the object's new owner; the others close with 1012.
   */
  ownerDead(peer: string, transportDown: boolean): void {
    for (const held of [...this.#held.values()]) {
      if (held.owner?.node !== peer || held.resuming) continue;
      if (!transportDown && this.#resume !== null && !held.conn[PLAIN]) {
        this.#moveOn(held, peer);
        continue;
      }
      held.closedSent = true; // nobody to tell
      held.detached = true;
      this.#out.release(peer);
      held.conn[TERMINATE](
        transportDown ? CLOSE_TRANSPORT_DOWN : CLOSE_OWNER_GONE,
        transportDown ? "Cluster transport down" : "Object owner is gone",
      );
    }
  }

  #moveOn(held: Held, peer: string): void {
    const owner = held.owner!;
    held.resuming = true;
    held.detached = true;
    this.#out.release(peer);
    const frames = held.unacked.slice();
    const sent = held.seq;
    this.#resume!({
      storage: owner.storage,
      hex: owner.hex,
      name: held.name,
      sid: held.conn[SID],
      url: held.conn.url ?? "",
      protocol: held.conn.protocol,
      from: peer,
      frames,
    }).catch(() => null).then((moved) => {
      held.resuming = false;
      const early = held.early ?? [];
      held.early = null;
      if (moved === null) {
        if (held.gone) return;
        held.closedSent = true;
        return held.conn[TERMINATE](CLOSE_OWNER_GONE, "Object owner is gone");
      }
      const sid = held.conn[SID];
      if (held.gone) { // closed meanwhile: the new owner's socket closes too
        return this.#out.push(moved.node, {
          op: OP_CLOSED,
          sid,
          code: 1006,
          reason: "",
          clean: false,
        });
      }
      this.#out.acquire(moved.node);
      held.detached = false;
      this.#ownerOf(owner.storage, owner.hex, moved.node).autoResponse = moved.auto;
      for (const [from, op] of early) {
        if (from === moved.node) applyHeld(held, sid, op);
        else if (op.op !== OP_ACK) {
          this.#out.push(from, { op: OP_CLOSED, sid, code: 1006, reason: "", clean: false });
        }
      }
      for (const [seq, payload] of held.unacked) {
        if (seq > sent) this.#out.push(moved.node, { op: OP_FRAME, sid, seq, payload });
      }
    });
  }

  /** Shutdown: every socket held here for a remote owner closes (1001, or 1012 on restart). */
  shutdown(restart: boolean): void {
    for (const held of [...this.#held.values()]) {
      if (held.owner === null) continue;
      this.closed(held.owner, held.conn, 1006, "", false); // the owner hears of it now
      held.conn[TERMINATE](
        restart ? 1012 : 1001,
        restart ? "Server restarting" : "Server shutting down",
      );
    }
    if (this.#stampTimer !== null) this.#clock.clearTimeout(this.#stampTimer);
    this.#stampTimer = null;
  }
}

/** A send, close or ack from the owner for a socket held here (kept until the accept if early). */
function applyHeld(held: Held, sid: string, op: Op): void {
  if (held.pending !== null) {
    if (op.op === OP_SEND) held.pending.push({ op: OP_SEND, ids: [sid], payload: op.payload });
    else if (op.op === OP_CLOSE) held.pending.push(op);
  } else if (op.op === OP_SEND) held.conn.send(op.payload);
  else if (op.op === OP_CLOSE) {
    try {
      held.conn.close(op.code, op.reason);
    } catch {
      held.conn.close(1011, "Object owner closed with an invalid code");
    }
  } else if (op.op === OP_ACK) {
    let n = 0;
    while (n < held.unacked.length && held.unacked[n]![0] <= op.seq) {
      held.unackedBytes -= sizeOf(held.unacked[n]![1]);
      n++;
    }
    if (n > 0) held.unacked.splice(0, n);
  }
}
