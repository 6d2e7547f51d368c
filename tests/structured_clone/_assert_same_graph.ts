// Shared by the codec's tests: a deep comparison of decoded graphs, hex
// dumps, and a count of the fallbacks to node:v8 a call caused.
import assert from "node:assert/strict";
import { codecStats } from "../../src/structured_clone/codec_stats.ts";

export const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(" ");

/** Runs `fn` and returns how many encode/decode fallbacks it caused. */
export function fallbacks(fn: () => void): { encode: number; decode: number } {
  const before = { ...codecStats };
  fn();
  return {
    encode: codecStats.encodeFallbacks - before.encodeFallbacks,
    decode: codecStats.decodeFallbacks - before.decodeFallbacks,
  };
}

export const typedArrayCtors = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  Float16Array,
] as const;

/**
 * Asserts that two decoded graphs are the same: same prototypes, own keys in
 * order with their attributes, primitive values by `Object.is`, internal
 * state of Date/RegExp/Map/Set/buffers/views/wrappers/errors, and the same
 * sharing (a reference shared or cyclic in one is the same in the other).
 */
export function assertSameGraph(actual: unknown, expected: unknown, path = "$"): void {
  const pairs = new Map<object, object>();
  const reverse = new Map<object, object>();
  const visit = (a: unknown, b: unknown, at: string): void => {
    if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) {
      assert.ok(Object.is(a, b), `${at}: ${String(a)} !== ${String(b)}`);
      return;
    }
    if (pairs.has(a) || reverse.has(b)) {
      assert.ok(pairs.get(a) === b && reverse.get(b) === a, `${at}: sharing differs`);
      return;
    }
    pairs.set(a, b);
    reverse.set(b, a);
    assert.equal(Object.getPrototypeOf(a), Object.getPrototypeOf(b), `${at}: prototype`);
    if (a instanceof Date) {
      assert.ok(Object.is(a.getTime(), (b as Date).getTime()), `${at}: date`);
    } else if (a instanceof RegExp) {
      const r = b as RegExp;
      assert.deepEqual([a.source, a.flags, a.lastIndex], [r.source, r.flags, r.lastIndex], at);
    } else if (a instanceof Map) {
      const ea = [...a];
      const eb = [...(b as Map<unknown, unknown>)];
      assert.equal(ea.length, eb.length, `${at}: map size`);
      ea.forEach(([k, v], i) => {
        visit(k, eb[i]![0], `${at}.key(${i})`);
        visit(v, eb[i]![1], `${at}.get(${i})`);
      });
    } else if (a instanceof Set) {
      const ea = [...a];
      const eb = [...(b as Set<unknown>)];
      assert.equal(ea.length, eb.length, `${at}: set size`);
      ea.forEach((v, i) => visit(v, eb[i], `${at}.value(${i})`));
    } else if (a instanceof ArrayBuffer) {
      const c = b as ArrayBuffer;
      assert.deepEqual([a.resizable, a.maxByteLength], [c.resizable, c.maxByteLength], at);
      assert.deepEqual(new Uint8Array(a), new Uint8Array(c), `${at}: buffer bytes`);
    } else if (ArrayBuffer.isView(a)) {
      const c = b as ArrayBufferView;
      assert.equal(a.constructor, c.constructor, at);
      assert.deepEqual(
        new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
        new Uint8Array(c.buffer, c.byteOffset, c.byteLength),
        `${at}: view bytes`,
      );
    } else if (
      a instanceof Boolean || a instanceof Number || a instanceof String || a instanceof BigInt
    ) {
      assert.ok(Object.is(a.valueOf(), (b as typeof a).valueOf()), `${at}: wrapper`);
    } else if (a instanceof Error) {
      const e = b as Error;
      assert.deepEqual([a.name, a.message, a.stack], [e.name, e.message, e.stack], at);
      assert.equal("cause" in a, "cause" in e, `${at}: cause`);
      if ("cause" in a) visit(a.cause, e.cause, `${at}.cause`);
    }
    // Own properties, in order, with attributes (an error's stack accessor aside).
    const keysA = Reflect.ownKeys(a);
    const keysB = Reflect.ownKeys(b);
    assert.deepEqual(keysA, keysB, `${at}: own keys`);
    for (const key of keysA) {
      const da: PropertyDescriptor = Object.getOwnPropertyDescriptor(a, key)!;
      const db: PropertyDescriptor = Object.getOwnPropertyDescriptor(b, key)!;
      if (a instanceof Error && key === "stack") continue;
      if (ArrayBuffer.isView(a) && typeof key === "string" && /^\d+$/.test(key)) continue;
      assert.deepEqual(
        [da.enumerable, da.writable, da.configurable, "get" in da],
        [db.enumerable, db.writable, db.configurable, "get" in db],
        `${at}[${String(key)}]: attributes`,
      );
      visit(da.value, db.value, `${at}[${String(key)}]`);
    }
  };
  visit(actual, expected, path);
}
