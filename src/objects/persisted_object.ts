import type { Connection, ConnectionOwner } from "../sockets/connection.ts";

/** A reply the runtime sends to a matching message without waking the object. */
export interface AutoResponse {
  readonly request: string;
  readonly response: string;
}

/**
 * What the hibernation store reads and restores of one object: its KV key
 * base, its settings, and its sockets. Implemented by `ObjectHost`; the store
 * reaches it as the owner of a socket accepted with `ctx.acceptWebSocket()`.
 */
export interface PersistedObject extends ConnectionOwner {
  /** `["dormant", "h", storageName, id]`: this object's hibernation records. */
  readonly keyBase: readonly string[];
  /** The settings to persist, and to restore when the object wakes. */
  readonly settings: {
    readonly autoResponse: AutoResponse | null;
    readonly eventTimeoutMs: number;
    restore(autoResponse: AutoResponse | null, eventTimeoutMs: number): void;
  };
  /** The object's open sockets. */
  list(): readonly Connection[];
  /** Sockets with a queued event (a closed one may still need its attachment). */
  queuedSockets(): Iterable<Connection>;
  /** One KV commit carried records of this object (for stats). */
  committed(): void;
}

/** The write-behind persistence the host uses (implemented by `HibernationStore`). */
export interface HostStore {
  markSocket(ws: Connection, what: number): void;
  markConfig(object: PersistedObject): void;
  forgetSocket(ws: Connection): void;
  flush(): Promise<void>;
  load(object: PersistedObject): Promise<void>;
}
