/**
 * The wire side of resumable sessions: the subprotocol a client offers, the
 * token and sequence number it resumes with, and the one control frame the
 * server sends first on every session connection. Application frames are
 * never changed: the client numbers them itself, 1, 2, 3, … per session.
 *
 * @module
 */

/** The subprotocol a client offers to ask for a session; the server selects it when it gives one. */
export const SESSION_PROTOCOL = "dormant.session.v1";
/** Prefix of the second subprotocol a resuming client offers: `dormant.resume.<token>.<seq>`. */
export const RESUME_PREFIX = "dormant.resume.";

/** Hello codes: a new session (no token offered). */
export const NEW = "new";
/** Hello codes: resumed; every message after the client's `seq` follows, then live traffic. */
export const RESUMED = "resumed";
/** Hello codes: the token is unknown or its session expired; this is a new session. */
export const UNKNOWN = "unknown";
/** Hello codes: the log no longer holds every message after the client's `seq`; this is a new session. */
export const TOO_OLD = "too_old";

/** A hello code. */
export type HelloCode = typeof NEW | typeof RESUMED | typeof UNKNOWN | typeof TOO_OLD;

/**
 * The hello of a connection that asked for a session where there is none (a
 * route without sessions, a socket taken with `accept()`): the server selects
 * the session subprotocol anyway, because a browser fails a handshake that
 * offered subprotocols and got none back, and says so. No token, no count:
 * the frames that follow are a plain socket's.
 */
export const UNSUPPORTED_HELLO = '{"dormant":"session","code":"unsupported"}';

/** Close code sent to a connection whose session another connection resumed (do not retry). */
export const REPLACED_CLOSE = 4409;
/** Close code a client sends to drop its connection but keep its session (it reconnects). */
export const DETACH_CLOSE = 4990;

/** What a client offered: a session, maybe resuming one. */
export interface SessionOffer {
  /** The token to resume, or `null` for a new session. */
  readonly token: string | null;
  /** The last sequence number the client received (0 for none). */
  readonly seq: number;
}

const RESUME = /^dormant\.resume\.([A-Za-z0-9_-]{16,128})\.(\d{1,15})$/;

/**
 * What the request's `Sec-WebSocket-Protocol` offers, or `null` when it does
 * not ask for a session. A malformed resume value counts as no token.
 *
 * @param request The upgrade request.
 * @returns The offer, or `null`.
 *
 * @example Resuming
 * ```ts
 * import { sessionOffer } from "./resume_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const request = new Request("http://x/", {
 *   headers: { "sec-websocket-protocol": "dormant.session.v1, dormant.resume.abcdefghijklmnop.12" },
 * });
 * assert.deepEqual(sessionOffer(request), { token: "abcdefghijklmnop", seq: 12 });
 * assert.equal(sessionOffer(new Request("http://x/")), null);
 * ```
 */
export function sessionOffer(request: Request): SessionOffer | null {
  const header = request.headers.get("sec-websocket-protocol");
  if (header === null || !header.includes(SESSION_PROTOCOL)) return null;
  let session = false;
  let token: string | null = null;
  let seq = 0;
  for (const part of header.split(",")) {
    const value = part.trim();
    if (value === SESSION_PROTOCOL) session = true;
    else {
      const match = RESUME.exec(value);
      if (match !== null) {
        token = match[1]!;
        seq = Number(match[2]);
      }
    }
  }
  return session ? { token, seq } : null;
}

/**
 * The subprotocol an upgrade selects: the application's own choice when it
 * made one (such a connection has no session), else the session subprotocol
 * when the client offered it (with a session or without: a browser fails a
 * handshake that offered subprotocols and got none back), else none.
 *
 * @param request The upgrade request.
 * @param chosen The application's choice, if any.
 * @returns The subprotocol, `""` for none.
 *
 * @example Usage
 * ```ts
 * import { selectProtocol } from "./resume_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const request = new Request("http://x/", {
 *   headers: { "sec-websocket-protocol": "chat.v2, dormant.session.v1" },
 * });
 * assert.equal(selectProtocol(request, undefined), "dormant.session.v1");
 * assert.equal(selectProtocol(request, "chat.v2"), "chat.v2");
 * assert.equal(selectProtocol(new Request("http://x/"), undefined), "");
 * ```
 */
export function selectProtocol(request: Request, chosen: string | undefined): string {
  if (chosen) return chosen;
  return sessionOffer(request) !== null ? SESSION_PROTOCOL : "";
}

/**
 * Sends {@linkcode UNSUPPORTED_HELLO} on `socket` when it opens. Call it before
 * anything else listens to `open`: the hello then precedes every queued frame.
 *
 * @param socket A runtime socket just upgraded with the session subprotocol.
 *
 * @example Usage
 * ```ts
 * import { helloUnsupported, UNSUPPORTED_HELLO } from "./resume_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const sent: string[] = [];
 * const socket = Object.assign(new EventTarget(), { send: (f: string) => sent.push(f) });
 * helloUnsupported(socket as unknown as WebSocket);
 * socket.dispatchEvent(new Event("open"));
 * assert.deepEqual(sent, [UNSUPPORTED_HELLO]);
 * ```
 */
export function helloUnsupported(socket: WebSocket): void {
  socket.addEventListener("open", () => socket.send(UNSUPPORTED_HELLO), { once: true });
}

/**
 * The control frame that opens every session connection (a text frame, JSON).
 *
 * @param code What happened to the offer.
 * @param token The session's token.
 * @param seq The number of the last message before the frames that follow.
 * @returns The frame.
 *
 * @example Usage
 * ```ts
 * import { helloFrame } from "./resume_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   helloFrame("resumed", "t0k3n", 7),
 *   '{"dormant":"session","code":"resumed","token":"t0k3n","seq":7}',
 * );
 * ```
 */
export function helloFrame(code: HelloCode, token: string, seq: number): string {
  return JSON.stringify({ dormant: "session", code, token, seq });
}
