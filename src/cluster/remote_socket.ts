/**
 * {@linkcode RemoteSocket}: on the node that owns an object, the stand-in
 * for a socket another node holds. The owner's connection binds it as it
 * would bind Deno's socket, so `getWebSockets()`, tags, attachments,
 * broadcasts, auto-response timestamps and hibernation work unchanged; its
 * sends and closes go to the holder, and the holder's frames and closes
 * come back as its events.
 *
 * @module
 */

import type { Connection } from "../sockets/connection.ts";

/** Where a remote socket's sends and closes go (the bridge). */
export interface RemoteSocketLink {
  /** A message for the client (batched per holder; the payload is the socket's own copy). */
  send(socket: RemoteSocket, payload: string | ArrayBuffer): void;
  /** The owner closes the socket. */
  close(socket: RemoteSocket, code: number, reason: string): void;
}

type Listener = ((event: Event) => void) | { handleEvent(event: Event): void };

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/**
 * The part of `globalThis.WebSocket` a connection uses: `readyState`,
 * `bufferedAmount`, `binaryType`, `send`, `close` and listeners for `open`,
 * `message`, `error` and `close`.
 */
export class RemoteSocket {
  /** The node holding the real socket. */
  readonly holder: string;
  /** The socket's id on its holder. */
  readonly sid: string;
  /** The object's storage name and id, for the auto-response pushes. */
  readonly storage: string;
  readonly hex: string;
  /** Binary messages arrive as `ArrayBuffer` (set by the connection; the only type used). */
  binaryType: BinaryType = "arraybuffer";
  /** The owner's connection bound to this socket. */
  connection: Connection | null = null;
  /** The last frame sequence number delivered (duplicates are dropped). */
  lastSeq = 0;
  #state = CONNECTING;
  readonly #link: RemoteSocketLink;
  readonly #listeners = new Map<string, Listener[]>();

  constructor(link: RemoteSocketLink, holder: string, sid: string, storage: string, hex: string) {
    this.#link = link;
    this.holder = holder;
    this.sid = sid;
    this.storage = storage;
    this.hex = hex;
  }

  /** 0 until opened, 1 open, 2 closing, 3 closed. */
  get readyState(): number {
    return this.#state;
  }

  /** Always 0: backpressure applies on the holder, where the bytes queue. */
  get bufferedAmount(): number {
    return 0;
  }

  /** Sends a message to the holder's client; a copy of bytes is taken now, as Deno's send does. */
  send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (this.#state !== OPEN) return;
    if (typeof data === "string") return this.#link.send(this, data);
    const bytes = data instanceof ArrayBuffer
      ? data.slice(0)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer;
    this.#link.send(this, bytes);
  }

  /** Asks the holder to close; the close event comes back from it. */
  close(code?: number, reason?: string): void {
    if (this.#state >= CLOSING) return;
    this.#state = CLOSING;
    this.#link.close(this, code ?? 1000, reason ?? "");
  }

  /** Adds a listener (`open`, `message`, `error`, `close`). */
  addEventListener(type: string, listener: Listener): void {
    const list = this.#listeners.get(type);
    if (list === undefined) this.#listeners.set(type, [listener]);
    else if (!list.includes(listener)) list.push(listener);
  }

  /** Removes a listener. */
  removeEventListener(type: string, listener: Listener): void {
    const list = this.#listeners.get(type);
    const at = list?.indexOf(listener) ?? -1;
    if (at >= 0) list!.splice(at, 1);
  }

  // ---- events from the holder, through the bridge ---------------------------------------------

  /** The holder's socket is bound: open. */
  open(): void {
    if (this.#state !== CONNECTING) return;
    this.#state = OPEN;
    this.#dispatch({ type: "open" });
  }

  /** A data message from the client. */
  message(data: string | ArrayBuffer): void {
    if (this.#state === CLOSED) return;
    this.#dispatch({ type: "message", data });
  }

  /** A protocol error on the holder (no close follows). */
  error(message: string): void {
    if (this.#state === CLOSED) return;
    this.#dispatch({ type: "error", message });
  }

  /** The socket closed (code already mapped by the holder); delivered once. */
  closed(code: number, reason: string, wasClean: boolean): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#dispatch({ type: "close", code, reason, wasClean });
  }

  #dispatch(event: Record<string, unknown>): void {
    const list = this.#listeners.get(event.type as string);
    if (list === undefined) return;
    for (const listener of [...list]) {
      // The connection's listener reads only these fields: a plain object costs less than an Event.
      if (typeof listener === "function") listener(event as unknown as Event);
      else listener.handleEvent(event as unknown as Event);
    }
  }
}
