/**
 * {@linkcode BridgeOwner}: on the node that holds a socket, the owner its
 * connection delivers to when the object lives on another node. Messages
 * go to the owner as frames; the auto-response is the owner's, pushed here,
 * so pings are answered on this node with no hop; the output gate is the
 * owner's business (it held its sends already), so there is none here;
 * backpressure applies here, where the bytes queue.
 *
 * @module
 */

import type { AutoResponse } from "../sockets/auto_response.ts";
import type { ConnectionOwner } from "../sockets/connection_owner.ts";
import type { Connection } from "../sockets/connection.ts";

/** What a bridge owner hands its sockets' events to (the socket bridge). */
export interface HolderLink {
  frame(owner: BridgeOwner, ws: Connection, data: string | ArrayBuffer): void;
  closed(owner: BridgeOwner, ws: Connection, code: number, reason: string, clean: boolean): void;
  error(owner: BridgeOwner, ws: Connection, message: string): void;
  gone(owner: BridgeOwner, ws: Connection): void;
  timestamp(owner: BridgeOwner, ws: Connection): void;
}

/** The limits and clock of this node's app. */
export interface HolderLimits {
  readonly maxMessageBytes: number;
  readonly maxAttachmentBytes: number;
  readonly maxBufferedBytes: number;
  readonly backpressure: "close" | "drop";
  now(): number;
  /** The socket's descriptor is gone: release its connection slot. */
  socketGone(ws: Connection): void;
}

/** One remote object's owner, as the sockets this node holds for it see it. */
export class BridgeOwner implements ConnectionOwner {
  /** The object's storage name and id. */
  readonly storage: string;
  readonly hex: string;
  /** The node that owns the object now. */
  node: string;
  /** The owner's auto-response (pushed by the owner on accept and on every change). */
  autoResponse: AutoResponse | null = null;
  /** Sockets of this object held here. */
  sockets = 0;
  readonly maxMessageBytes: number;
  readonly maxAttachmentBytes: number;
  readonly maxBufferedBytes: number;
  readonly backpressure: "close" | "drop";
  readonly #limits: HolderLimits;
  readonly #link: HolderLink;

  constructor(link: HolderLink, limits: HolderLimits, storage: string, hex: string, node: string) {
    this.#link = link;
    this.#limits = limits;
    this.storage = storage;
    this.hex = hex;
    this.node = node;
    this.maxMessageBytes = limits.maxMessageBytes;
    this.maxAttachmentBytes = limits.maxAttachmentBytes;
    this.maxBufferedBytes = limits.maxBufferedBytes;
    this.backpressure = limits.backpressure;
  }

  /** None here: the owner released its sends only once its writes were durable. */
  get outputGate(): null {
    return null;
  }

  now(): number {
    return this.#limits.now();
  }

  onMessage(ws: Connection, message: string | ArrayBuffer): void {
    this.#link.frame(this, ws, message);
  }

  onClose(ws: Connection, code: number, reason: string, wasClean: boolean): void {
    this.#link.closed(this, ws, code, reason, wasClean);
  }

  onError(ws: Connection, error: Error): void {
    this.#link.error(this, ws, error.message);
  }

  onLeave(_ws: Connection): void {}

  onDetach(ws: Connection): void {
    // Sessions are kept where the object runs, never on a holder: nothing detaches here.
    this.#limits.socketGone(ws);
  }

  onGone(ws: Connection): void {
    this.#link.gone(this, ws);
    this.#limits.socketGone(ws);
  }

  onDirty(ws: Connection, _what: number): void {
    // Only the auto-response timestamp changes here (nobody here can set tags or attachments).
    this.#link.timestamp(this, ws);
  }
}
