/**
 * {@linkcode MemoryBackend}: object storage in memory, with KV's behaviour
 * where it is observable: versions per commit, checks, byte-ordered ranges
 * and the same mutation counts (`Storage` applies the same KV limits to
 * every backend). For tests, examples and apps that need no persistence.
 *
 * @module
 */

import type { CheckOp, ListedEntry, StorageBackend, StoredValue, WriteOp } from "./backend.ts";
import { compareBytes, decodeKey, inRange, type KeyRange } from "./_key_range.ts";

interface Entry {
  readonly keyBytes: Uint8Array;
  readonly value: StoredValue;
}

/** A `StorageBackend` in memory: everything but durability. */
export class MemoryBackend implements StorageBackend {
  readonly storageName: string;
  readonly id: string;
  readonly #entries = new Map<string, Entry>();
  /** Map keys in byte order; rebuilt after keys were added or removed. */
  #sorted: string[] | null = null;
  #version = 0;

  /**
   * An empty storage.
   *
   * @param storageName The storage name, used for the alarm and for KV-identical size limits.
   * @param id The object id, used for the alarm and for KV-identical size limits.
   */
  constructor(storageName = "memory", id: string = "0".repeat(64)) {
    this.storageName = storageName;
    this.id = id;
  }

  #key(bytes: Uint8Array): string {
    // Map keys by their bytes: a latin1 string of the UTF-8 bytes is unique per key.
    return String.fromCharCode(...bytes);
  }

  versions(keys: readonly Uint8Array[]): Promise<(string | null)[]> {
    return Promise.resolve(keys.map((k) => this.#entries.get(this.#key(k))?.value.version ?? null));
  }

  read(keys: readonly Uint8Array[]): Promise<(StoredValue | null)[]> {
    return Promise.resolve(keys.map((k) => this.#entries.get(this.#key(k))?.value ?? null));
  }

  list(range: KeyRange, reverse: boolean, limit: number | undefined): Promise<ListedEntry[]> {
    const entries = this.#entries;
    this.#sorted ??= [...entries.keys()].sort((a, b) =>
      compareBytes(entries.get(a)!.keyBytes, entries.get(b)!.keyBytes)
    );
    const matching = this.#sorted.map((key) => entries.get(key)!).filter((entry) =>
      inRange(range, entry.keyBytes)
    );
    if (reverse) matching.reverse();
    const page = limit === undefined ? matching : matching.slice(0, limit);
    return Promise.resolve(
      page.map((entry) => ({
        key: decodeKey(entry.keyBytes),
        keyBytes: entry.keyBytes,
        value: entry.value,
      })),
    );
  }

  commit(ops: readonly WriteOp[], checks: readonly CheckOp[]): Promise<number | null> {
    for (const check of checks) {
      const current = this.#entries.get(this.#key(check.keyBytes))?.value.version ?? null;
      if (current !== check.version) return Promise.resolve(null);
    }
    const version = (++this.#version).toString(16).padStart(20, "0");
    for (const op of ops) {
      const key = this.#key(op.keyBytes);
      if (op.bytes === null) {
        if (this.#entries.delete(key)) this.#sorted = null;
      } else {
        if (!this.#entries.has(key)) this.#sorted = null;
        this.#entries.set(key, { keyBytes: op.keyBytes, value: { bytes: op.bytes, version } });
      }
    }
    // Same count as KV: head and continuation per key.
    return Promise.resolve(2 * ops.length);
  }

  clear(onCommit: (mutations: number) => void): Promise<void> {
    const count = this.#entries.size;
    this.#entries.clear();
    this.#sorted = null;
    if (count > 0) onCommit(count);
    return Promise.resolve();
  }
}
