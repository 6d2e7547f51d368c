// Where an object's storage lives in Deno KV, and what each write costs
// against the limits of ONE KV atomic. MemoryStorage uses the same meter, so
// both implementations accept and refuse exactly the same writes.
//
// Layout, under root = ["dormant", "s", storageName, id]:
//   [...root, "d", keyBytes]  head: the serialized value, or its first 64 KiB
//   [...root, "c", keyHash]   continuation: the remaining bytes (values > 64 KiB)
// A value over 64 KiB is written as head + continuation in ONE atomic, so both
// carry the same versionstamp; a reader only accepts a continuation whose
// versionstamp equals the head's (see _kv_backend.ts). Keys are stored as
// bytes so that KV's order is UTF-8 byte order and prefixes become ranges.

import { createHash } from "node:crypto";

/** Largest KV value, in bytes. */
export const KV_MAX_VALUE = 65_536;
/** Largest KV key of a write, encoded. */
export const KV_MAX_KEY = 2048;
/** Mutations per KV atomic. */
export const KV_MAX_MUTATIONS = 1000;
/** Total payload of a KV atomic (measured: set keys count twice, delete and check keys once, plus values). */
export const KV_MAX_PAYLOAD = 819_200;
/** Total size of the keys written (set) by a KV atomic. */
export const KV_MAX_KEY_TOTAL = 81_920;
/** Checks per KV atomic. */
export const KV_MAX_CHECKS = 100;

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

const encoder = new TextEncoder();

function zeros(bytes: Uint8Array): number {
  let n = 0;
  for (const b of bytes) if (b === 0) n++;
  return n;
}

/** Encoded size of a string or bytes key part: type tag, bytes (0x00 escaped as 2 bytes), terminator. */
function partSize(part: string | Uint8Array): number {
  const bytes = typeof part === "string" ? encoder.encode(part) : part;
  return 2 + bytes.length + zeros(bytes);
}

/** Encoded size of a KV key made of strings, bytes and numbers (others are counted at KV's maximum). */
export function kvKeySize(key: Deno.KvKey): number {
  let size = 0;
  for (const part of key) {
    if (typeof part === "string" || part instanceof Uint8Array) size += partSize(part);
    else if (typeof part === "number") size += 9;
    else return KV_MAX_KEY;
  }
  return size;
}

// The continuation key holds a 22-character base64url hash of the user key
// (132 bits), not the key itself, so long keys do not cost twice.
const HASH_CHARS = 22;

/** The KV keys and costs of one object's storage. */
export class KvLayout {
  /** `["dormant", "s", storageName, id]`. */
  readonly root: Deno.KvKey;
  readonly #headPrefix: Deno.KvKey;
  readonly #contPrefix: Deno.KvKey;
  readonly #headBase: number;
  readonly #contSize: number;

  constructor(storageName: string, id: string) {
    this.root = ["dormant", "s", storageName, id];
    this.#headPrefix = [...this.root, "d"];
    this.#contPrefix = [...this.root, "c"];
    const rootSize = (this.root as string[]).reduce((n, part) => n + partSize(part), 0);
    this.#headBase = rootSize + partSize("d");
    this.#contSize = rootSize + partSize("c") + 2 + HASH_CHARS;
  }

  /** The head key of a user key. */
  head(keyBytes: Uint8Array): Deno.KvKey {
    return [...this.#headPrefix, keyBytes];
  }

  /** The continuation key of a user key. */
  cont(keyBytes: Uint8Array): Deno.KvKey {
    const hash = createHash("sha256").update(keyBytes).digest("base64url").slice(0, HASH_CHARS);
    return [...this.#contPrefix, hash];
  }

  /** Bounds of the head subspace, for range reads. */
  headBound(keyBytes: Uint8Array | null, side: "lower" | "upper"): Deno.KvKey {
    if (keyBytes !== null) return this.head(keyBytes);
    // Every head key part is bytes (type tag 0x01); a string part (0x02) sorts after all of them.
    return side === "lower" ? this.#headPrefix : [...this.#headPrefix, ""];
  }

  /** Encoded size of the head key. */
  headSize(keyBytes: Uint8Array): number {
    return this.#headBase + partSize(keyBytes);
  }

  /** Throws if the head key would exceed KV's key limit (only keys with many NUL characters can). */
  checkKey(keyBytes: Uint8Array, action: string): void {
    const size = this.headSize(keyBytes);
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
  checkRange(
    range: { readonly lower: Uint8Array | null; readonly upper: Uint8Array | null },
  ): void {
    if (range.lower !== null) this.checkKey(range.lower, "list from this bound");
    if (range.upper !== null) this.checkKey(range.upper, "list up to this bound");
  }

  /** What writing (`bytes`) or deleting (`null`) one key costs: always 2 mutations (head and continuation). */
  writeSize(keyBytes: Uint8Array, bytes: Uint8Array | null): AtomicSize {
    const head = this.headSize(keyBytes);
    const cont = this.#contSize;
    if (bytes === null) return { mutations: 2, payload: head + cont, keys: 0 };
    if (bytes.length <= KV_MAX_VALUE) {
      return { mutations: 2, payload: 2 * head + bytes.length + cont, keys: head };
    }
    return { mutations: 2, payload: 2 * head + 2 * cont + bytes.length, keys: head + cont };
  }

  /** What a versionstamp check on one key costs. */
  checkSize(keyBytes: Uint8Array): AtomicSize {
    return { mutations: 0, payload: this.headSize(keyBytes), keys: 0 };
  }
}
