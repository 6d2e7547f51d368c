/**
 * What a resumable socket's session does with the socket's sends and the
 * end of its connection (implemented by the session, outside this folder).
 *
 * @module
 */

/** The session of a resumable socket, as the socket sees it. */
export interface SessionHook {
  /** Every `send()` while the socket is open: numbered, logged, released once durable. */
  send(message: string | ArrayBuffer | ArrayBufferView): void;
  /**
   * The connection ended while the socket was open, with this (mapped)
   * code: `true` keeps the socket open and detached (its session waits for
   * a resume), `false` closes it as usual.
   */
  dropped(code: number): boolean;
  /** The socket's tags or attachment changed: the session's record is written again. */
  changed(): void;
  /** The socket stopped being open for good: the session ends. */
  end(): void;
}
