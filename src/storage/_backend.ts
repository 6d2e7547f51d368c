// The contract between the storage engine and a store (Deno KV or memory),
// and the write operations both sides handle.

import {
  checkBatchSize,
  compareBytes,
  type EncodedKey,
  encodeKey,
  encodeValue,
  type KeyRange,
} from "./_codec.ts";
import { addSize, type AtomicSize, type KvLayout } from "./_kv_layout.ts";
import type { StoragePutOptions } from "./object_storage.ts";

/** A stored value and its version (KV versionstamp). */
export interface StoredValue {
  readonly bytes: Uint8Array;
  readonly version: string;
}

/** One key to write (`bytes`) or delete (`null`). */
export interface WriteOp {
  readonly key: string;
  readonly keyBytes: Uint8Array;
  readonly bytes: Uint8Array | null;
}

/** A versionstamp check on a head key; `null` = must not exist. */
export interface CheckOp {
  readonly keyBytes: Uint8Array;
  readonly version: string | null;
}

/** An entry returned by a range read. */
export interface ListedEntry {
  readonly key: string;
  readonly keyBytes: Uint8Array;
  readonly value: StoredValue;
}

/** What an engine needs from a store. Errors are already `KvError`s. */
export interface StorageBackend {
  readonly layout: KvLayout;
  /** Versions of the keys (`null` = absent), without reading whole values. */
  versions(keys: readonly Uint8Array[]): Promise<(string | null)[]>;
  /** Whole values; a value split over several entries is never returned half-written. */
  read(keys: readonly Uint8Array[]): Promise<(StoredValue | null)[]>;
  list(range: KeyRange, reverse: boolean, limit: number | undefined): Promise<ListedEntry[]>;
  /** One atomic commit. Resolves to its mutation count, or `null` if a check failed. */
  commit(ops: readonly WriteOp[], checks: readonly CheckOp[]): Promise<number | null>;
  /** Deletes everything of the object, in as many commits as needed. */
  clear(onCommit: (mutations: number) => void): Promise<void>;
}

/** The object's alarm, as the storage sees it. */
export interface AlarmAccess {
  get(): Promise<number | null>;
  set(time: number): Promise<void>;
  delete(): Promise<void>;
}

export function sortEntries<V>(
  entries: [Uint8Array, string, V][],
  reverse = false,
): [Uint8Array, string, V][] {
  const sign = reverse ? -1 : 1;
  return entries.sort((a, b) => sign * compareBytes(a[0], b[0]));
}

/** Parses the arguments of `put()`, validating everything before any write. */
export function parsePut(arg: unknown, value: unknown, options: unknown): {
  ops: WriteOp[];
  action: string;
  options: StoragePutOptions | undefined;
} {
  if (arg !== null && typeof arg === "object" && !Array.isArray(arg)) {
    const entries = Object.entries(arg);
    checkBatchSize(entries.length, "put");
    const ops = entries.map(([key, v]) => {
      const { bytes } = encodeKey(key, "put key");
      return { key, keyBytes: bytes, bytes: encodeValue(v) };
    });
    return { ops, action: "put entries", options: value as StoragePutOptions | undefined };
  }
  const { key, bytes } = encodeKey(arg, "put key");
  return {
    ops: [{ key, keyBytes: bytes, bytes: encodeValue(value) }],
    action: "put value",
    options: options as StoragePutOptions | undefined,
  };
}

export function deleteOps(keys: EncodedKey[]): WriteOp[] {
  return keys.map((k) => ({ key: k.key, keyBytes: k.bytes, bytes: null }));
}

/** The cost of `ops` when they replace earlier writes in `current` (last write of a key wins). */
export function projectSize(
  base: AtomicSize,
  current: ReadonlyMap<string, WriteOp>,
  ops: readonly WriteOp[],
  layout: KvLayout,
): AtomicSize {
  const size = { ...base };
  const seen = new Map<string, WriteOp>();
  for (const op of ops) seen.set(op.key, op);
  for (const op of seen.values()) {
    const old = current.get(op.key);
    if (old) addSize(size, layout.writeSize(old.keyBytes, old.bytes), -1);
    addSize(size, layout.writeSize(op.keyBytes, op.bytes));
  }
  return size;
}
