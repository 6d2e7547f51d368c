import type { WebSocket, WebSocketEventListener, WebSocketEventMap } from "../types.ts";
import { decodeAttachment, DEFAULT_MAX_ATTACHMENT_BYTES, encodeAttachment } from "./attachment.ts";
import { markNotCloneable } from "../objects/structured_codec.ts";
import { utf8Length } from "./tags.ts";

/** What a connection needs from the object that accepted it. */
export interface ConnectionOwner {
  /** The current auto-response, checked before any dispatch. */
  readonly autoResponse: { readonly request: string; readonly response: string } | null;
  /** Received messages above this size are refused with 1009. */
  readonly maxMessageBytes: number;
  /** Attachment size limit. */
  readonly maxAttachmentBytes: number;
  /** Queued outgoing bytes above which `send()` applies backpressure. */
  readonly maxBufferedBytes: number;
  /** Close the socket with 1013 (`"close"`) or drop the message (`"drop"`) over that cap. */
  readonly backpressure: "close" | "drop";
  /** A pending storage write that outgoing messages must wait for (output gate), or `null`. */
  readonly outputGate: Promise<unknown> | null;
  /** The clock's time. */
  now(): number;
  /** A data message to deliver. */
  onMessage(ws: Connection, message: string | ArrayBuffer): void;
  /** The socket closed; deliver `webSocketClose` (already mapped). */
  onClose(ws: Connection, code: number, reason: string, wasClean: boolean): void;
  /** A protocol error; deliver `webSocketError`, never followed by a close event. */
  onError(ws: Connection, error: Error): void;
  /** The socket stopped being open (close begun by either side): drop it from the lists. */
  onLeave(ws: Connection): void;
  /** The descriptor is really gone. */
  onGone(ws: Connection): void;
  /** The socket's persisted record changed (`RECORD`) or only its timestamp (`TIMESTAMP`). */
  onDirty(ws: Connection, what: number): void;
}

/**
 * Framework-internal, not exported from the package: marks a connection
 * accepted by `ctx.acceptWebSocket()` (hibernatable). A symbol, so the
 * public `accept()` (Cloudflare's non-hibernatable API) cannot reach it.
 */
export const ACCEPT_HIBERNATABLE: unique symbol = Symbol("dormant.acceptHibernatable");
/** Framework-internal: gives an `accept()`ed connection its owner, when the upgrade binds it. */
export const ADOPT: unique symbol = Symbol("dormant.adopt");
/** Framework-internal: whether the connection was accepted with `accept()` (not hibernatable). */
export const PLAIN: unique symbol = Symbol("dormant.plain");
/** Framework-internal: the listeners of an event type, in order (`once` ones removed). */
export const LISTENERS: unique symbol = Symbol("dormant.listeners");

/** A listener as `addEventListener()` takes it. */
export type Listener = WebSocketEventListener<Event>;

interface ListenerEntry {
  readonly listener: Listener;
  readonly once: boolean;
}

/** Dirty flags passed to {@linkcode ConnectionOwner.onDirty}. */
export const RECORD = 1;
/** Only the auto-response timestamp changed: persisted lazily, never flushes on its own. */
export const TIMESTAMP = 2;

// Lifecycle: CREATED (pair made, not accepted) → OPEN (accepted; maybe not yet
// upgraded) → CLOSING (close begun) → CLOSED.
const CREATED = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

// How the connection was accepted: not yet, by ctx.acceptWebSocket(), or by accept().
const UNACCEPTED = 0;
const HIBERNATABLE = 1;
const NON_HIBERNATABLE = 2;

// How the runtime reported the end of the socket (deno-platform §11).
const END_NONE = 0;
const END_DROP = 1; // "Unexpected EOF", broken pipe, reset: close code 0 follows
const END_IDLE = 2; // "No response from ping frame.": close 1001, then a second close 1005
const END_PROTOCOL = 3; // any other error: webSocketError, no webSocketClose

// "Failed to send frame": a write to a peer that already left (measured: the
// client sends a message and Close, then drops TCP before the echo is written).
const DROP_ERROR =
  /unexpected eof|os error 32|os error 104|broken pipe|connection reset|failed to send frame/i;
const DEFAULT_OWNER_LIMIT = 32 * 1024 * 1024;

let nextSocketId = 0;

/**
 * The connection object for one socket. Created unbound by `WebSocketPair`
 * (or the router), accepted by `ctx.acceptWebSocket()` (or, not hibernatable,
 * by `accept()`), then bound to Deno's socket once `Deno.upgradeWebSocket`
 * succeeded. Every outgoing message takes one path: straight to Deno's
 * socket when it is open and no storage write is pending, else into the
 * outbox (written in order once the socket is open and the writes are
 * durable). Both count against `maxBufferedBytes`.
 */
export class Connection implements WebSocket {
  /** Socket id, unique in this process; names the socket's KV record. */
  readonly sid: string = (nextSocketId++).toString(36);
  /** Normalized, frozen tags. */
  tags: readonly string[] = [];
  /** When `acceptWebSocket()` ran (clock time). */
  acceptedAt = 0;
  /** Last auto-response match (clock time), 0 for never. */
  autoResponseAt = 0;
  /** Dirty bits for the write-behind store. */
  dirty = 0;
  /** The accepting object, once accepted. */
  owner: ConnectionOwner | null = null;

  #state = CREATED;
  #mode = UNACCEPTED;
  // The object called close(): send() throws from then on (Cloudflare).
  #closeCalled = false;
  #raw: globalThis.WebSocket | null = null;
  #live: globalThis.WebSocket | null = null;
  // The outbox: messages (and a final CloseRequest) not yet handed to Deno, because the
  // socket is not open yet or a storage write is pending (output gate). In order.
  #outbox: unknown[] | null = null;
  // UTF-8 bytes of the messages in the outbox.
  #outboxBytes = 0;
  // Waiting for a pending storage write before the outbox may go out.
  #gated = false;
  // Bytes send() may still queue before bufferedAmount plus the outbox could pass the cap;
  // < 0: read them again.
  #sendBudget = -1;
  #listeners: Map<string, ListenerEntry[]> | null = null;
  // undefined = persisted in KV and dropped from memory while hibernated.
  #attachment: Uint8Array | null | undefined = null;
  #url: string | null = null;
  #protocol = "";
  #end = END_NONE;
  #delivered = false;
  #gone = false;

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
    return (this.#live?.bufferedAmount ?? 0) + this.#outboxBytes;
  }

  /** Whether the socket was upgraded and bound to a runtime socket. */
  get bound(): boolean {
    return this.#raw !== null;
  }

  /** Whether the attachment bytes are in memory. */
  get attachmentLoaded(): boolean {
    return this.#attachment !== undefined;
  }

  /**
   * Sends a message; queued until the upgraded socket opens and until pending
   * storage writes are durable. Throws after the object's own `close()`.
   */
  send(message: string | ArrayBuffer | ArrayBufferView): void {
    const live = this.#live;
    if (live !== null && this.#outbox === null && this.#state === OPEN) {
      const owner = this.owner!;
      if (owner.outputGate === null) {
        // Deno's bufferedAmount is unbounded (deno-platform §3): cap it ourselves. Reading it is an
        // op call, so it is read only once the bytes sent since the last read could have passed the cap.
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
    const owner = this.owner; // null only for an accept()ed socket before its upgrade
    if (owner !== null) {
      if (this.#sendBudget < 0) {
        const queued = (this.#live?.bufferedAmount ?? 0) + this.#outboxBytes;
        if (queued > owner.maxBufferedBytes) return this.#overBuffered(owner);
        this.#sendBudget = owner.maxBufferedBytes - queued;
      }
      this.#sendBudget -= sizeBound(message);
    }
    this.#outboxBytes += byteSize(message);
    (this.#outbox ??= []).push(message);
    this.#flush();
  }

  // Cloudflare's output gate: a message sent while a storage write is pending
  // goes out only once that write is durable, so clients never see effects of
  // writes that could still be lost. If the write fails, the held messages are
  // never sent and the socket closes with 1011, so the client resynchronizes.
  #flush(): void {
    if (this.#gated) return;
    const gate = this.owner?.outputGate ?? null;
    if (gate !== null) {
      this.#gated = true;
      gate.then(() => {
        this.#gated = false;
        this.#flush(); // waits again if another write started meanwhile
      }, () => {
        this.#gated = false;
        if (!this.#delivered) this.terminate(1011, "Storage write failed");
      });
      return;
    }
    const live = this.#live;
    const outbox = this.#outbox;
    if (live === null || outbox === null) return; // the open event flushes
    this.#outbox = null;
    this.#outboxBytes = 0;
    for (const item of outbox) {
      if (item instanceof CloseRequest) live.close(item.code, item.reason);
      else live.send(item as string);
    }
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
    this.#state = CLOSING;
    this.#closeCalled = true;
    this.owner?.onLeave(this);
    if (this.#outbox !== null) this.#outbox.push(new CloseRequest(code, reason)); // after the queue
    else if (this.#live !== null) this.#live.close(code, reason);
    else this.#outbox = [new CloseRequest(code, reason)];
  }

  /** Stores a structured-clone copy of `value` (≤ 16,384 serialized bytes by default). */
  serializeAttachment(value: unknown): void {
    if (arguments.length === 0) {
      throw new TypeError("Cannot serialize attachment as no value was given: pass a value");
    }
    const bytes = encodeAttachment(
      value,
      this.owner?.maxAttachmentBytes ?? DEFAULT_MAX_ATTACHMENT_BYTES,
    );
    this.#attachment = bytes;
    // An accept()ed socket does not survive hibernation: its attachment lives in memory only.
    if (this.#mode === HIBERNATABLE) this.owner?.onDirty(this, RECORD);
  }

  /** A fresh copy of the attachment, or `null` when none was set. */
  deserializeAttachment(): unknown {
    const bytes = this.#attachment;
    if (bytes === null) return null;
    if (bytes === undefined) {
      throw new TypeError(
        "Cannot read the attachment of a socket whose object is hibernated: use the socket from the current instance",
      );
    }
    return decodeAttachment(bytes);
  }

  /** The serialized attachment, for persistence. */
  get attachmentBytes(): Uint8Array | null | undefined {
    return this.#attachment;
  }

  /** Drops the attachment bytes from memory once they are safely in KV. */
  unloadAttachment(): void {
    this.#attachment = undefined;
  }

  /** Restores attachment bytes read back from KV. */
  loadAttachment(bytes: Uint8Array | null): void {
    if (this.#attachment === undefined) this.#attachment = bytes;
  }

  /**
   * Cloudflare's non-hibernatable API: events go to the listeners added with
   * `addEventListener()`, the socket is not listed by `getWebSockets()`, has no
   * tags, and keeps its object in memory while open. A second call is a no-op.
   */
  accept(): void {
    if (this.#mode === NON_HIBERNATABLE) return;
    if (this.#mode === HIBERNATABLE) {
      throw new TypeError(
        "Can't accept() WebSocket after enabling hibernation: it was accepted with ctx.acceptWebSocket(), whose events go to webSocketMessage/webSocketClose; call one of the two, not both",
      );
    }
    this.#mode = NON_HIBERNATABLE;
    this.#state = OPEN;
  }

  /** Adds a listener for `"message"`, `"close"` or `"error"` (sockets accepted with `accept()`). */
  addEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    handler: WebSocketEventListener<WebSocketEventMap[K]> | null,
    options?: boolean | { once?: boolean },
  ): void {
    if (handler === null || handler === undefined) return;
    const listener = handler as Listener;
    if (typeof listener !== "function" && typeof listener?.handleEvent !== "function") {
      throw new TypeError(
        "Cannot add the event listener as it is not a function or an object with handleEvent()",
      );
    }
    const key = String(type);
    const listeners = this.#listeners ??= new Map<string, ListenerEntry[]>();
    let list = listeners.get(key);
    if (list === undefined) listeners.set(key, list = []);
    if (list.some((entry) => entry.listener === listener)) return; // added once, as on EventTarget
    const once = typeof options === "object" && options !== null && options.once === true;
    list.push({ listener, once });
  }

  /** Removes a listener added with `addEventListener()`. */
  removeEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    handler: WebSocketEventListener<WebSocketEventMap[K]> | null,
  ): void {
    const list = this.#listeners?.get(String(type));
    if (list === undefined) return;
    const at = list.findIndex((entry) => entry.listener === handler);
    if (at !== -1) list.splice(at, 1);
  }

  /** The listeners an event of `type` goes to now, in order; `once` ones are removed. */
  [LISTENERS](type: string): Listener[] {
    const list = this.#listeners?.get(type);
    if (list === undefined || list.length === 0) return [];
    const out = list.map((entry) => entry.listener);
    if (list.some((entry) => entry.once)) {
      this.#listeners!.set(type, list.filter((entry) => !entry.once));
    }
    return out;
  }

  /** Marks the connection accepted by `ctx.acceptWebSocket()` of `owner` (hibernatable). */
  [ACCEPT_HIBERNATABLE](owner: ConnectionOwner, tags: readonly string[], now: number): void {
    this.owner = owner;
    this.tags = tags;
    this.acceptedAt = now;
    this.#mode = HIBERNATABLE;
    this.#state = OPEN;
  }

  /** An `accept()`ed connection becomes `owner`'s, whose fetch returned it for the upgrade. */
  [ADOPT](owner: ConnectionOwner): void {
    this.owner = owner;
  }

  /** Whether the connection was accepted with `accept()`. */
  get [PLAIN](): boolean {
    return this.#mode === NON_HIBERNATABLE;
  }

  /** Whether `acceptWebSocket()` or `accept()` already took this connection. */
  get accepted(): boolean {
    return this.#mode !== UNACCEPTED;
  }

  /** Whether the close/error event was delivered (or must not be). */
  get finished(): boolean {
    return this.#delivered;
  }

  /** Binds the upgraded runtime socket. Queued sends go out once it opens. */
  bind(socket: globalThis.WebSocket, url: string, protocol: string): void {
    this.#raw = socket;
    this.#url = url;
    this.#protocol = protocol;
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", this);
    socket.addEventListener("message", this);
    socket.addEventListener("error", this);
    socket.addEventListener("close", this);
  }

  /** The upgrade failed: drop the queue and report a 1006 close. */
  failUpgrade(): void {
    this.#outbox = null;
    this.#outboxBytes = 0;
    if (this.#state === OPEN) this.owner?.onLeave(this);
    this.#state = CLOSED;
    this.#finish(1006, "", false);
    this.#markGone();
  }

  /**
   * Closes without waiting for the client and without any further event
   * (shutdown, over-limit). The descriptor stays counted until really gone.
   */
  terminate(code: number, reason: string): void {
    this.#delivered = true;
    if (this.#state === OPEN) {
      this.#state = CLOSING;
      this.owner?.onLeave(this);
    }
    if (this.#state === CLOSED) return;
    // What the outbox holds is dropped: later sends are no-ops.
    this.#outboxBytes = 0;
    if (this.#live !== null) {
      this.#outbox = null;
      this.#live.close(code, reason);
    } else this.#outbox = [new CloseRequest(code, reason)]; // written once the socket opens
  }

  /** Event listener for the bound runtime socket (one object, no closures per socket). */
  handleEvent(event: Event): void {
    switch (event.type) {
      case "message":
        return this.#onMessage((event as MessageEvent).data);
      case "open":
        return this.#onOpen();
      case "error":
        return this.#onError(event as ErrorEvent);
      case "close":
        return this.#onClose(event as CloseEvent);
    }
  }

  #onOpen(): void {
    this.#live = this.#raw!;
    if (this.#outbox !== null) this.#flush();
  }

  #onMessage(data: string | ArrayBuffer): void {
    const owner = this.owner;
    if (owner === null || this.#delivered) return;
    let size: number;
    if (typeof data === "string") {
      const auto = owner.autoResponse;
      // Auto-responses are part of the hibernation API: an accept()ed socket gets the message.
      if (auto !== null && data === auto.request && this.#mode === HIBERNATABLE) {
        // Answered here, without waking or queueing the object. After the
        // server's own close() a match is swallowed, as on workerd.
        if (this.#state === OPEN && this.#live !== null) {
          this.#sendBudget -= auto.response.length * 3;
          this.#live.send(auto.response);
        }
        this.autoResponseAt = owner.now();
        if ((this.dirty & TIMESTAMP) === 0) owner.onDirty(this, TIMESTAMP);
        return;
      }
      // Only measure bytes when the length alone cannot rule out the cap.
      size = data.length * 3 > owner.maxMessageBytes ? utf8Length(data) : 0;
    } else {
      size = data.byteLength;
    }
    if (size > owner.maxMessageBytes) return this.#tooLarge(owner, size);
    owner.onMessage(this, data);
  }

  #tooLarge(owner: ConnectionOwner, size: number): void {
    const limit = owner.maxMessageBytes;
    this.#delivered = true;
    if (this.#state === OPEN) {
      this.#state = CLOSING;
      owner.onLeave(this);
    }
    this.#live?.close(1009, "Message is too large");
    owner.onError(this, new Error(`Message is too large: ${size} > ${limit}`));
  }

  #overBuffered(owner: ConnectionOwner): void {
    if (owner.backpressure === "drop") return;
    this.terminate(1013, "Send buffer full");
  }

  #onError(event: ErrorEvent): void {
    const message = event.message ?? String(event.error ?? "");
    if (DROP_ERROR.test(message)) this.#end = END_DROP;
    else if (message.startsWith("No response from ping frame")) this.#end = END_IDLE;
    else {
      this.#end = END_PROTOCOL;
      if (this.#delivered || this.owner === null) return;
      this.#delivered = true;
      if (this.#state === OPEN) {
        this.#state = CLOSING;
        this.owner.onLeave(this);
      }
      this.owner.onError(this, new Error(message));
    }
  }

  #onClose(event: CloseEvent): void {
    // Deno fires close twice after an idle timeout (1001, then 1005): deliver once.
    if (this.#state === CLOSED) return this.#markGone();
    if (this.#state === OPEN) this.owner?.onLeave(this);
    this.#state = CLOSED;
    this.#live = null;
    this.#outbox = null; // held messages can no longer go out
    this.#outboxBytes = 0;
    if (this.#end === END_DROP || this.#end === END_IDLE || event.code === 0) {
      this.#finish(1006, "", false);
    } else {
      this.#finish(event.code, event.reason, event.wasClean);
    }
    this.#markGone();
  }

  #finish(code: number, reason: string, wasClean: boolean): void {
    if (this.#delivered) return;
    this.#delivered = true;
    this.owner?.onClose(this, code, reason, wasClean);
  }

  #markGone(): void {
    if (this.#gone) return;
    this.#gone = true;
    const raw = this.#raw;
    if (raw !== null) {
      raw.removeEventListener("open", this);
      raw.removeEventListener("message", this);
      raw.removeEventListener("error", this);
      raw.removeEventListener("close", this);
    }
    this.owner?.onGone(this);
  }
}

// Structured clone refuses a socket (workerd's words), never `{}` or a class source.
markNotCloneable(Connection.prototype, "WebSocket");

/** An upper bound of the bytes `send(message)` adds to `bufferedAmount` (UTF-8: ≤ 3 per UTF-16 unit). */
function sizeBound(message: unknown): number {
  if (typeof message === "string") return message.length * 3;
  const size = (message as { byteLength?: unknown }).byteLength;
  return typeof size === "number" ? size : Infinity;
}

/** The UTF-8 bytes `send(message)` adds to `bufferedAmount`. */
function byteSize(message: unknown): number {
  if (typeof message === "string") return utf8Length(message);
  const size = (message as { byteLength?: unknown }).byteLength;
  return typeof size === "number" ? size : 0;
}

class CloseRequest {
  constructor(readonly code?: number, readonly reason?: string) {}
}

/** workerd's close() rules: 1000–4999 except reserved codes; reason ≤ 123 bytes and needs a code. */
function checkCloseArguments(code: number | undefined, reason: string | undefined): void {
  if (code === undefined) {
    if (reason !== undefined) {
      throw new DOMException(
        "Cannot close WebSocket with a reason but no code: pass a code",
        "InvalidAccessError",
      );
    }
    return;
  }
  if (
    !Number.isInteger(code) || code < 1000 || code > 4999 || code === 1004 || code === 1005 ||
    code === 1006 || code === 1015
  ) {
    throw new DOMException(
      `Cannot close WebSocket with code ${code}: allowed are 1000-4999 except 1004, 1005, 1006 and 1015`,
      "InvalidAccessError",
    );
  }
  if (reason !== undefined && utf8Length(reason) > 123) {
    throw new DOMException(
      `Cannot close WebSocket as the reason exceeds 123 UTF-8 bytes: current size is ${
        utf8Length(reason)
      }`,
      "SyntaxError",
    );
  }
}

export { DEFAULT_OWNER_LIMIT as DEFAULT_MAX_MESSAGE_BYTES };
