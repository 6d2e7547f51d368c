/**
 * The socket registry: every accepted socket, keyed by object, with its tags.
 * It outlives object instances, which is what makes hibernation possible.
 *
 * @module
 */

/** The sockets of one object. */
export interface ObjectSocketList<S> {
  /** Adds an open socket with its (normalized) tags. */
  add(socket: S, tags: readonly string[]): void;
  /**
   * Replaces the (normalized) tags of a listed socket; a socket that is not
   * listed is left alone. Tag lists keep oldest accepted first.
   */
  retag(socket: S, tags: readonly string[]): void;
  /** Removes a socket from every list; `false` when it was not listed. */
  remove(socket: S): boolean;
  /**
   * Open sockets, oldest accepted first, optionally only those with `tag`.
   * The array is frozen and shared until membership changes.
   */
  list(tag?: string): readonly S[];
  /** How many sockets are listed. */
  readonly size: number;
}

/** Every object's sockets, keyed by object key. */
export interface SocketRegistry<S> {
  /** The socket list of one object (created on first use). */
  forObject(key: string): ObjectSocketList<S>;
  /** Forgets an object whose list is empty. */
  release(key: string): void;
}

const EMPTY: readonly never[] = Object.freeze([]);

class MemoryObjectSocketList<S> implements ObjectSocketList<S> {
  #all = new Set<S>();
  #tags = new Map<S, readonly string[]>();
  #byTag = new Map<string, Set<S>>();
  #allCache: readonly S[] | null = EMPTY;
  #tagCache = new Map<string, readonly S[]>();
  // Tags whose set got a socket by retag(): reordered (oldest accepted first) on the next list().
  #unordered = new Set<string>();

  get size(): number {
    return this.#all.size;
  }

  add(socket: S, tags: readonly string[]): void {
    if (this.#all.has(socket)) return;
    this.#all.add(socket);
    this.#allCache = null;
    if (tags.length === 0) return;
    this.#tags.set(socket, tags);
    for (const tag of tags) {
      let set = this.#byTag.get(tag);
      if (set === undefined) this.#byTag.set(tag, set = new Set());
      set.add(socket);
      this.#tagCache.delete(tag);
    }
  }

  retag(socket: S, tags: readonly string[]): void {
    if (!this.#all.has(socket)) return;
    const old = this.#tags.get(socket) ?? EMPTY;
    for (const tag of old) {
      if (tags.includes(tag)) continue;
      const set = this.#byTag.get(tag)!;
      set.delete(socket);
      if (set.size === 0) this.#byTag.delete(tag);
      this.#tagCache.delete(tag);
    }
    for (const tag of tags) {
      if (old.includes(tag)) continue;
      let set = this.#byTag.get(tag);
      if (set === undefined) this.#byTag.set(tag, set = new Set());
      else this.#unordered.add(tag); // appended: may be ahead of older sockets
      set.add(socket);
      this.#tagCache.delete(tag);
    }
    if (tags.length === 0) this.#tags.delete(socket);
    else this.#tags.set(socket, tags);
  }

  remove(socket: S): boolean {
    if (!this.#all.delete(socket)) return false;
    this.#allCache = null;
    const tags = this.#tags.get(socket);
    if (tags === undefined) return true;
    this.#tags.delete(socket);
    for (const tag of tags) {
      const set = this.#byTag.get(tag)!;
      set.delete(socket);
      if (set.size === 0) this.#byTag.delete(tag);
      this.#tagCache.delete(tag);
    }
    return true;
  }

  list(tag?: string): readonly S[] {
    if (tag === undefined) return this.#allCache ??= Object.freeze([...this.#all]);
    let cached = this.#tagCache.get(tag);
    if (cached === undefined) {
      let set = this.#byTag.get(tag);
      if (set !== undefined && this.#unordered.delete(tag)) {
        const members = set;
        this.#byTag.set(tag, set = new Set([...this.#all].filter((s) => members.has(s))));
      }
      cached = set === undefined ? EMPTY : Object.freeze([...set]);
      this.#tagCache.set(tag, cached);
    }
    return cached;
  }
}

/**
 * The in-process registry. Lists keep insertion order (a `Set`), so "oldest
 * accepted first" holds with and without a tag; the frozen arrays are cached
 * per tag and rebuilt only after a membership change.
 *
 * @example Usage
 * ```ts
 * import { MemorySocketRegistry } from "./socket_registry.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = new MemorySocketRegistry<string>();
 * const room = registry.forObject("room");
 * room.add("a", ["x"]);
 * room.add("b", []);
 * assert.deepEqual(room.list(), ["a", "b"]);
 * assert.deepEqual(room.list("x"), ["a"]);
 * assert.equal(room.list(), room.list());
 * ```
 */
export class MemorySocketRegistry<S> implements SocketRegistry<S> {
  #objects = new Map<string, MemoryObjectSocketList<S>>();

  /** The socket list of one object. */
  forObject(key: string): ObjectSocketList<S> {
    let list = this.#objects.get(key);
    if (list === undefined) this.#objects.set(key, list = new MemoryObjectSocketList<S>());
    return list;
  }

  /** Forgets an object whose list is empty. */
  release(key: string): void {
    if (this.#objects.get(key)?.size === 0) this.#objects.delete(key);
  }
}
