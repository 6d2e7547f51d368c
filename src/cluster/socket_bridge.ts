/**
 * {@linkcode SocketBridge}: sockets stay on the node that accepted them and
 * reach their object's owner. On the holder, {@linkcode HeldSockets} keeps
 * the real sockets and forwards their frames; on the owner, a
 * {@linkcode RemoteSocket} stands in for each socket another node holds.
 * Everything one node sends another within one microtask turn goes as one
 * transport message, and a payload sent to several sockets of the same
 * holder is carried once with the list of socket ids.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { AutoResponse } from "../sockets/auto_response.ts";
import type { Connection } from "../sockets/connection.ts";
import { TIMESTAMP } from "../sockets/connection_owner.ts";
import {
  AUTO_RESPONSE_AT,
  BIND,
  DIRTY,
  OWNER,
  RECORD_KEY,
  SID,
  TERMINATE,
} from "../sockets/connection_internals.ts";
import { Batches, type BridgeNode } from "./batches.ts";
import type { HolderLimits } from "./bridge_owner.ts";
import { HeldSockets, type Resume } from "./held_sockets.ts";
import { RemoteSocket, type RemoteSocketLink } from "./remote_socket.ts";
import {
  type Op,
  OP_ACK,
  OP_AUTO,
  OP_CLOSE,
  OP_CLOSED,
  OP_ERROR,
  OP_FRAME,
  OP_TIMESTAMP,
} from "./wire.ts";

/** Options of {@linkcode SocketBridge}. */
export interface SocketBridgeOptions {
  readonly node: BridgeNode;
  readonly clock: Clock;
  readonly limits: HolderLimits;
  /** Whether this node is shutting down (the owner's closes become 1012: the object moves). */
  draining(): boolean;
  /** How long auto-response timestamps are coalesced before they go to the owner. */
  readonly timestampDelayMs: number;
  /** Moves a socket whose owner died to the object's new owner; without it such sockets close. */
  readonly resume?: Resume;
}

/** The holder and owner sides of bridged sockets on one node. */
export class SocketBridge implements RemoteSocketLink {
  /** The holder side: sockets this node holds for objects other nodes own. */
  readonly held: HeldSockets;
  readonly #draining: () => boolean;
  readonly #out: Batches;
  /** Owner side: remote sockets by holder, then by their id on the holder. */
  readonly #remote = new Map<string, Map<string, RemoteSocket>>();

  constructor(options: SocketBridgeOptions) {
    this.#draining = options.draining;
    this.#out = new Batches(options.node);
    this.held = new HeldSockets(
      this.#out,
      options.clock,
      options.limits,
      options.timestampDelayMs,
      options.resume ?? null,
    );
  }

  /**
   * Binds the owner's accepted `server` to a remote socket held by `holder`
   * as `sid`; its records are kept under the holder's `boot` (so they die
   * with the holder's lease), as `recordSid` when it resumes an earlier one.
   */
  bindRemote(
    server: Connection,
    holder: string,
    sid: string,
    boot: string,
    where: { storage: string; hex: string; url: string; protocol: string; recordSid?: string },
  ): RemoteSocket {
    const socket = new RemoteSocket(this, holder, sid, where.storage, where.hex);
    socket.connection = server;
    server[RECORD_KEY] = [boot, where.recordSid ?? `${sid}.${server[SID]}`];
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
    if (op.op === OP_CLOSED) {
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
    } else this.held.apply(from, op);
  }

  /**
   * `peer` is dead (silent too long) or unreachable (the transport was down
   * too long): sockets it held for objects here close (1006); sockets held
   * here for objects it owns resume elsewhere or close (see {@linkcode HeldSockets.ownerDead}).
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
    this.held.ownerDead(peer, transportDown);
  }

  /** Shutdown: every socket held here for a remote owner closes (1001, or 1012 on restart). */
  shutdown(restart: boolean): void {
    this.held.shutdown(restart);
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
