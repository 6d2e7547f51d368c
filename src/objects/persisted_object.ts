import type { AutoResponse } from "../sockets/auto_response.ts";
import type { Connection } from "../sockets/connection.ts";

/** The per-object settings that are persisted. */
export interface PersistedSettings {
  readonly autoResponse: AutoResponse | null;
  readonly eventTimeoutMs: number;
}

/**
 * What the hibernation store reads and restores of one object: its KV key
 * base, its settings, and its sockets. Implemented by `ObjectHost`.
 */
export interface PersistedObject {
  /** `["dormant", "h", storageName, id]`: this object's hibernation records. */
  readonly keyBase: readonly string[];
  /** The auto-response to persist, or `null`. */
  readonly autoResponse: AutoResponse | null;
  /** The event timeout to persist, in ms (0 for none). */
  readonly eventTimeoutMs: number;
  /** The object's open sockets. */
  list(): readonly Connection[];
  /** Sockets with a queued event (a closed one may still need its attachment). */
  queuedSockets(): Iterable<Connection>;
  /** Settings read back from KV when the object wakes (unless changed since). */
  restoreSettings(settings: PersistedSettings): void;
  /** One KV commit carried records of this object (for stats). */
  countCommit(): void;
}

/** The write-behind persistence the host uses (implemented by `HibernationStore`). */
export interface HostStore {
  markSocket(object: PersistedObject, ws: Connection, what: number): void;
  markConfig(object: PersistedObject): void;
  forgetSocket(object: PersistedObject, ws: Connection): void;
  flush(): Promise<void>;
  load(object: PersistedObject): Promise<void>;
}
