/**
 * Public types shared by the whole package. No runtime code.
 *
 * @module
 */

/**
 * A WebSocket connection as objects see it: what `acceptWebSocket()` takes,
 * what `getWebSockets()` returns and what handlers receive. The same object
 * stands for one socket everywhere, so `ws !== sender` works. It wraps Deno's
 * socket instead of patching it.
 */
export interface WebSocket {
  /** 1 while open (also between accept and upgrade), 2 while closing, 3 when closed. */
  readonly readyState: number;
  /** The URL the client connected to. */
  readonly url: string | null;
  /** The negotiated subprotocol, or `""`. */
  readonly protocol: string;
  /** Bytes queued by `send()` and not yet written to the network. */
  readonly bufferedAmount: number;
  /**
   * Sends a text or binary message. Throws a `TypeError` after the object's own
   * `close()`; does nothing once the peer closed or the framework closed the socket.
   */
  send(message: string | ArrayBuffer | ArrayBufferView): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Stores a structured-clone copy of `value` that survives hibernation. */
  serializeAttachment(value: unknown): void;
  /**
   * Returns a fresh copy of the stored attachment, or `null` when none was set.
   * `T` types the result without a cast (it is not checked at run time); the
   * default is `any` as in Cloudflare's workers-types, so ported code such as
   * `ws.deserializeAttachment().username` type-checks unchanged.
   *
   * @example Typed attachment
   * ```ts ignore
   * interface Member { name: string }
   * const member = ws.deserializeAttachment<Member | null>();
   * if (member) ws.send(`hello ${member.name}`);
   * ```
   */
  // deno-lint-ignore no-explicit-any
  deserializeAttachment<T = any>(): T;
  /**
   * Cloudflare's non-hibernatable API, instead of `ctx.acceptWebSocket()`: the
   * socket's events go to its `addEventListener()` listeners, it keeps the
   * object in memory while open, and it is not listed by `getWebSockets()`.
   */
  accept(): void;
  /** Adds a listener for a socket accepted with `accept()`. */
  addEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: WebSocketEventListener<WebSocketEventMap[K]>,
    options?: boolean | { once?: boolean },
  ): void;
  /** Removes a listener added with `addEventListener()`. */
  removeEventListener<K extends keyof WebSocketEventMap>(
    type: K,
    listener: WebSocketEventListener<WebSocketEventMap[K]>,
  ): void;
}

/** The events of a socket accepted with `accept()`, by type (Cloudflare's names). */
export interface WebSocketEventMap {
  /** A text (`string`) or binary (`ArrayBuffer`) message, in `event.data`. */
  message: MessageEvent;
  /** The socket closed: `event.code`, `event.reason`, `event.wasClean`. */
  close: CloseEvent;
  /** A WebSocket protocol error, in `event.error`; no close event follows. */
  error: ErrorEvent;
}

/** A listener for {@linkcode WebSocket.addEventListener}: a function or an object with `handleEvent`. */
export type WebSocketEventListener<E extends Event> =
  | ((event: E) => unknown)
  | { handleEvent(event: E): unknown };

/** The handler set an object class can implement (Cloudflare's names). */
export interface WebSocketHandlers {
  /** A text (`string`) or binary (`ArrayBuffer`) message arrived. */
  webSocketMessage?(ws: WebSocket, message: string | ArrayBuffer): void | Promise<void>;
  /** The socket closed. */
  webSocketClose?(
    ws: WebSocket,
    code: number,
    reason: string,
    wasClean: boolean,
  ): void | Promise<void>;
  /** A WebSocket protocol error occurred (oversized message, invalid frame). */
  webSocketError?(ws: WebSocket, error: unknown): void | Promise<void>;
}

/** Where a reported exception came from. */
export interface ExceptionContext {
  /** The binding name of the object's class (`ROOM`). */
  readonly namespace: string;
  /** The object id (64 hex characters), when an object is involved. */
  readonly id?: string;
  /** What was running: `webSocketMessage`, `fetch`, `kv.flush`, … */
  readonly operation: string;
}

/** The app-level exception hook. */
export type ExceptionHandler = (error: unknown, context: ExceptionContext) => void;

/** What `@onConnect` may return. */
export type ConnectResult = void | undefined | Response | { readonly tags?: readonly string[] };

/**
 * What an alarm handler is told about the current delivery.
 *
 * @example Usage
 * ```ts
 * import type { AlarmInvocationInfo } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * const info: AlarmInvocationInfo = { isRetry: true, retryCount: 1, scheduledTime: 0 };
 * assert.ok(info.isRetry);
 * ```
 */
export interface AlarmInvocationInfo {
  /** `true` when an earlier delivery of this alarm failed. */
  readonly isRetry: boolean;
  /** How many deliveries of this alarm failed before this one (0 to 6). */
  readonly retryCount: number;
  /** The time the alarm was set for, in milliseconds since the epoch. */
  readonly scheduledTime: number;
}
