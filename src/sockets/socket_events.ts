import { SOCKET_CLOSE, SOCKET_ERROR, SOCKET_MESSAGE, SOCKET_OPEN } from "./connection_internals.ts";
import { utf8Length } from "./tags.ts";

/** What a {@linkcode SocketListener} hands Deno's events to (a `Connection`). */
export interface SocketEventTarget {
  /** The runtime socket opened. */
  [SOCKET_OPEN](socket: globalThis.WebSocket): void;
  /** A data message. */
  [SOCKET_MESSAGE](data: string | ArrayBuffer): void;
  /** A protocol error: `webSocketError`, no close event after it. */
  [SOCKET_ERROR](message: string): void;
  /** The socket closed with this (mapped) code. */
  [SOCKET_CLOSE](code: number, reason: string, wasClean: boolean): void;
}

// How Deno reported the end of the socket, before its close event.
const END_NONE = 0;
// "Unexpected EOF", broken pipe, reset: a close with code 0 follows.
const END_DROP = 1;
// "No response from ping frame.": close 1001, then a second close 1005.
const END_IDLE = 2;
// Any other error: webSocketError, and no webSocketClose.
const END_PROTOCOL = 3;

// "Failed to send frame": a write to a peer that already left (measured: the
// client sends a message and Close, then drops TCP before the echo is written).
const DROP_ERROR =
  /unexpected eof|os error 32|os error 104|broken pipe|connection reset|failed to send frame/i;

/**
 * The listener a connection adds to Deno's socket: one small object per
 * socket (no closures), which keeps `handleEvent` off the `WebSocket` users
 * see, and maps Deno's events to the connection's. Deno reports a dropped
 * peer (EOF, reset, broken pipe) and an unanswered ping as an error event
 * followed by a close (code 0, or 1001 then 1005): both become one close with
 * 1006. Any other error becomes `webSocketError`, with no close after it.
 */
export class SocketListener {
  readonly #target: SocketEventTarget;
  readonly #socket: globalThis.WebSocket;
  #end = END_NONE;

  /** Listens to the `open`, `message`, `error` and `close` events of `socket`. */
  constructor(target: SocketEventTarget, socket: globalThis.WebSocket) {
    this.#target = target;
    this.#socket = socket;
    socket.addEventListener("open", this);
    socket.addEventListener("message", this);
    socket.addEventListener("error", this);
    socket.addEventListener("close", this);
  }

  /** Called by Deno's socket. */
  handleEvent(event: Event): void {
    switch (event.type) {
      case "message":
        return this.#target[SOCKET_MESSAGE]((event as MessageEvent).data);
      case "open":
        return this.#target[SOCKET_OPEN](this.#socket);
      case "error":
        return this.#onError(event as ErrorEvent);
      case "close":
        return this.#onClose(event as CloseEvent);
    }
  }

  /** Stops listening: the descriptor is gone. */
  stop(): void {
    const socket = this.#socket;
    socket.removeEventListener("open", this);
    socket.removeEventListener("message", this);
    socket.removeEventListener("error", this);
    socket.removeEventListener("close", this);
  }

  #onError(event: ErrorEvent): void {
    const message = event.message ?? String(event.error ?? "");
    if (DROP_ERROR.test(message)) this.#end = END_DROP;
    else if (message.startsWith("No response from ping frame")) this.#end = END_IDLE;
    else {
      this.#end = END_PROTOCOL;
      this.#target[SOCKET_ERROR](message);
    }
  }

  #onClose(event: CloseEvent): void {
    if (this.#end === END_DROP || this.#end === END_IDLE || event.code === 0) {
      this.#target[SOCKET_CLOSE](1006, "", false);
    } else {
      this.#target[SOCKET_CLOSE](event.code, event.reason, event.wasClean);
    }
  }
}

/** workerd's close() rules: 1000–4999 except reserved codes; reason ≤ 123 bytes and needs a code. */
export function checkCloseArguments(code: number | undefined, reason: string | undefined): void {
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
