import type { ClockTimer } from "../clock.ts";
import type { Connection } from "../sockets/connection.ts";
import { RELEASE } from "../sockets/connection_internals.ts";
import type { SessionHook } from "../sockets/session_hook.ts";
import { DETACH_CLOSE } from "./resume_protocol.ts";

/** A logged message: text, or a private copy of the bytes. */
export type Payload = string | Uint8Array;

/** The session's client is connected: released messages go out. */
export const ATTACHED = 0;
/** The connection dropped: messages are only logged, until a resume or the window's end. */
export const DETACHED = 1;
/** A resume is reading the log: released messages past the snapshot are held for it. */
export const RESUMING = 2;
/** Closed for good. */
export const ENDED = 3;

/** What a session needs from its object's log. */
export interface SessionLogOwner {
  /** Numbers and logs a message of `session`. */
  append(session: Session, payload: Payload): void;
  /** The connection of `session` dropped: its resume window starts. */
  detached(session: Session): void;
  /** The record of `session` changed. */
  markRecord(session: Session): void;
  /** `session` ended: its record goes. */
  ended(session: Session): void;
}

/**
 * One resumable socket's session: its number within the object, its token
 * hash, the sequence number of the last message sent to it, and where its
 * count starts in the object's log (`basePos`, `baseSeq`: it had received
 * `baseSeq` messages before log position `basePos`).
 */
export class Session implements SessionHook {
  /** Number within the object (log entries name their recipients by it). */
  readonly no: number;
  /** SHA-256 of the token, base64url. */
  readonly hash: string;
  /** The socket. */
  readonly ws: Connection;
  /** Messages numbered so far (the last one's sequence number). */
  seq = 0;
  /** The count starts at this log position… */
  basePos: number;
  /** …with this many messages already received. */
  baseSeq = 0;
  /** `ATTACHED`, `DETACHED`, `RESUMING` or `ENDED`. */
  state: number = ATTACHED;
  /** While resuming: the last sequence number the log read covers. */
  snapshot = 0;
  /** While resuming: released messages after the snapshot, in order. */
  held: Payload[] = [];
  /** The resume window's timer while detached. */
  timer: ClockTimer | null = null;
  /** The log entry this session was last added to (one entry counts once per session). */
  lastEntry: unknown = null;
  /** The attachment last written with the record (kept while the socket's is unloaded). */
  attachment: Uint8Array | null = null;
  readonly #log: SessionLogOwner;

  constructor(log: SessionLogOwner, no: number, hash: string, ws: Connection, basePos: number) {
    this.#log = log;
    this.no = no;
    this.hash = hash;
    this.ws = ws;
    this.basePos = basePos;
  }

  /** A send on the socket: numbered and logged, released once durable. */
  send(message: string | ArrayBuffer | ArrayBufferView): void {
    this.#log.append(this, typeof message === "string" ? message : copyBytes(message));
  }

  /** A dropped connection (1006) or a client's detach close keeps the session; any other close ends it. */
  dropped(code: number): boolean {
    if (this.state !== ATTACHED) return this.state !== ENDED;
    if (code !== 1006 && code !== DETACH_CLOSE) return false;
    this.state = DETACHED;
    this.#log.detached(this);
    return true;
  }

  /** Tags or attachment changed. */
  changed(): void {
    if (this.state !== ENDED) this.#log.markRecord(this);
  }

  /** The socket closed for good. */
  end(): void {
    if (this.state === ENDED) return;
    this.state = ENDED;
    this.#log.ended(this);
  }

  /** A logged message of this session is durable: out it goes (or to the resume waiting for it). */
  released(payload: Payload, seq: number): void {
    if (this.state === ATTACHED) this.ws[RELEASE](payload);
    else if (this.state === RESUMING && seq > this.snapshot) this.held.push(payload);
  }
}

/** A private copy of the bytes `send()` was given (the caller may reuse its buffer). */
function copyBytes(message: ArrayBuffer | ArrayBufferView): Payload {
  if (message instanceof ArrayBuffer) return new Uint8Array(message.slice(0));
  if (ArrayBuffer.isView(message)) {
    return new Uint8Array(message.buffer, message.byteOffset, message.byteLength).slice();
  }
  return String(message); // what Deno sends for anything else
}
