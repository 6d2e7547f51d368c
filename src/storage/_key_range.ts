// The order of storage keys: UTF-8 byte order, as in Deno KV and in
// Cloudflare's `list()`, and ranges of it.

/** Compares byte strings lexicographically (the order of KV keys and of Cloudflare's `list`). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** A half-open range of keys in byte order; `null` bounds are open. */
export interface KeyRange {
  /** Inclusive lower bound. */
  readonly lower: Uint8Array | null;
  /** Exclusive upper bound. */
  readonly upper: Uint8Array | null;
}

/** Whether `key` lies in `range`. */
export function inRange(range: KeyRange, key: Uint8Array): boolean {
  return (range.lower === null || compareBytes(key, range.lower) >= 0) &&
    (range.upper === null || compareBytes(key, range.upper) < 0);
}

/** Sorts `[keyBytes, key, value]` entries by key bytes, in place. */
export function sortEntries<V>(
  entries: [Uint8Array, string, V][],
  reverse = false,
): [Uint8Array, string, V][] {
  const sign = reverse ? -1 : 1;
  return entries.sort((a, b) => sign * compareBytes(a[0], b[0]));
}

const decoder = new TextDecoder();

/** The string of a stored key's UTF-8 bytes. */
export function decodeKey(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
