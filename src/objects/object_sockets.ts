import { ObjectFullError } from "../errors.ts";
import type { Connection } from "../sockets/connection.ts";
import { RECORD } from "../sockets/connection_owner.ts";
import {
  ACCEPT_HIBERNATABLE,
  ACCEPTED,
  ADOPT,
  ATTACHMENT,
  DIRTY,
  OWNER,
  PLAIN,
  SESSION,
  TAGS,
  TERMINATE,
  UNLOAD_ATTACHMENT,
} from "../sockets/connection_internals.ts";
import type { ConnectionOwner } from "../sockets/connection_owner.ts";
import type { BroadcastPayload } from "../sockets/broadcast.ts";
import type { ObjectSocketList } from "../sockets/socket_registry.ts";
import { normalizeTags } from "../sockets/tags.ts";
import type { HostStore, PersistedObject } from "./persisted_object.ts";

/** What the sockets tell the object's presence (implemented by `ObjectPresence`). */
export interface SocketPresences {
  /** The presence an accepted socket starts with (from an attachment set before), checked. */
  initial(ws: Connection): unknown;
  /** Sets an open socket's (checked) presence. */
  set(ws: Connection, value: unknown): void;
  /** `ws` stopped being open. */
  left(ws: Connection): void;
}

/**
 * The sockets of one object, which outlive its instances: the hibernatable
 * ones (`ctx.acceptWebSocket()`, listed with their tags and counted until
 * their descriptor is gone) and the ones accepted with `accept()` (which
 * keep the instance in memory).
 */
export class ObjectSockets {
  readonly #list: ObjectSocketList<Connection>;
  readonly #store: HostStore;
  readonly #object: PersistedObject;
  readonly #presences: SocketPresences | null;
  #live = 0; // accepted sockets whose descriptor is not gone yet (closing ones too)
  // Sockets accepted with accept() (not hibernatable) whose descriptor is not gone: they keep
  // the instance in memory. A reset closes them and moves them to #discarded.
  readonly #plain = new Set<Connection>();
  #discarded: WeakSet<Connection> | null = null;

  constructor(
    list: ObjectSocketList<Connection>,
    store: HostStore,
    object: PersistedObject,
    presences?: SocketPresences,
  ) {
    this.#list = list;
    this.#store = store;
    this.#object = object;
    this.#presences = presences ?? null;
  }

  /** Open hibernatable sockets. */
  get size(): number {
    return this.#list.size;
  }

  /** Hibernatable sockets whose descriptor is not gone (open or closing). */
  get live(): number {
    return this.#live;
  }

  /** Sockets accepted with `accept()` that are not gone. */
  get plain(): number {
    return this.#plain.size;
  }

  /** `ctx.acceptWebSocket(ws, tags)` for `owner`. */
  accept(owner: ConnectionOwner, ws: Connection, tags: unknown, max: number, now: number): void {
    if (ws[PLAIN]) {
      throw new TypeError(
        "Cannot call acceptWebSocket() on a WebSocket accepted with accept(): use one or the other, not both",
      );
    }
    if (ws[ACCEPTED]) {
      throw new TypeError("Cannot accept WebSocket as it was already accepted");
    }
    const normalized = normalizeTags(tags);
    if (this.#live >= max) throw new ObjectFullError(max);
    // Presence from an attachment set before the accept is checked before anything changes.
    const presence = this.#presences?.initial(ws) ?? null;
    ws[ACCEPT_HIBERNATABLE](owner, normalized, now);
    this.#live++;
    this.#list.add(ws, normalized);
    this.#store.markSocket(this.#object, ws, RECORD);
    if (presence !== null) this.#presences!.set(ws, presence);
  }

  /**
   * New (normalized) tags for an accepted socket: listed under them at once,
   * its record marked dirty (written behind, with the next flush).
   */
  retag(ws: Connection, tags: readonly string[]): void {
    if (tags.length === ws[TAGS].length && tags.every((tag, i) => ws[TAGS][i] === tag)) return;
    ws[TAGS] = tags;
    this.#list.retag(ws, tags);
    ws[SESSION]?.changed();
    this.#store.markSocket(this.#object, ws, RECORD);
  }

  /** Takes an `accept()`ed socket without owner for `owner`; false if `ws` is no such socket. */
  adopt(owner: ConnectionOwner, ws: Connection): boolean {
    if (!ws[PLAIN] || ws[OWNER] !== null) return false;
    ws[ADOPT](owner);
    this.#plain.add(ws);
    return true;
  }

  /** Open sockets with `tag` (all without), oldest first. */
  list(tag?: string): readonly Connection[] {
    return this.#list.list(tag);
  }

  /**
   * Sends `payload` to every open socket with `tag` (all without) except
   * those in `except`, through each socket's own send path: the pre-open
   * queue, the output gate and backpressure apply as to any `send()`. Runs
   * nothing of the instance and reads nothing: the list outlives instances.
   * Returns how many sockets it was handed to.
   */
  broadcast(payload: BroadcastPayload, tag?: string, except?: ReadonlySet<unknown>): number {
    let sent = 0;
    // A frozen snapshot: a socket closed by backpressure mid-loop leaves the list, not this array.
    for (const ws of this.#list.list(tag)) {
      if (except?.has(ws)) continue;
      ws.send(payload);
      sent++;
    }
    return sent;
  }

  /** `ws` stopped being open: it is no longer listed. */
  leave(ws: Connection): void {
    this.#list.remove(ws);
    this.#presences?.left(ws);
  }

  /** The descriptor of `ws` is gone; true if that may let the object hibernate. */
  gone(ws: Connection): boolean {
    if (ws[PLAIN]) return this.#plain.delete(ws);
    this.#list.remove(ws);
    this.#live--;
    this.#store.forgetSocket(this.#object, ws);
    return true;
  }

  /** Drops from memory the attachments already persisted; true if any was dropped. */
  unloadAttachments(): boolean {
    let unloaded = false;
    for (const ws of this.#list.list()) {
      if (ws[DIRTY] === 0 && ws[ATTACHMENT]) {
        ws[UNLOAD_ATTACHMENT]();
        unloaded = true;
      }
    }
    return unloaded;
  }

  /** Sockets accepted with `accept()` that are not gone (for shutdown). */
  unlisted(): readonly Connection[] {
    return [...this.#plain];
  }

  /**
   * The instance was reset: sockets accepted with `accept()` had their
   * listeners in it. Cloudflare disconnects them; they close with 1011 and
   * no further event.
   */
  discardPlain(): void {
    if (this.#plain.size === 0) return;
    const discarded = this.#discarded ??= new WeakSet();
    for (const ws of this.#plain) {
      discarded.add(ws);
      ws[TERMINATE](1011, "Object was reset");
    }
    this.#plain.clear();
  }

  /** Whether `ws` was closed by a reset (its late events reach nobody). */
  isDiscarded(ws: Connection): boolean {
    return this.#discarded?.has(ws) ?? false;
  }
}
