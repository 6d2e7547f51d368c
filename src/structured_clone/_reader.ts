// The byte-level half of the decoder: the input, a cursor, and V8's
// encodings of varints, doubles, strings, BigInts and property keys.
// Bytes that break the format throw a DataCloneError that says where.

import { T_ONE_BYTE, T_PADDING } from "./_wire.ts";

/** One decode's input, cursor and the objects read so far (for back-references). */
export interface Input {
  readonly input: Uint8Array;
  at: number;
  readonly objects: unknown[];
}

/** The error for bytes that break the wire format: what broke and at which byte. */
export function malformed(r: Input, what: string): DOMException {
  return new DOMException(
    `Could not deserialize value: ${what} at byte ${r.at} of ${r.input.length}`,
    "DataCloneError",
  );
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

export function readByte(r: Input): number {
  if (r.at >= r.input.length) throw malformed(r, "unexpected end");
  return r.input[r.at++]!;
}

export function readTag(r: Input): number {
  let tag: number;
  do tag = readByte(r); while (tag === T_PADDING);
  return tag;
}

export function peekTag(r: Input): number {
  let i = r.at;
  while (i < r.input.length && r.input[i] === T_PADDING) i++;
  if (i >= r.input.length) throw malformed(r, "unexpected end");
  return r.input[i]!;
}

export function consumeTag(r: Input): void {
  while (r.input[r.at] === T_PADDING) r.at++;
  r.at++;
}

export function readVarint(r: Input): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 5; i++) {
    const byte = readByte(r);
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 128;
  }
  throw malformed(r, "a varint longer than 5 bytes");
}

export function readDouble(r: Input): number {
  if (r.at + 8 > r.input.length) throw malformed(r, "a truncated double");
  const input = r.input;
  const at = r.at;
  for (let i = 0; i < 8; i++) f64Bytes[i] = input[at + i]!; // no subarray per double
  r.at = at + 8;
  return f64[0]!;
}

export function readRaw(r: Input, length: number): Uint8Array {
  if (r.at + length > r.input.length) throw malformed(r, `${length} bytes past the end`);
  const bytes = r.input.subarray(r.at, r.at + length);
  r.at += length;
  return bytes;
}

export function readOneByteString(r: Input, length: number): string {
  if (r.at + length > r.input.length) {
    throw malformed(r, `a string of ${length} bytes past the end`);
  }
  const start = r.at;
  r.at += length;
  if (length <= 24) {
    let text = "";
    for (let i = start; i < r.at; i++) text += String.fromCharCode(r.input[i]!);
    return text;
  }
  // Mostly ASCII: where every byte is, UTF-8 decoding gives the same string, natively.
  let ascii = true;
  for (let i = start; i < r.at; i++) {
    if (r.input[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return utf8Decoder.decode(r.input.subarray(start, r.at));
  let text = "";
  for (let i = start; i < r.at; i += 4096) {
    const chunk = r.input.subarray(i, Math.min(i + 4096, r.at));
    text += String.fromCharCode.apply(null, chunk as unknown as number[]);
  }
  return text;
}

export function readTwoByteString(r: Input, byteLength: number): string {
  if (byteLength & 1) throw malformed(r, "a two-byte string of odd length");
  const bytes = readRaw(r, byteLength);
  const units = new Array<number>(Math.min(byteLength / 2, 4096));
  let text = "";
  for (let i = 0; i < byteLength;) {
    const count = Math.min((byteLength - i) / 2, 4096);
    if (count !== units.length) units.length = count;
    for (let j = 0; j < count; j++, i += 2) units[j] = bytes[i]! | (bytes[i + 1]! << 8);
    text += String.fromCharCode.apply(null, units);
  }
  return text;
}

export function readBigIntContents(r: Input): bigint {
  const bitfield = readVarint(r);
  const byteLength = Math.floor(bitfield / 2);
  const bytes = readRaw(r, byteLength);
  let value = 0n;
  let i = byteLength;
  for (; i >= 8 && i % 8 === 0; i -= 8) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + i - 8, 8);
    value = (value << 64n) | view.getBigUint64(0, true);
  }
  for (; i > 0; i--) value = (value << 8n) | BigInt(bytes[i - 1]!);
  return bitfield & 1 ? -value : value;
}

// Short one-byte keys repeat across decodes: reusing the (internalized)
// string skips building it and V8's internalization on the property store.
const KEY_CACHE_SIZE = 256;
const keyCache: (string | undefined)[] = new Array(KEY_CACHE_SIZE);

/**
 * Reads a short one-byte string key through a cache, or returns `undefined`
 * (leaving the cursor) when the key is anything else.
 */
export function readCachedKey(r: Input): string | undefined {
  const tagAt = r.at;
  if (r.input[tagAt] !== T_ONE_BYTE) return undefined;
  const length = r.input[tagAt + 1]!;
  const start = tagAt + 2;
  if (length > 32 || start + length > r.input.length) return undefined;
  let hash = length;
  for (let i = start; i < start + length; i++) hash = (Math.imul(hash, 31) + r.input[i]!) | 0;
  const slot = hash & (KEY_CACHE_SIZE - 1);
  const cached = keyCache[slot];
  if (cached !== undefined && cached.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (cached.charCodeAt(i) !== r.input[start + i]) {
        same = false;
        break;
      }
    }
    if (same) {
      r.at = start + length;
      return cached;
    }
  }
  r.at = start;
  const key = readOneByteString(r, length);
  keyCache[slot] = key;
  return key;
}

/** Reads `byteLength` bytes of UTF-8. */
export function readUtf8(r: Input, byteLength: number): string {
  return utf8Decoder.decode(readRaw(r, byteLength));
}
