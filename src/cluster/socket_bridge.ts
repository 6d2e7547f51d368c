/**
 * {@linkcode SocketBridge}: sockets stay on the node that accepted them and
 * reach their object's owner. On the holder, a bridged connection's frames
 * go to the owner with a per-socket sequence number and wait, bounded, for
 * the owner's ack; on the owner, a {@linkcode RemoteSocket} stands in for
 * the socket. Everything one node sends another within one microtask turn
 * goes as one transport message, and a payload sent to several sockets of
 * the same holder is carried once with the list of socket ids.
 *
 * @module
 */

import type { Clock, ClockTimer } from "../clock.ts";
import type { Connection } from "../sockets/connection.ts";
import { TIMESTAMP } from "../sockets/connection_owner.ts";
import {
  ACCEPT_HIBERNATABLE,
  ADOPT,
  AUTO_RESPONSE_AT,
  BIND,
  DIRTY,
  OWNER,
  RECORD_KEY,
  SID,
  TERMINATE,
} from "../sockets/connection_internals.ts";
import type { AutoResponse } from "../sockets/auto_response.ts";
import { BridgeOwner, type HolderLimits, type HolderLink } from "./bridge_owner.ts";
import { RemoteSocket, type RemoteSocketLink } from "./remote_socket.ts";
import { Batches, type BridgeNode, sizeOf } from "./batches.ts";
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

/** Close codes of bridged sockets (on the holder). */
export const CLOSE_OWNER_GONE = 1012;
/** The transport was down longer than the dead-peer time. */
export const CLOSE_TRANSPORT_DOWN = 1011;

/** Options of {@linkcode SocketBridge}. */
export interface SocketBridgeOptions {
  readonly node: BridgeNode;
  readonly clock: Clock;
  readonly limits: HolderLimits;
  /** Whether this node is shutting down (the owner's closes become 1012: the object moves). */
  draining(): boolean;
  /** How long auto-response timestamps are coalesced before they go to the owner. */
  readonly timestampDelayMs: number;
}

interface Held {
  readonly conn: Connection;
  owner: BridgeOwner | null;
  seq: number;
  /** Frames not acked yet: [seq, payload] pairs, oldest first. */
  unacked: Array<[number, string | ArrayBuffer]>;
  unackedBytes: number;
  /** Ops that arrived before the owner's accept reply. */
  pending: Op[] | null;
  closedSent: boolean;
}

/** The holder and owner sides of bridged sockets on one node. */
export class SocketBridge implements HolderLink, RemoteSocketLink {
  readonly #node: BridgeNode;
  readonly #clock: Clock;
  readonly #limits: HolderLimits;
  readonly #draining: () => boolean;
  readonly #tsDelay: number;
  readonly #out: Batches;
  /** Holder side: bridged sockets by id, and the remote objects they belong to. */
  readonly #held = new Map<string, Held>();
  readonly #objects = new Map<string, BridgeOwner>();
  /** Owner side: remote sockets by holder, then by their id on the holder. */
  readonly #remote = new Map<string, Map<string, RemoteSocket>>();
  readonly #stamps = new Set<Held>();
  #stampTimer: ClockTimer | null = null;

  constructor(options: SocketBridgeOptions) {
    this.#node = options.node;
    this.#clock = options.clock;
    this.#limits = options.limits;
    this.#draining = options.draining;
    this.#tsDelay = options.timestampDelayMs;
    this.#out = new Batches(options.node);
  }

  // ---- holder side ----------------------------------------------------------------------------

  /** `conn` is about to be offered to a remote owner: ops for it wait until {@linkcode hold}. */
  expect(conn: Connection): void {
    this.#held.set(conn[SID], {
      conn,
      owner: null,
      seq: 0,
      unacked: [],
      unackedBytes: 0,
      pending: [],
      closedSent: false,
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
    storage: string,
    hex: string,
    auto: AutoResponse | null,
    plain: boolean,
  ): void {
    const held = this.#held.get(conn[SID])!;
    const key = `${storage}/${hex}`;
    let owner = this.#objects.get(key);
    if (owner === undefined || owner.node !== node) {
      owner = new BridgeOwner(this, this.#limits, storage, hex, node);
      this.#objects.set(key, owner);
    }
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
    for (const op of pending) this.#apply(node, op);
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
    this.#out.push(owner.node, { op: OP_FRAME, sid: ws[SID], seq, payload: data });
  }

  closed(owner: BridgeOwner, ws: Connection, code: number, reason: string, clean: boolean): void {
    const held = this.#held.get(ws[SID]);
    if (held === undefined || held.closedSent) return;
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
    this.#held.delete(ws[SID]);
    this.#stamps.delete(held);
    if (--owner.sockets === 0 && this.#objects.get(`${owner.storage}/${owner.hex}`) === owner) {
      this.#objects.delete(`${owner.storage}/${owner.hex}`);
    }
    this.#out.release(owner.node);
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
      if (held.owner !== null && !held.closedSent) {
        this.#out.push(held.owner.node, {
          op: OP_TIMESTAMP,
          sid: ws[SID],
          at: ws[AUTO_RESPONSE_AT],
        });
      }
    }
    this.#stamps.clear();
  }

  // ---- owner side -----------------------------------------------------------------------------

  /**
   * Binds the owner's accepted `server` to a remote socket held by `holder`
   * as `sid`; its records are kept under the holder's `boot`, so they die
   * with the holder's lease.
   */
  bindRemote(
    server: Connection,
    holder: string,
    sid: string,
    boot: string,
    where: { storage: string; hex: string; url: string; protocol: string },
  ): RemoteSocket {
    const socket = new RemoteSocket(this, holder, sid, where.storage, where.hex);
    socket.connection = server;
    server[RECORD_KEY] = [boot, `${sid}.${server[SID]}`];
    let sockets = this.#remote.get(holder);
    if (sockets === undefined) this.#remote.set(holder, sockets = new Map());
    sockets.set(sid, socket);
    this.#out.acquire(holder);
    server[BIND](socket as unknown as globalThis.WebSocket, where.url, where.protocol);
    socket.open();
    return socket;
  }

  send(socket: RemoteSocket, payload: string | ArrayBuffer): void {
    this.#out.send(socket.holder, socket.sid, payload);
  }

  close(socket: RemoteSocket, code: number, reason: string): void {
    // This node is shutting down: the object moves, so the client should reconnect.
    if (this.#draining()) {
      this.#out.push(socket.holder, closeOp(socket.sid, 1012, "Object is moving"));
    } else this.#out.push(socket.holder, closeOp(socket.sid, code, reason));
  }

  /** The object's auto-response changed: every holder of its sockets gets it. */
  autoResponseChanged(storage: string, hex: string, auto: AutoResponse | null): void {
    for (const [holder, sockets] of this.#remote) {
      for (const socket of sockets.values()) {
        if (socket.storage === storage && socket.hex === hex) {
          this.#out.push(holder, { op: OP_AUTO, storage, hex, auto });
          break;
        }
      }
    }
  }

  /** This node no longer owns the object: its remote sockets close with 1012 (clients reconnect). */
  objectLost(storage: string, hex: string): void {
    for (const sockets of this.#remote.values()) {
      for (const socket of sockets.values()) {
        if (socket.storage === storage && socket.hex === hex) {
          socket.connection?.[TERMINATE](1012, "Object moved");
        }
      }
    }
  }

  // ---- both -----------------------------------------------------------------------------------

  /** Ops from `from`, in order. */
  receive(from: string, ops: Op[]): void {
    let acks: Map<string, number> | null = null;
    let gates: Promise<unknown>[] | null = null;
    for (const op of ops) {
      if (op.op === OP_FRAME) {
        const socket = this.#remote.get(from)?.get(op.sid);
        if (socket === undefined) {
          this.#out.push(from, closeOp(op.sid, 1012, "Object moved"));
          continue;
        }
        if (op.seq <= socket.lastSeq) continue; // a duplicate
        socket.lastSeq = op.seq;
        socket.message(op.payload);
        (acks ??= new Map()).set(op.sid, op.seq);
        const gate = socket.connection?.[OWNER]?.outputGate ?? null;
        if (gate !== null) (gates ??= []).push(gate);
      } else this.#apply(from, op);
    }
    if (acks === null) return;
    const ack = () => {
      for (const [sid, seq] of acks) this.#out.push(from, { op: OP_ACK, sid, seq });
    };
    // Acked once the messages are in their object's event order and its pending writes are durable.
    if (gates === null) ack();
    else Promise.all(gates).then(ack, ack);
  }

  #apply(from: string, op: Op): void {
    if (op.op === OP_SEND || op.op === OP_CLOSE || op.op === OP_ACK) {
      for (const sid of op.op === OP_SEND ? op.ids : [op.sid]) {
        const held = this.#held.get(sid);
        if (held !== undefined) applyHeld(held, sid, op);
        else if (op.op !== OP_ACK) this.#unknownHeld(from, sid);
      }
    } else if (op.op === OP_AUTO) {
      const owner = this.#objects.get(`${op.storage}/${op.hex}`);
      if (owner !== undefined) owner.autoResponse = op.auto;
    } else if (op.op === OP_CLOSED) {
      const sockets = this.#remote.get(from);
      const socket = sockets?.get(op.sid);
      if (socket === undefined) return;
      sockets!.delete(op.sid);
      if (sockets!.size === 0) this.#remote.delete(from);
      this.#out.release(from);
      socket.closed(op.code, op.reason, op.clean);
    } else if (op.op === OP_ERROR) this.#remote.get(from)?.get(op.sid)?.error(op.message);
    else if (op.op === OP_TIMESTAMP) {
      const ws = this.#remote.get(from)?.get(op.sid)?.connection;
      if (ws == null) return;
      ws[AUTO_RESPONSE_AT] = op.at;
      if ((ws[DIRTY] & TIMESTAMP) === 0) ws[OWNER]?.onDirty(ws, TIMESTAMP);
    }
  }

  /** The owner sent something for a socket this node no longer holds: it is closed there too. */
  #unknownHeld(from: string, sid: string): void {
    this.#out.push(from, { op: OP_CLOSED, sid, code: 1006, reason: "", clean: false });
  }

  /**
   * `peer` is dead (silent too long) or unreachable (the transport was down
   * too long): sockets it held for objects here close (1006), and sockets
   * held here for objects it owns are closed with 1012, or 1011 when the
   * transport is down.
   */
  peerDead(peer: string, transportDown: boolean): void {
    const sockets = this.#remote.get(peer);
    if (sockets !== undefined) {
      this.#remote.delete(peer);
      for (const socket of sockets.values()) {
        this.#out.release(peer);
        socket.closed(1006, "", false);
      }
    }
    for (const held of [...this.#held.values()]) {
      if (held.owner?.node !== peer) continue;
      held.closedSent = true; // nobody to tell
      held.conn[TERMINATE](
        transportDown ? CLOSE_TRANSPORT_DOWN : CLOSE_OWNER_GONE,
        transportDown ? "Cluster transport down" : "Object owner is gone",
      );
    }
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
    this.flush();
  }

  /** Sends every pending batch now, one transport message per node. */
  flush(): void {
    this.#out.flush();
  }
}

function closeOp(sid: string, code: number, reason: string): Op {
  return { op: OP_CLOSE, sid, code, reason };
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
