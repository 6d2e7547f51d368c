import type { WebSocket } from "../types.ts";
import { utf8Length } from "./tags.ts";
import { matchesAutoResponse, responseBound } from "./auto_response.ts";
import { type ConnectionOwner, TIMESTAMP } from "./connection_owner.ts";
import {
  ADOPT,
  AUTO_RESPONSE_AT,
  BIND,
  BOUND,
  DETACH,
  DIRTY,
  FAIL_UPGRADE,
  OWNER,
  RELEASE,
  SESSION,
  SOCKET_CLOSE,
  SOCKET_ERROR,
  SOCKET_MESSAGE,
  SOCKET_OPEN,
  TAKE_QUEUED,
  TERMINATE,
} from "./connection_internals.ts";
import type { SessionHook } from "./session_hook.ts";
import { Outbox, sizeBound } from "./outbox.ts";
import { checkCloseArguments, SocketListener } from "./socket_events.ts";

// Lifecycle: CREATED (pair made, not accepted) → OPEN (accepted; maybe not yet
// upgraded) → CLOSING (close begun) → CLOSED.
const CREATED = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** Moves a socket from CREATED to OPEN, as `accept()` or `acceptWebSocket()` does: `(hibernatable)`. */
export const OPENED: unique symbol = Symbol("dormant.opened");

/**
 * The server end of one WebSocket, the part of a `Connection` that talks to
 * Deno's socket: its state, the outbound path and the inbound one.
 *
 * Every outgoing message takes one path: straight to Deno's socket when it is
 * open and no storage write is pending, else into the {@linkcode Outbox}
 * (written in order once the socket is open and the writes are durable: the
 * pre-open queue and the output-gate hold are one queue). Both count against
 * the owner's `maxBufferedBytes` (backpressure). Incoming data messages are
 * answered by the auto-response, refused over the size cap, or delivered to
 * the owner; the {@linkcode SocketListener} maps Deno's events to these.
 */
export class ServerSocket
  implements
    Pick<WebSocket, "readyState" | "url" | "protocol" | "bufferedAmount" | "send" | "close"> {
  /** Dirty bits for the write-behind store. */
  [DIRTY] = 0;
  /** Last auto-response match (clock time), 0 for never. */
  [AUTO_RESPONSE_AT] = 0;

  #owner: ConnectionOwner | null = null;
  #state = CREATED;
  // Accepted with ctx.acceptWebSocket(): auto-responses apply.
  #hibernatable = false;
  // The object called close(): send() throws from then on (Cloudflare).
  #closeCalled = false;
  #live: globalThis.WebSocket | null = null;
  #listener: SocketListener | null = null;
  #outbox: Outbox | null = null;
  // Waiting for a pending storage write before the outbox may go out.
  #gated = false;
  // Bytes send() may queue before bufferedAmount + the outbox could pass the cap; < 0: read again.
  #sendBudget = -1;
  #url: string | null = null;
  #protocol = "";
  #delivered = false;
  #gone = false;
  [SESSION]: SessionHook | null = null;

  /** 1 while open (also between accept and upgrade), 2 while closing, 3 when closed. */
  get readyState(): number {
    return this.#state === CREATED ? 0 : this.#state;
  }

  /** The URL the client connected to, once upgraded. */
  get url(): string | null {
    return this.#url;
  }

  /** The negotiated subprotocol (Deno's server socket does not remember it). */
  get protocol(): string {
    return this.#protocol;
  }

  /** Bytes queued by `send()` and not yet written (held by the output gate included). */
  get bufferedAmount(): number {
    return (this.#live?.bufferedAmount ?? 0) + (this.#outbox?.bytes ?? 0);
  }

  /**
   * Sends a message; queued until the upgraded socket opens and until pending
   * storage writes are durable. Throws after the object's own `close()`.
   */
  send(message: string | ArrayBuffer | ArrayBufferView): void {
    if (this[SESSION] === null || this.#state !== OPEN) this[RELEASE](message);
    else this[SESSION].send(message);
  }

  [RELEASE](message: string | ArrayBuffer | ArrayBufferView): void { // the path without session
    const live = this.#live;
    if (live !== null && this.#outbox === null && this.#state === OPEN) {
      const owner = this.#owner!;
      if (owner.outputGate === null) {
        // Deno's bufferedAmount grows without bound: cap it ourselves. Reading it is an op
        // call, so it is read only once the bytes sent since the last read could have passed the cap.
        if (this.#sendBudget < 0) {
          const buffered = live.bufferedAmount;
          if (buffered > owner.maxBufferedBytes) return this.#overBuffered(owner);
          this.#sendBudget = owner.maxBufferedBytes - buffered;
        }
        this.#sendBudget -= sizeBound(message);
        live.send(message as string);
        return;
      }
    }
    this.#queue(message);
  }

  // The outbox path: before the socket opens, or while a write is pending. The same budget
  // applies, counting what the outbox holds, so the output gate cannot bypass backpressure.
  #queue(message: unknown): void {
    if (this.#state !== OPEN) {
      if (this.#state === CREATED) {
        throw new TypeError(
          "Cannot send on a WebSocket that was not accepted: call ctx.acceptWebSocket() first",
        );
      }
      if (this.#closeCalled) throw new TypeError("Can't call WebSocket send() after close().");
      // Closed by the peer (Deno already answered its Close) or terminated by the
      // framework (backpressure, reset, shutdown): a no-op, as on Deno.
      return;
    }
    const owner = this.#owner; // null only for an accept()ed socket before its upgrade
    if (owner !== null) {
      if (this.#sendBudget < 0) {
        const queued = this.bufferedAmount;
        if (queued > owner.maxBufferedBytes) return this.#overBuffered(owner);
        this.#sendBudget = owner.maxBufferedBytes - queued;
      }
      this.#sendBudget -= sizeBound(message);
    }
    (this.#outbox ??= new Outbox()).push(message);
    this.#flush();
  }

  // Cloudflare's output gate: a message sent while a storage write is pending
  // goes out only once that write is durable, so clients never see effects of
  // writes that could still be lost. If the write fails, the held messages are
  // never sent and the socket closes with 1011, so the client resynchronizes.
  #flush(): void {
    if (this.#gated) return;
    const gate = this.#owner?.outputGate ?? null;
    if (gate !== null) {
      this.#gated = true;
      gate.then(() => {
        this.#gated = false;
        this.#flush(); // waits again if another write started meanwhile
      }, () => {
        this.#gated = false;
        if (!this.#delivered) this[TERMINATE](1011, "Storage write failed");
      });
      return;
    }
    const live = this.#live;
    const outbox = this.#outbox;
    if (live === null || outbox === null) return; // the open event flushes
    this.#outbox = null;
    outbox.writeTo(live);
  }

  /** Starts the closing handshake; a no-op once closing or closed. */
  close(code?: number, reason?: string): void {
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    checkCloseArguments(code, reason);
    if (this.#state === CREATED) {
      throw new TypeError(
        "Cannot close a WebSocket that was not accepted: call ctx.acceptWebSocket() first",
      );
    }
    if (this[SESSION] !== null && this.#listener === null) return this[FAIL_UPGRADE](); // detached
    this.#leave();
    this.#closeCalled = true;
    if (this.#outbox !== null) this.#outbox.close(code, reason); // after the queue
    else if (this.#live !== null) this.#live.close(code, reason);
    else this.#outbox = Outbox.closing(code, reason);
  }

  /** The accepting object, once accepted (or adopted). */
  get [OWNER](): ConnectionOwner | null {
    return this.#owner;
  }

  /** Gives the socket its owner: `acceptWebSocket()`, or an upgrade adopting an `accept()`ed one. */
  [ADOPT](owner: ConnectionOwner): void {
    this.#owner = owner;
  }

  /** Accepted: open from now on (also before the upgrade). */
  [OPENED](hibernatable: boolean): void {
    this.#hibernatable = hibernatable;
    this.#state = OPEN;
  }

  /** Whether the socket was upgraded and bound to a runtime socket. */
  get [BOUND](): boolean {
    return this.#listener !== null;
  }

  /** Binds the upgraded runtime socket. Queued sends go out once it opens. */
  [BIND](socket: globalThis.WebSocket, url: string, protocol: string): void {
    this.#url = url;
    this.#protocol = protocol;
    socket.binaryType = "arraybuffer";
    this.#listener = new SocketListener(this, socket);
  }

  /** The upgrade failed: drop the queue and report a 1006 close. */
  [FAIL_UPGRADE](): void {
    this.#outbox = null;
    this.#leave();
    this.#state = CLOSED;
    this.#finish(1006, "", false);
    this.#markGone();
  }

  /**
   * Closes without waiting for the client and without any further event
   * (shutdown, over-limit). The descriptor stays counted until really gone.
   */
  [TERMINATE](code: number, reason: string): void {
    const keep = this.#state === OPEN && (this.#live !== null || this.#listener === null); // not mid-upgrade
    if (keep && this[SESSION]?.dropped(1006)) return this[DETACH](code, reason); // stays open, detached
    this.#delivered = true;
    this.#leave();
    if (this.#state === CLOSED) return;
    // What the outbox holds is dropped: later sends are no-ops.
    if (this.#live !== null) {
      this.#outbox = null;
      this.#live.close(code, reason);
    } else this.#outbox = Outbox.closing(code, reason); // written once the socket opens
  }

  // ---- Deno's events, mapped by the SocketListener --------------------------------------------

  /** The runtime socket opened: the outbox goes out. */
  [SOCKET_OPEN](socket: globalThis.WebSocket): void {
    this.#live = socket;
    if (this.#outbox !== null) this.#flush();
  }

  /** A data message: answered by the auto-response, refused over the cap, or delivered. */
  [SOCKET_MESSAGE](data: string | ArrayBuffer): void {
    const owner = this.#owner;
    if (owner === null || this.#delivered) return;
    let size: number;
    if (typeof data === "string") {
      const auto = owner.autoResponse;
      if (matchesAutoResponse(auto, data, this.#hibernatable)) {
        // Answered here, without waking or queueing the object. After the
        // server's own close() a match is swallowed, as on workerd.
        if (this.#state === OPEN && this.#live !== null) {
          this.#sendBudget -= responseBound(auto);
          this.#live.send(auto.response);
        }
        this[AUTO_RESPONSE_AT] = owner.now();
        if ((this[DIRTY] & TIMESTAMP) === 0) owner.onDirty(this, TIMESTAMP);
        return;
      }
      // Only measure bytes when the length alone cannot rule out the cap.
      size = data.length * 3 > owner.maxMessageBytes ? utf8Length(data) : 0;
    } else {
      size = data.byteLength;
    }
    if (size <= owner.maxMessageBytes) return owner.onMessage(this, data);
    this.#delivered = true;
    this.#leave();
    this.#live?.close(1009, "Message is too large");
    owner.onError(this, new Error(`Message is too large: ${size} > ${owner.maxMessageBytes}`));
  }

  /** A protocol error: `webSocketError`, and no close event after it. */
  [SOCKET_ERROR](message: string): void {
    if (this.#delivered || this.#owner === null) return;
    this.#delivered = true;
    this.#leave();
    this.#owner.onError(this, new Error(message));
  }

  /** The runtime socket closed (again after an idle timeout: delivered once). */
  [SOCKET_CLOSE](code: number, reason: string, wasClean: boolean): void {
    if (this.#state === OPEN && this[SESSION]?.dropped(code)) return this[DETACH]();
    if (this.#state !== CLOSED) {
      if (this.#state === OPEN) this.#owner?.onLeave(this);
      this.#state = CLOSED;
      this.#live = null;
      this.#outbox = null; // held messages can no longer go out
      this.#finish(code, reason, wasClean);
    }
    this.#markGone();
  }

  /** The messages queued before the upgrade, taken out (a new session logs them). */
  [TAKE_QUEUED](): unknown[] {
    const messages = this.#outbox?.messages() ?? [];
    this.#outbox = null;
    return messages;
  }

  /** Ends the connection (with `code` if still connected); the socket stays open, detached. */
  [DETACH](code?: number, reason?: string): void {
    if (this.#listener === null) return;
    this.#owner?.onDetach(this); // while still bound: frees the connection's slot
    this.#listener.stop();
    if (code !== undefined) this.#live?.close(code, reason);
    this.#listener = this.#live = this.#outbox = null;
  }

  // OPEN → CLOSING, and off the object's lists.
  #leave(): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    this.#owner?.onLeave(this);
  }

  #overBuffered(owner: ConnectionOwner): void {
    if (owner.backpressure === "drop" && this[SESSION] === null) return; // a session cannot skip one
    this[TERMINATE](1013, "Send buffer full");
  }

  #finish(code: number, reason: string, wasClean: boolean): void {
    if (this.#delivered) return;
    this.#delivered = true;
    this.#owner?.onClose(this, code, reason, wasClean);
  }

  #markGone(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#listener?.stop();
    this.#owner?.onGone(this);
  }
}
