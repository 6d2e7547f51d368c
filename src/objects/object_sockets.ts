import { ObjectFullError } from "../errors.ts";
import {
  ACCEPT_HIBERNATABLE,
  ADOPT,
  type Connection,
  PLAIN,
  RECORD,
} from "../sockets/connection.ts";
import type { ConnectionOwner } from "../sockets/connection.ts";
import type { ObjectSocketList } from "../sockets/socket_registry.ts";
import { normalizeTags } from "../sockets/tags.ts";
import type { HostStore } from "./persisted_object.ts";

/**
 * The sockets of one object, which outlive its instances: the hibernatable
 * ones (`ctx.acceptWebSocket()`, listed with their tags and counted until
 * their descriptor is gone) and the ones accepted with `accept()` (which
 * keep the instance in memory).
 */
export class ObjectSockets {
  readonly #list: ObjectSocketList<Connection>;
  readonly #store: HostStore;
  #live = 0; // accepted sockets whose descriptor is not gone yet (closing ones too)
  // Sockets accepted with accept() (not hibernatable) whose descriptor is not gone: they keep
  // the instance in memory. A reset closes them and moves them to #discarded.
  readonly #plain = new Set<Connection>();
  #discarded: WeakSet<Connection> | null = null;

  constructor(list: ObjectSocketList<Connection>, store: HostStore) {
    this.#list = list;
    this.#store = store;
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
    if (ws.accepted) {
      throw new TypeError("Cannot accept WebSocket as it was already accepted");
    }
    const normalized = normalizeTags(tags);
    if (this.#live >= max) throw new ObjectFullError(max);
    ws[ACCEPT_HIBERNATABLE](owner, normalized, now);
    this.#live++;
    this.#list.add(ws, normalized);
    this.#store.markSocket(ws, RECORD);
  }

  /** Takes an `accept()`ed socket without owner for `owner`; false if `ws` is no such socket. */
  adopt(owner: ConnectionOwner, ws: Connection): boolean {
    if (!ws[PLAIN] || ws.owner !== null) return false;
    ws[ADOPT](owner);
    this.#plain.add(ws);
    return true;
  }

  /** Open sockets with `tag` (all without), oldest first. */
  list(tag?: string): readonly Connection[] {
    return this.#list.list(tag);
  }

  /** `ws` stopped being open: it is no longer listed. */
  leave(ws: Connection): void {
    this.#list.remove(ws);
  }

  /** The descriptor of `ws` is gone; true if that may let the object hibernate. */
  gone(ws: Connection): boolean {
    if (ws[PLAIN]) return this.#plain.delete(ws);
    this.#list.remove(ws);
    this.#live--;
    this.#store.forgetSocket(ws);
    return true;
  }

  /** Drops from memory the attachments already persisted; true if any was dropped. */
  unloadAttachments(): boolean {
    let unloaded = false;
    for (const ws of this.#list.list()) {
      if (ws.dirty === 0 && ws.attachmentBytes) {
        ws.unloadAttachment();
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
      ws.terminate(1011, "Object was reset");
    }
    this.#plain.clear();
  }

  /** Whether `ws` was closed by a reset (its late events reach nobody). */
  isDiscarded(ws: Connection): boolean {
    return this.#discarded?.has(ws) ?? false;
  }
}
