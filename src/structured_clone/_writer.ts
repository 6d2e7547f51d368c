// The byte-level half of the encoder: a growable output and V8's encodings
// of varints, doubles, numbers, strings, BigInts and raw bytes.

import { T_DOUBLE, T_INT32, T_ONE_BYTE, T_PADDING, T_TWO_BYTE } from "./_wire.ts";

/** One encode's output and the ids of the objects written so far (for back-references). */
export interface Output {
  out: Uint8Array;
  pos: number;
  readonly ids: Map<object, number>;
}

/** A fresh output with a buffer of `size` bytes. */
export function newOutput(size: number): Output {
  return { out: new Uint8Array(size), pos: 0, ids: new Map() };
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const textEncoder = new TextEncoder();

function grow(w: Output, needed: number): void {
  let size = w.out.length * 2;
  while (size < w.pos + needed) size *= 2;
  const bigger = new Uint8Array(size);
  bigger.set(w.out.subarray(0, w.pos));
  w.out = bigger;
}

/** Writes a uint32 as V8's base-128 varint. */
export function writeVarint(w: Output, value: number): void {
  if (w.pos + 5 > w.out.length) grow(w, 5);
  const out = w.out;
  let pos = w.pos;
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[pos++] = value;
  w.pos = pos;
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value >>>= 7;
    size++;
  }
  return size;
}

export function writeDouble(w: Output, value: number): void {
  if (w.pos + 8 > w.out.length) grow(w, 8);
  f64[0] = value;
  w.out.set(f64Bytes, w.pos);
  w.pos += 8;
}

export function writeTag(w: Output, tag: number): void {
  if (w.pos >= w.out.length) grow(w, 1);
  w.out[w.pos++] = tag;
}

export function writeNumber(w: Output, value: number): void {
  // A Smi is 'I'. Deno's V8 has no pointer compression: Smis are 32-bit, so 2^30 is 'I' too.
  if ((value | 0) === value && (value !== 0 || 1 / value > 0)) {
    writeTag(w, T_INT32);
    writeVarint(w, ((value << 1) ^ (value >> 31)) >>> 0);
  } else {
    writeTag(w, T_DOUBLE);
    writeDouble(w, value);
  }
}

export function writeString(w: Output, text: string): void {
  const length = text.length;
  if (w.pos + length + 6 > w.out.length) grow(w, length + 6);
  const start = w.pos;
  w.out[w.pos++] = T_ONE_BYTE;
  writeVarint(w, length);
  const out = w.out;
  let pos = w.pos;
  if (length > 32) {
    // ASCII fast path; anything else is redone below.
    const { read, written } = textEncoder.encodeInto(text, out.subarray(pos, pos + length));
    if (read === length && written === length) {
      w.pos = pos + length;
      return;
    }
  }
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) {
      w.pos = start;
      writeTwoByteString(w, text);
      return;
    }
    out[pos++] = code;
  }
  w.pos = pos;
}

function writeTwoByteString(w: Output, text: string): void {
  const byteLength = text.length * 2;
  if (w.pos + byteLength + 7 > w.out.length) grow(w, byteLength + 7);
  // V8 keeps two-byte characters at an even offset of the whole buffer.
  if ((w.pos + 1 + varintSize(byteLength)) & 1) w.out[w.pos++] = T_PADDING;
  w.out[w.pos++] = T_TWO_BYTE;
  writeVarint(w, byteLength);
  const out = w.out;
  let pos = w.pos;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    out[pos++] = code & 0xff;
    out[pos++] = code >> 8;
  }
  w.pos = pos;
}

export function writeBigIntContents(w: Output, value: bigint): void {
  if (value === 0n) {
    writeVarint(w, 0);
    return;
  }
  const negative = value < 0n;
  let magnitude = negative ? -value : value;
  const digits: bigint[] = [];
  while (magnitude > 0n) {
    digits.push(BigInt.asUintN(64, magnitude));
    magnitude >>= 64n;
  }
  const byteLength = digits.length * 8;
  writeVarint(w, byteLength * 2 + (negative ? 1 : 0));
  if (w.pos + byteLength > w.out.length) grow(w, byteLength);
  const view = new DataView(w.out.buffer, w.out.byteOffset + w.pos, byteLength);
  for (let i = 0; i < digits.length; i++) view.setBigUint64(i * 8, digits[i]!, true);
  w.pos += byteLength;
}

export function writeRawBytes(w: Output, bytes: Uint8Array): void {
  if (w.pos + bytes.length > w.out.length) grow(w, bytes.length);
  w.out.set(bytes, w.pos);
  w.pos += bytes.length;
}

/** Writes a key from `Object.keys`: array indexes are numbers, as V8 keeps them. */
export function writeKey(w: Output, key: string): void {
  const first = key.charCodeAt(0);
  if (first >= 0x30 && first <= 0x39 && key.length <= 10) {
    const index = +key;
    if (index <= 4294967294 && (first !== 0x30 || key.length === 1) && /^\d+$/.test(key)) {
      writeNumber(w, index);
      return;
    }
  }
  writeString(w, key);
}
