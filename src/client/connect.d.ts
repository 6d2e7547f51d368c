/**
 * A reconnecting WebSocket for browsers and Deno, with no dependency. It
 * reconnects with jittered exponential backoff, buffers sends while offline,
 * and, on a route with resumable sessions, resumes where it left off: every
 * message the server sent meanwhile arrives, once each, in order.
 *
 * @example Usage
 * ```ts ignore
 * import { connect } from "@dormant/dormant/client";
 *
 * const ws = connect("wss://example.com/rooms/lobby/ws");
 * ws.addEventListener("message", (event) => console.log(event.data));
 * ws.addEventListener("statuschange", () => console.log(ws.status));
 * ws.send("hello"); // buffered until open
 * ```
 *
 * @module
 */

/** The subprotocol that asks for a session. */
export declare const SESSION_PROTOCOL: "dormant.session.v1";
/** Close code the client sends to drop its connection but keep its session. */
export declare const DETACH_CLOSE: 4990;

/** Where a {@linkcode ReconnectingWebSocket} is. */
export type ConnectionStatus = "connecting" | "open" | "reconnecting" | "closed";

/** Options of {@linkcode connect}. */
export interface ConnectOptions {
  /** First reconnect wait, in milliseconds. @default 250 */
  minDelayMs?: number;
  /** Longest reconnect wait, in milliseconds. @default 10000 */
  maxDelayMs?: number;
  /** Factor between two waits. @default 2 */
  growth?: number;
  /** Up to this fraction of each wait is taken off at random. @default 0.5 */
  jitter?: number;
  /** A connection not open after this long is dropped and retried, in milliseconds. @default 10000 */
  connectTimeoutMs?: number;
  /** Reconnect attempts in a row before giving up (status `"closed"`). @default Infinity */
  maxRetries?: number;
  /** Messages `send()` may buffer while not open. @default 1000 */
  maxBufferedMessages?: number;
  /** Bytes `send()` may buffer while not open (text counted as 3 bytes per character). @default 1048576 */
  maxBufferedBytes?: number;
  /** Ask for a resumable session (used only where the route offers them). @default true */
  resume?: boolean;
  /** Subprotocols of the application, offered as well. @default [] */
  protocols?: string[];
  /** @default "arraybuffer" */
  binaryType?: BinaryType;
  /** The WebSocket class to use. @default globalThis.WebSocket */
  WebSocket?: typeof WebSocket;
  /** Random numbers in [0, 1) for the jitter. @default Math.random */
  random?: () => number;
}

/**
 * The `open` event: `code` is the hello's code: `"unsupported"` on a Dormant
 * route without sessions, `undefined` from a server that sent no hello.
 */
export interface ReconnectingOpenEvent extends Event {
  /** `"new"`, `"resumed"`, `"unknown"`, `"too_old"` or `"unsupported"` (no session). */
  readonly code?: "new" | "resumed" | "unknown" | "too_old" | "unsupported";
  /** Whether every message missed since the last connection followed. */
  readonly resumed: boolean;
}

/** The `close` event of one connection (`status` says whether a reconnect follows). */
export interface ReconnectingCloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/** The `statuschange` event. */
export interface StatusChangeEvent extends Event {
  readonly status: ConnectionStatus;
}

/** The events of a {@linkcode ReconnectingWebSocket}. */
export interface ReconnectingEventMap {
  open: ReconnectingOpenEvent;
  message: MessageEvent;
  close: ReconnectingCloseEvent;
  error: Event;
  statuschange: StatusChangeEvent;
}

/**
 * Whether a close with `code` from the server means "do not reconnect": 1000,
 * 1002, 1003, 1007, 1008, 1009, 1010 and 4400–4499.
 *
 * @example Usage
 * ```ts
 * import { isFinalCloseCode } from "@dormant/dormant/client";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isFinalCloseCode(1008), true);
 * assert.equal(isFinalCloseCode(1012), false);
 * ```
 */
export declare function isFinalCloseCode(code: number): boolean;

/**
 * The wait before reconnect attempt `attempt` (0 for the first).
 *
 * @example Usage
 * ```ts
 * import { backoffDelay } from "@dormant/dormant/client";
 * import assert from "node:assert/strict";
 *
 * const options = { minDelayMs: 100, maxDelayMs: 1000, growth: 2, jitter: 0.5 };
 * assert.equal(backoffDelay(2, options, 0), 400);
 * assert.equal(backoffDelay(9, options, 1), 500);
 * ```
 */
export declare function backoffDelay(
  attempt: number,
  options: { minDelayMs: number; maxDelayMs: number; growth: number; jitter: number },
  random: number,
): number;

/** A WebSocket that reconnects, buffers while offline and resumes sessions. */
export declare class ReconnectingWebSocket extends EventTarget {
  /** Opens the first connection at once. */
  constructor(url: string | URL, options?: ConnectOptions);
  /** 0. */
  static readonly CONNECTING: 0;
  /** 1. */
  static readonly OPEN: 1;
  /** 2. */
  static readonly CLOSING: 2;
  /** 3. */
  static readonly CLOSED: 3;
  /** 0. */
  readonly CONNECTING: 0;
  /** 1. */
  readonly OPEN: 1;
  /** 2. */
  readonly CLOSING: 2;
  /** 3. */
  readonly CLOSED: 3;
  /** Where it is. */
  readonly status: ConnectionStatus;
  /** 1 while open, 3 once closed for good, else 0. */
  readonly readyState: number;
  /** The URL. */
  readonly url: string;
  /** The application subprotocol the server selected (`""` for none, or only the session's). */
  readonly protocol: string;
  /** The current connection's extensions. */
  readonly extensions: string;
  /** Bytes buffered while offline plus those the open socket has not sent yet. */
  readonly bufferedAmount: number;
  /** The session's token and last received sequence number, or `null`. */
  readonly session: { token: string; seq: number } | null;
  /** How binary messages arrive. */
  binaryType: BinaryType;
  /** Called for `open`. */
  onopen: ((event: ReconnectingOpenEvent) => void) | null;
  /** Called for `message`. */
  onmessage: ((event: MessageEvent) => void) | null;
  /** Called for `close`. */
  onclose: ((event: ReconnectingCloseEvent) => void) | null;
  /** Called for `error`. */
  onerror: ((event: Event) => void) | null;
  /** Called for `statuschange`. */
  onstatuschange: ((event: StatusChangeEvent) => void) | null;
  /**
   * Sends now when open, else buffers until the next open.
   *
   * @throws {RangeError} Past `maxBufferedMessages` or `maxBufferedBytes` while not open.
   * @throws {DOMException} After `close()`.
   */
  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void;
  /** Closes for good (no reconnect); the session ends. */
  close(code?: number, reason?: string): void;
  /** Drops the current connection and connects again at once, keeping the session. */
  reconnect(): void;
  /** Adds a listener. */
  addEventListener<K extends keyof ReconnectingEventMap>(
    type: K,
    listener: (this: ReconnectingWebSocket, event: ReconnectingEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Adds a listener. */
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Removes a listener. */
  removeEventListener<K extends keyof ReconnectingEventMap>(
    type: K,
    listener: (this: ReconnectingWebSocket, event: ReconnectingEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  /** Removes a listener. */
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | EventListenerOptions,
  ): void;
}

/**
 * Opens a reconnecting WebSocket to `url`.
 *
 * @example Usage
 * ```ts ignore
 * import { connect } from "@dormant/dormant/client";
 *
 * const ws = connect("ws://localhost:8000/rooms/lobby/ws", { maxDelayMs: 5000 });
 * ws.onmessage = (event) => console.log(event.data);
 * ```
 */
export declare function connect(url: string | URL, options?: ConnectOptions): ReconnectingWebSocket;
