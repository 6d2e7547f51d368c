// What each write of object storage costs against the limits of ONE Deno KV
// atomic, and the checks that refuse a write that would not fit. Every
// backend is held to these rules, so the KV and memory backends accept and
// refuse exactly the same writes.

import {
  KV_MAX_KEY,
  KV_MAX_KEY_TOTAL,
  KV_MAX_MUTATIONS,
  KV_MAX_PAYLOAD,
  KV_MAX_VALUE,
  StorageKeys,
} from "../kv/keys.ts";
import type { WriteOp } from "./backend.ts";
import type { KeyRange } from "./_key_range.ts";

/** What a set of writes costs in one KV atomic. */
export interface AtomicSize {
  mutations: number;
  payload: number;
  keys: number;
}

/** An empty cost. */
export function zeroSize(): AtomicSize {
  return { mutations: 0, payload: 0, keys: 0 };
}

/** `a += sign * b`. */
export function addSize(a: AtomicSize, b: AtomicSize, sign = 1): void {
  a.mutations += sign * b.mutations;
  a.payload += sign * b.payload;
  a.keys += sign * b.keys;
}

/** Throws a `RangeError` naming the first KV atomic limit `size` exceeds. */
export function checkAtomicSize(size: AtomicSize, action: string): void {
  if (size.mutations > KV_MAX_MUTATIONS) {
    throw new RangeError(
      `Cannot ${action} as the atomic commit would exceed ${KV_MAX_MUTATIONS} mutations: current count is ${size.mutations}`,
    );
  }
  if (size.payload > KV_MAX_PAYLOAD) {
    throw new RangeError(
      `Cannot ${action} as the atomic commit would exceed ${KV_MAX_PAYLOAD} bytes: current size is ${size.payload}`,
    );
  }
  if (size.keys > KV_MAX_KEY_TOTAL) {
    throw new RangeError(
      `Cannot ${action} as the atomic commit would exceed ${KV_MAX_KEY_TOTAL} bytes of keys: current size is ${size.keys}`,
    );
  }
}

/** The cost of one object's writes, from the sizes of its KV keys. */
export class AtomicMeter {
  readonly #keys: StorageKeys;

  constructor(storageName: string, id: string) {
    this.#keys = new StorageKeys(storageName, id);
  }

  /** Throws if the head key would exceed KV's key limit (only keys with many NUL characters can). */
  checkKey(keyBytes: Uint8Array, action: string): void {
    const size = this.#keys.headSize(keyBytes);
    if (size > KV_MAX_KEY) {
      throw new RangeError(
        `Cannot ${action} as its encoded KV key exceeds ${KV_MAX_KEY} bytes: current size is ${size}`,
      );
    }
  }

  /**
   * Throws if a `list()` bound would not fit a KV key: only bounds made mostly
   * of NUL characters can (each encodes to two bytes), and no stored key is
   * that large. Checked before any I/O, the same for every backend.
   */
  checkRange(range: KeyRange): void {
    if (range.lower !== null) this.checkKey(range.lower, "list from this bound");
    if (range.upper !== null) this.checkKey(range.upper, "list up to this bound");
  }

  /** What writing (`bytes`) or deleting (`null`) one key costs: always 2 mutations (head and continuation). */
  writeSize(keyBytes: Uint8Array, bytes: Uint8Array | null): AtomicSize {
    const head = this.#keys.headSize(keyBytes);
    const cont = this.#keys.contSize;
    if (bytes === null) return { mutations: 2, payload: head + cont, keys: 0 };
    if (bytes.length <= KV_MAX_VALUE) {
      return { mutations: 2, payload: 2 * head + bytes.length + cont, keys: head };
    }
    return { mutations: 2, payload: 2 * head + 2 * cont + bytes.length, keys: head + cont };
  }

  /** What a versionstamp check on one key costs. */
  checkSize(keyBytes: Uint8Array): AtomicSize {
    return { mutations: 0, payload: this.#keys.headSize(keyBytes), keys: 0 };
  }

  /** The cost of `ops` when they replace earlier writes in `current` (last write of a key wins). */
  project(
    base: AtomicSize,
    current: ReadonlyMap<string, WriteOp>,
    ops: readonly WriteOp[],
  ): AtomicSize {
    const size = { ...base };
    const seen = new Map<string, WriteOp>();
    for (const op of ops) seen.set(op.key, op);
    for (const op of seen.values()) {
      const old = current.get(op.key);
      if (old) addSize(size, this.writeSize(old.keyBytes, old.bytes), -1);
      addSize(size, this.writeSize(op.keyBytes, op.bytes));
    }
    return size;
  }
}
