/**
 * {@linkcode StorageBackend}: the few primitive operations a `Storage` needs
 * from where the values live. Two implementations: `KvBackend` (Deno KV) and
 * `MemoryBackend`; both run the shared storage conformance suite. Everything
 * else (coalescing, read-your-writes, ordering, transactions, limits, gates)
 * is `Storage`'s, written once.
 *
 * @module
 */

import type { KeyRange } from "./_key_range.ts";

/** A stored value and its version (KV versionstamp). */
export interface StoredValue {
  /** The serialized value. */
  readonly bytes: Uint8Array;
  /** Changes with every commit that writes the key. */
  readonly version: string;
}

/** One key to write (`bytes`) or delete (`null`). */
export interface WriteOp {
  /** The user key. */
  readonly key: string;
  /** Its UTF-8 bytes. */
  readonly keyBytes: Uint8Array;
  /** The serialized value, or `null` to delete. */
  readonly bytes: Uint8Array | null;
}

/** A version check on a key; `null` = must not exist. */
export interface CheckOp {
  /** The UTF-8 bytes of the user key. */
  readonly keyBytes: Uint8Array;
  /** The version the key must still have. */
  readonly version: string | null;
}

/** An entry returned by a range read. */
export interface ListedEntry {
  /** The user key. */
  readonly key: string;
  /** Its UTF-8 bytes. */
  readonly keyBytes: Uint8Array;
  /** Its value. */
  readonly value: StoredValue;
}

/**
 * Where one object's values live. Keys are UTF-8 bytes, ordered bytewise.
 * Errors are already `KvError`s.
 */
export interface StorageBackend {
  /**
   * The object whose storage this is: its alarm is kept under this name and
   * id, and its KV key sizes count against KV's limits on every backend.
   */
  readonly storageName: string;
  /** The object's id (64 lowercase hex characters on KV). */
  readonly id: string;
  /** Versions of the keys (`null` = absent), without reading whole values. */
  versions(keys: readonly Uint8Array[]): Promise<(string | null)[]>;
  /** Whole values; a value split over several entries is never returned half-written. */
  read(keys: readonly Uint8Array[]): Promise<(StoredValue | null)[]>;
  /** The entries of `range` in byte order (or reversed), at most `limit` of them. */
  list(range: KeyRange, reverse: boolean, limit: number | undefined): Promise<ListedEntry[]>;
  /**
   * One atomic commit of writes, if every check holds. Resolves to its
   * mutation count (2 per key: value and continuation), or `null` if a check failed.
   */
  commit(ops: readonly WriteOp[], checks: readonly CheckOp[]): Promise<number | null>;
  /** Deletes everything of the object, in as many commits as needed, reporting each. */
  clear(onCommit: (mutations: number) => void): Promise<void>;
}
