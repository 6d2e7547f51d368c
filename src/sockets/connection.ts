import type { WebSocket, WebSocketEventListener, WebSocketEventMap } from "../types.ts";
import { decodeAttachment, DEFAULT_MAX_ATTACHMENT_BYTES, encodeAttachment } from "./attachment.ts";
import { markNotCloneable } from "../structured_clone/not_cloneable.ts";
import { type ConnectionOwner, RECORD } from "./connection_owner.ts";
import {
  ACCEPT_HIBERNATABLE,
  ACCEPTED,
  ACCEPTED_AT,
  ADOPT,
  ATTACHMENT,
  CONNECTION_ID,
  LISTENERS,
  LOAD_ATTACHMENT,
  OWNER,
  PLAIN,
  PRESENCE,
  RECORD_KEY,
  SESSION,
  SID,
  TAGS,
  UNLOAD_ATTACHMENT,
} from "./connection_internals.ts";
import { EventListeners, type Listener } from "./event_listeners.ts";
import { OPENED, ServerSocket } from "./server_socket.ts";

// How the connection was accepted: not yet, by ctx.acceptWebSocket(), or by accept().
const UNACCEPTED = 0;
const HIBERNATABLE = 1;
const NON_HIBERNATABLE = 2;

/** The default cap of a received message (32 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

let nextSocketId = 0;
// Makes connection ids unique per process start: a restarted process does not reuse them.
const PROCESS_PREFIX = crypto.randomUUID().slice(0, 8);

/**
 * The connection object for one socket, handed to users as `WebSocket`.
 * Created unbound by `WebSocketPair` (or the router), accepted by
 * `ctx.acceptWebSocket()` (hibernatable: tags, an attachment that survives
 * hibernation) or by `accept()` (not hibernatable: event listeners), then
 * bound to Deno's socket once `Deno.upgradeWebSocket` succeeded. Sending,
 * closing and Deno's events are the {@linkcode ServerSocket}'s.
 *
 * Users see only the `WebSocket` API: what the framework reaches is keyed by
 * the symbols of `connection_internals.ts`; everything else is `#private`.
 */
export class Connection extends ServerSocket implements WebSocket {
  /** Socket id, unique in this process; names the socket's KV record. */
  readonly [SID]: string = (nextSocketId++).toString(36);
  /** Connection id (`ctx.getConnectionId()`): unique per process start, stable while open. */
  get [CONNECTION_ID](): string {
    return `${PROCESS_PREFIX}-${this[SID]}`;
  }
  /** Where its records live when another node holds the socket (`[boot, sid]`), else `null`. */
  [RECORD_KEY]: readonly [string, string] | null = null;
  /** Normalized, frozen tags. */
  [TAGS]: readonly string[] = [];
  /** When `acceptWebSocket()` ran (clock time). */
  [ACCEPTED_AT] = 0;
  /** The presence record (frozen), `null` for none. */
  [PRESENCE]: unknown = null;

  #mode = UNACCEPTED;
  #listeners: EventListeners | null = null;
  // undefined = persisted in KV and dropped from memory while hibernated.
  #attachment: Uint8Array | null | undefined = null;

  /** Stores a structured-clone copy of `value` (≤ 16,384 serialized bytes by default). */
  serializeAttachment(value: unknown): void {
    if (arguments.length === 0) {
      throw new TypeError("Cannot serialize attachment as no value was given: pass a value");
    }
    const owner = this[OWNER];
    const bytes = encodeAttachment(
      value,
      owner?.maxAttachmentBytes ?? DEFAULT_MAX_ATTACHMENT_BYTES,
    );
    // Presence taken from the attachment is checked before anything changes.
    const presences = this.#mode === HIBERNATABLE ? owner?.presences : undefined;
    const derived = presences?.derive?.(value);
    this.#attachment = bytes;
    // An accept()ed socket does not survive hibernation: its attachment lives in memory only.
    if (this.#mode === HIBERNATABLE) owner?.onDirty(this, RECORD);
    if (derived !== undefined) presences!.set(this, derived);
    this[SESSION]?.changed();
  }

  /** A fresh copy of the attachment, or `null` when none was set; `T` types it (no check). */
  // deno-lint-ignore no-explicit-any
  deserializeAttachment<T = any>(): T {
    const bytes = this.#attachment;
    if (bytes === null) return null as T;
    if (bytes === undefined) {
      throw new TypeError(
        "Cannot read the attachment of a socket whose object is hibernated: use the socket from the current instance",
      );
    }
    return decodeAttachment(bytes) as T;
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
    this[OPENED](false);
  }

  /** Adds a listener for `"message"`, `"close"` or `"error"` (sockets accepted with `accept()`). */
  addEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    handler: WebSocketEventListener<WebSocketEventMap[K]> | null,
    options?: boolean | { once?: boolean },
  ): void {
    if (handler === null || handler === undefined) return;
    (this.#listeners ??= new EventListeners()).add(String(type), handler, options);
  }

  /** Removes a listener added with `addEventListener()`. */
  removeEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    handler: WebSocketEventListener<WebSocketEventMap[K]> | null,
  ): void {
    this.#listeners?.remove(String(type), handler);
  }

  // ---- framework access (symbol-keyed: not part of the WebSocket users see) --------------------

  /** The listeners an event of `type` goes to now, in order; `once` ones are removed. */
  [LISTENERS](type: string): Listener[] {
    return this.#listeners?.take(type) ?? [];
  }

  /** Marks the connection accepted by `ctx.acceptWebSocket()` of `owner` (hibernatable). */
  [ACCEPT_HIBERNATABLE](owner: ConnectionOwner, tags: readonly string[], now: number): void {
    this[ADOPT](owner);
    this[TAGS] = tags;
    this[ACCEPTED_AT] = now;
    this.#mode = HIBERNATABLE;
    this[OPENED](true);
  }

  /** Whether the connection was accepted with `accept()`. */
  get [PLAIN](): boolean {
    return this.#mode === NON_HIBERNATABLE;
  }

  /** Whether `acceptWebSocket()` or `accept()` already took this connection. */
  get [ACCEPTED](): boolean {
    return this.#mode !== UNACCEPTED;
  }

  /** The serialized attachment, for persistence (`undefined` while unloaded). */
  get [ATTACHMENT](): Uint8Array | null | undefined {
    return this.#attachment;
  }

  /** Drops the attachment bytes from memory once they are safely in KV. */
  [UNLOAD_ATTACHMENT](): void {
    this.#attachment = undefined;
  }

  /** Restores attachment bytes read back from KV. */
  [LOAD_ATTACHMENT](bytes: Uint8Array | null): void {
    if (this.#attachment === undefined) this.#attachment = bytes;
  }
}

// Structured clone refuses a socket (workerd's words), never `{}` or a class source.
markNotCloneable(Connection.prototype, "WebSocket");
