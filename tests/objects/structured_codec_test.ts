// The attachment codec against Deno's own `node:v8`: byte-identical output
// for a broad table and for seeded random nested values, decoding equal to
// `v8.deserialize`, the documented representation cases, and the fallbacks.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { deserialize, serialize, Serializer } from "node:v8";
import {
  codecStats,
  decode,
  encode,
  markNotCloneable,
  MAX_DEPTH,
} from "../../src/objects/structured_codec.ts";

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(" ");

/** Runs `fn` and returns how many encode/decode fallbacks it caused. */
function fallbacks(fn: () => void): { encode: number; decode: number } {
  const before = { ...codecStats };
  fn();
  return {
    encode: codecStats.encodeFallbacks - before.encodeFallbacks,
    decode: codecStats.decodeFallbacks - before.decodeFallbacks,
  };
}

const typedArrayCtors = [
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
function assertSameGraph(actual: unknown, expected: unknown, path = "$"): void {
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

/** encode(v) is v8.serialize(v) byte for byte, and both decoders agree. */
function assertMatchesV8(value: unknown, label: string): void {
  const theirs = serialize(value);
  let ours!: Uint8Array;
  const taken = fallbacks(() => (ours = encode(value)));
  assert.equal(taken.encode, 0, `${label}: encode fell back`);
  assert.equal(hex(ours), hex(theirs), label);
  const reference = deserialize(theirs);
  const decoded = fallbacks(() => assertSameGraph(decode(ours), reference, label));
  assert.equal(decoded.decode, 0, `${label}: decode fell back`);
  assertSameGraph(decode(theirs), reference, `${label} (decoding V8's bytes)`);
}

function cyclic(): Record<string, unknown> {
  const node: Record<string, unknown> = { name: "root", list: [] };
  (node.list as unknown[]).push(node, { up: node });
  return node;
}

const TABLE: [string, () => unknown][] = [
  ["undefined", () => undefined],
  ["null", () => null],
  ["true", () => true],
  ["false", () => false],
  ["0", () => 0],
  ["-0 (a double)", () => -0],
  ["1", () => 1],
  ["-1", () => -1],
  ["2^30", () => 2 ** 30],
  ["2^31-1 (largest Smi)", () => 2 ** 31 - 1],
  ["-2^31 (smallest Smi)", () => -(2 ** 31)],
  ["2^31 (a double)", () => 2 ** 31],
  ["-2^31-1", () => -(2 ** 31) - 1],
  ["1.5", () => 1.5],
  ["NaN", () => NaN],
  ["NaN with a payload", () => new Float64Array(new Uint32Array([1, 0x7ff00000]).buffer)[0]],
  ["Infinity", () => Infinity],
  ["-Infinity", () => -Infinity],
  ["Number.MIN_VALUE", () => Number.MIN_VALUE],
  ["Number.MAX_VALUE", () => Number.MAX_VALUE],
  ["MAX_SAFE_INTEGER", () => Number.MAX_SAFE_INTEGER],
  ["0n", () => 0n],
  ["1n", () => 1n],
  ["-1n", () => -1n],
  ["2n ** 63n", () => 2n ** 63n],
  ["2n ** 64n", () => 2n ** 64n],
  ["2n ** 64n - 1n", () => 2n ** 64n - 1n],
  ["-(2n ** 200n) + 12345n", () => -(2n ** 200n) + 12345n],
  ['""', () => ""],
  ['"a"', () => "a"],
  ['"é" (Latin-1: one byte)', () => "é"],
  ['"ÿ"', () => "\xff"],
  ['"€" (two-byte)', () => "€"],
  ['"ab€" (padding)', () => "ab€"],
  ["astral", () => "😀"],
  ["lone high surrogate", () => "\ud800"],
  ["lone low surrogate", () => "x\udc00"],
  ["300 ASCII", () => "x".repeat(300)],
  ["300 Latin-1", () => "é".repeat(300)],
  ["300 two-byte", () => "€".repeat(300)],
  ["ASCII then one € at the end", () => "a".repeat(100) + "€"],
  ["16,379 ASCII (the limit)", () => "x".repeat(16_379)],
  ["NUL characters", () => "\0a\0"],
  ["{}", () => ({})],
  ["the small attachment", () => ({ room: "abc", n: 12345, name: "someone" })],
  ["integer keys first, as numbers", () => ({ b: 1, a: 2, 2: 3, 1: 4 })],
  ["index-like keys that are not indexes", () => ({ "-1": 1, "01": 2, "1e3": 3, "1.5": 4 })],
  ["2^31 and 2^32-2 keys (doubles), 2^32-1 (a string)", () => ({
    "2147483647": 1,
    "2147483648": 2,
    "4294967294": 3,
    "4294967295": 4,
  })],
  ["two-byte key (padding)", () => ({ "€": 1, x: "€" })],
  ["own __proto__ key", () => JSON.parse('{"__proto__": {"a": 1}, "b": 2}')],
  [
    "symbol and non-enumerable keys skipped",
    () => Object.defineProperty({ [Symbol("s")]: 1, a: 2 }, "hidden", { value: 3 }),
  ],
  ["getter read once", () => ({
    get g() {
      return 5;
    },
    after: 1,
  })],
  ["null prototype", () => Object.assign(Object.create(null), { a: 1 })],
  ["frozen object", () => Object.freeze({ a: 1 })],
  ["many properties (dictionary mode)", () => {
    const o: Record<string, number> = {};
    for (let i = 0; i < 200; i++) o[`p${i}`] = i;
    delete o.p3;
    return o;
  }],
  ["[]", () => []],
  ["[1, 2]", () => [1, 2]],
  ["[undefined, null]", () => [undefined, null]],
  ["mixed dense array", () => ["a", 1, { b: [] }, true]],
  ["array with extra keys", () => Object.assign([1], { x: 2, y: "z" })],
  ["holes: sparse", () => [1, , 3]],
  ["a[100] = 1: sparse", () => {
    const a: number[] = [];
    a[100] = 1;
    return a;
  }],
  ["length beyond elements: sparse", () => {
    const a = [1];
    a.length = 3;
    return a;
  }],
  ["frozen array: sparse", () => Object.freeze([1, "a"])],
  ["sealed array: sparse", () => Object.seal([1, 2])],
  [
    "non-enumerable element: sparse without it",
    () => Object.defineProperty([1, 2], 0, { value: 7, enumerable: false }),
  ],
  ["sparse array with extra keys", () => Object.assign([, "x"], { k: 1 })],
  ["array subclass (still an array)", () => new (class Items extends Array {})()],
  ["Array.from, map, filter, spread", () => [
    Array.from({ length: 3 }, (_, i) => i),
    [1, 2].map((x) => x * 2),
    [1, 2, 3].filter((x) => x > 1),
    [...[1, 2]],
  ]],
  ["Date", () => new Date(Date.UTC(2026, 4, 1))],
  ["invalid Date", () => new Date(NaN)],
  ["Date with own props (dropped)", () => Object.assign(new Date(0), { extra: 1 })],
  ["RegExp /ab/gi", () => /ab/gi],
  ["RegExp all flags", () => /x\/[/]/dgimsuy],
  // deno-lint-ignore no-invalid-regexp -- the linter does not know the v flag's set syntax
  ["RegExp v flag", () => new RegExp("[\\p{L}--a]", "v")],
  ["RegExp empty", () => new RegExp("")],
  ["RegExp with lastIndex", () => Object.assign(/x/g, { lastIndex: 3 })],
  ["RegExp two-byte source", () => /€+/],
  ["Map", () => new Map<unknown, unknown>([[1, 2], ["a", {}], [{}, [1]]])],
  ["Map with -0 key (stored as +0)", () => new Map().set(-0, 1)],
  ["Set", () => new Set<unknown>(["a", 1, 1.5, null])],
  ["ArrayBuffer", () => new Uint8Array([1, 2, 3]).buffer],
  ["empty ArrayBuffer", () => new ArrayBuffer(0)],
  ["resizable ArrayBuffer", () => new ArrayBuffer(2, { maxByteLength: 9 })],
  ["every typed array", () => typedArrayCtors.map((C) => new C(2))],
  ["typed arrays with content", () => [
    new Uint8Array([1, 2, 255]),
    new Int16Array([-1, 300]),
    new Float64Array([0.5, -1, NaN]),
    new BigInt64Array([-1n, 2n ** 62n]),
    new Float16Array([1.5]),
  ]],
  ["view at an offset (only its bytes)", () => new Uint8Array(new ArrayBuffer(8), 2, 3)],
  ["DataView", () => new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2)],
  ["length-tracking view", () => new Uint8Array(new ArrayBuffer(2, { maxByteLength: 8 }))],
  ["view on a SharedArrayBuffer", () => new Uint8Array(new SharedArrayBuffer(2))],
  ["Buffer (Node host index 10)", () => Buffer.from("hey")],
  ["a buffer and a view of it (separate)", () => {
    const buffer = new ArrayBuffer(2);
    return [buffer, new Uint8Array(buffer), buffer];
  }],
  ["the same view twice", () => {
    const view = new Uint16Array([1]);
    return [view, view];
  }],
  ["boxed primitives", () => [
    new Boolean(true),
    new Boolean(false),
    new Number(3),
    new Number(-0),
    new String("x€"),
    Object(2n ** 70n),
  ]],
  ["Error", () => new Error("m")],
  ["Error without message", () => new Error()],
  ["Error subclasses", () => [
    new EvalError("e"),
    new RangeError("r"),
    new ReferenceError("f"),
    new SyntaxError("s"),
    new TypeError("t"),
    new URIError("u"),
    new AggregateError([1], "a"),
  ]],
  ["Error with a cause", () => new Error("c", { cause: { x: [1] } })],
  ["Error with an undefined cause", () => new Error("c", { cause: undefined })],
  ["Error renamed to TypeError", () => Object.assign(new Error("x"), { name: "TypeError" })],
  ["Error subclass instance", () => new (class AppError extends Error {})("z")],
  ["Error with own props (dropped)", () => Object.assign(new Error("p"), { code: 1 })],
  ["Error with a custom stack", () => Object.assign(new Error("s"), { stack: "custom" })],
  ["Error without a stack", () => {
    const error = new Error("no stack");
    delete error.stack;
    return error;
  }],
  [
    "Error with a non-string message and name",
    () => Object.assign(new Error(), { message: 5, name: null }),
  ],
  ["shared reference", () => {
    const shared = { s: 1 };
    return [shared, shared, { again: shared }];
  }],
  ["same string twice (strings are not shared)", () => ["abc", "abc"]],
  ["self cycle", () => {
    const o: Record<string, unknown> = {};
    o.self = o;
    return o;
  }],
  ["cycle through an array", cyclic],
  ["cycle through a Map and a Set", () => {
    const map = new Map<unknown, unknown>();
    const set = new Set<unknown>([map]);
    map.set("set", set).set(map, map);
    return { map, set };
  }],
  ["the attachment test value", () => {
    const value: Record<string, unknown> = {
      map: new Map<unknown, unknown>([["k", 1], [2, { deep: [true] }]]),
      set: new Set(["a", "b"]),
      date: new Date(Date.UTC(2026, 4, 1)),
      bytes: new Uint8Array([1, 2, 255]),
      floats: new Float64Array([0.5, -1]),
      buffer: new Uint16Array([7, 8]).buffer,
      big: 2n ** 70n,
      nan: NaN,
      regexp: /a+b/gi,
    };
    value.self = value;
    return value;
  }],
  ["nested 900 deep", () => {
    let o: unknown = 1;
    for (let i = 0; i < 900; i++) o = i % 2 ? { o } : [o];
    return o;
  }],
];

Deno.test("encode writes v8.serialize's bytes for every supported type, and decode reads them back as v8.deserialize does", () => {
  for (const [label, make] of TABLE) assertMatchesV8(make(), label);
});

// ---- seeded random values ----------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random nested values. V8 keeps three representation choices JS cannot see
 * (see the codec's module doc); the generator avoids them so that exact bytes
 * can be asserted: non-Smi numbers go under their own keys ("d…") and never
 * share a dense array with Smis, dense arrays are built by push, strings are
 * built whole (never sliced).
 */
function generator(seed: number) {
  const random = mulberry32(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const EDGE_DOUBLES = [
    -0,
    NaN,
    Infinity,
    -Infinity,
    0.1,
    -1.5,
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 32,
    2 ** 53,
    Number.MIN_VALUE,
    Number.MAX_VALUE,
    Number.EPSILON,
  ];
  const EDGE_SMIS = [0, 1, -1, 127, 128, -64, -65, 2 ** 31 - 1, -(2 ** 31), 16_383, 16_384];
  const KEYS = [
    "k",
    "key",
    "name",
    "é",
    "clé",
    "€",
    "日本",
    "😀",
    "\ud800",
    "",
    "0",
    "7",
    "42",
    "-1",
    "01",
    "1.5",
    "2147483648",
    "4294967294",
    "4294967295",
    "__proto__",
  ];
  const DOUBLE_KEYS = ["d", "dé", "d€", "5d"];
  const smi = () => random() < 0.3 ? pick(EDGE_SMIS) : (int(2 ** 32) | 0) >> int(31);
  const double = () => {
    if (random() < 0.4) return pick(EDGE_DOUBLES);
    const d = (random() - 0.5) * 10 ** int(20);
    return Number.isInteger(d) && (d | 0) === d ? d + 0.5 : d;
  };
  const bigint = () => {
    let b = 0n;
    const words = int(5);
    for (let i = 0; i < words; i++) b = (b << 32n) | BigInt(int(2 ** 32));
    if (random() < 0.2) b = pick([0n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n]);
    return random() < 0.5 ? -b : b;
  };
  const codeUnit = (): number => {
    switch (int(6)) {
      case 0:
      case 1:
        return 0x20 + int(0x5f); // ASCII
      case 2:
        return int(0x100); // Latin-1, NUL included
      case 3:
        return 0x100 + int(0xd700); // BMP below the surrogates
      case 4:
        return 0xd800 + int(0x800); // a lone surrogate
      default:
        return 0xe000 + int(0x2000);
    }
  };
  const string = () => {
    const units: number[] = [];
    const length = random() < 0.05 ? 100 + int(300) : int(24);
    const latin1Only = random() < 0.6;
    while (units.length < length) {
      if (!latin1Only && random() < 0.1) {
        const cp = 0x10000 + int(0x100000); // an astral pair
        units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
      } else {
        const unit = codeUnit();
        units.push(latin1Only ? unit & 0xff : unit);
      }
    }
    return String.fromCharCode(...units);
  };
  const primitive = (): unknown => {
    switch (int(9)) {
      case 0:
        return pick([undefined, null, true, false]);
      case 1:
      case 2:
        return smi();
      case 3:
        return double();
      case 4:
        return bigint();
      default:
        return string();
    }
  };
  const leaf = (): unknown => {
    switch (int(8)) {
      case 0: {
        const t = random() < 0.1 ? NaN : int(2 ** 42) - 2 ** 41;
        return new Date(t);
      }
      case 1:
        return pick([/a+/g, /[é€]/iu, /x/dgimsuy, /\//, new RegExp("")]);
      case 2: {
        const C = pick(typedArrayCtors);
        const size = C.BYTES_PER_ELEMENT;
        const length = int(5);
        const offset = int(3) * size;
        const bytes = new Uint8Array(offset + length * size + int(3));
        for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
        return random() < 0.2
          ? new DataView(bytes.buffer, bytes.length > 2 ? 1 : 0, Math.min(1, bytes.length))
          : new C(bytes.buffer, offset, length);
      }
      case 3:
        return new Uint8Array(Array.from({ length: int(6) }, () => int(256))).buffer;
      case 4:
        return pick([
          () => new Boolean(random() < 0.5),
          () => new Number(double()),
          () => new String(string()),
          () => Object(bigint()),
        ])();
      case 5:
        return new (pick([Error, TypeError, RangeError]))(string());
      default:
        return primitive();
    }
  };
  const value = (depth: number, ancestors: object[], pool: object[]): unknown => {
    const roll = random();
    if (ancestors.length > 0 && roll < 0.04) return pick(ancestors); // a cycle
    if (pool.length > 0 && roll < 0.1) return pick(pool); // a shared reference
    if (depth <= 0 || roll < 0.45) return roll < 0.35 ? primitive() : leaf();
    let container: object;
    const child = () => value(depth - 1, [...ancestors, container], pool);
    switch (int(6)) {
      case 0:
      case 1: {
        const o: Record<string, unknown> = {};
        container = o;
        const n = int(7);
        for (let i = 0; i < n; i++) {
          const v = child();
          const isDouble = typeof v === "number" && !((v | 0) === v && !Object.is(v, -0));
          o[isDouble ? pick(DOUBLE_KEYS) : pick(KEYS)] = v;
        }
        break;
      }
      case 2: {
        const a: unknown[] = [];
        container = a;
        const smiOnly = random() < 0.5;
        const n = int(7);
        for (let i = 0; i < n; i++) {
          let v = child();
          if (typeof v === "number") v = smiOnly ? smi() : double();
          a.push(v);
        }
        if (random() < 0.2) (a as unknown as Record<string, unknown>).extra = child();
        break;
      }
      case 3: {
        const a: unknown[] = [];
        container = a;
        a.length = 1 + int(8);
        const hole = int(a.length); // at least one real hole: an array without is V8's choice
        for (let i = 0; i < a.length; i++) if (i !== hole && random() < 0.5) a[i] = child();
        break;
      }
      case 4: {
        const m = new Map<unknown, unknown>();
        container = m;
        const n = int(5);
        for (let i = 0; i < n; i++) m.set(random() < 0.5 ? primitive() : child(), child());
        break;
      }
      default: {
        const s = new Set<unknown>();
        container = s;
        const n = int(5);
        for (let i = 0; i < n; i++) s.add(child());
        break;
      }
    }
    pool.push(container);
    return container;
  };
  return () => value(1 + int(5), [], []);
}

Deno.test("1,500 seeded random nested values encode to v8.serialize's bytes without a fallback and decode as v8.deserialize does", () => {
  const next = generator(0x5eed);
  for (let i = 0; i < 1500; i++) assertMatchesV8(next(), `random value #${i}`);
});

// ---- V8's hidden representations ---------------------------------------------------------------

Deno.test("where V8's hidden representation differs, encode writes the shorter canonical form and both decode alike", () => {
  const cases: [string, () => unknown][] = [
    ["an integer in a double field (N in V8, I here)", () => {
      const o = { field: 1.5 };
      o.field = 2;
      return o;
    }],
    ["integers in a double array", () => [1.5, 2, 3]],
    ["an integer boxed when a double array took a string", () => {
      const a: unknown[] = [1.5, 2.5];
      a[1] = 2;
      a.push("s");
      return a;
    }],
    [
      "a long Latin-1 slice of a two-byte string ('c' in V8)",
      () => ("€" + "a".repeat(20)).slice(1),
    ],
    [
      "an array v8.deserialize returned (holey: sparse in V8)",
      () => deserialize(serialize([1, 2])),
    ],
    ["Array(3).fill(0) (holey elements kind)", () => Array(3).fill(0)],
    ["a Map value read from a double array literal", () => new Map([[-0, 1]])],
  ];
  for (const [label, make] of cases) {
    const value = make();
    const theirs = serialize(value);
    let ours!: Uint8Array;
    assert.equal(fallbacks(() => (ours = encode(value))).encode, 0, label);
    assert.ok(ours.byteLength <= theirs.byteLength, `${label}: ${hex(ours)} vs ${hex(theirs)}`);
    assertSameGraph(decode(ours), deserialize(theirs), label);
    assertSameGraph(decode(theirs), deserialize(theirs), label);
    assertSameGraph(deserialize(ours), deserialize(theirs), `${label} (V8 reads ours)`);
  }
});

Deno.test("V8 reads every encoded table value back exactly as it reads its own bytes", () => {
  for (const [label, make] of TABLE) {
    const value = make();
    assertSameGraph(deserialize(encode(value)), deserialize(serialize(value)), label);
  }
});

// ---- fallbacks ---------------------------------------------------------------------------------

function detachedView(): Uint8Array {
  const view = new Uint8Array(4);
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return view;
}

Deno.test("functions, symbols and proxies throw node:v8's own error, whole or nested", () => {
  const bads = [
    () => 1,
    function named() {},
    Symbol("s"),
    { nested: { method() {} } },
    [1, Symbol()],
    new Map([[1, () => 1]]),
    new Proxy({}, {}),
    { p: new Proxy([], {}) },
    new WeakMap(),
    Promise.resolve(),
    Object(Symbol()),
    new SharedArrayBuffer(1),
    { view: detachedView() },
  ];
  bads.forEach((bad, i) => {
    let expected = "";
    try {
      serialize(bad);
    } catch (error) {
      expected = (error as Error).message;
    }
    assert.notEqual(expected, "", `case ${i}`);
    assert.throws(() => encode(bad), (error: Error) => error.message === expected, `case ${i}`);
  });
});

/** Asserts that `fn` throws a DataCloneError naming `type`. */
function assertRefused(fn: () => unknown, type: string, label = type): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof DOMException, `${label}: ${String(error)}`);
    assert.equal(error.name, "DataCloneError", label);
    assert.ok(
      error.message.startsWith(`Could not serialize object of type "${type}".`),
      error.message,
    );
    return true;
  }, label);
}

Deno.test("web platform objects throw a DataCloneError naming their type where node:v8 writes a plain object", () => {
  const stream = new ReadableStream();
  const cases: [string, object][] = [
    ["Request", new Request("https://example.com/")],
    ["Response", new Response("body")],
    ["Headers", new Headers({ a: "b" })],
    ["URL", new URL("https://example.com/a?b=1")],
    ["URLSearchParams", new URLSearchParams("a=1")],
    ["Blob", new Blob(["x"])],
    ["File", new File(["x"], "f.txt")],
    ["ReadableStream", stream],
    ["FormData", new FormData()],
    ["AbortController", new AbortController()],
    ["AbortSignal", AbortSignal.abort()],
    ["Event", new Event("x")],
    ["EventTarget", new EventTarget()],
    ["TextEncoder", new TextEncoder()],
    ["KvU64", new Deno.KvU64(1n)],
  ];
  for (const [type, value] of cases) {
    const lost = deserialize(serialize(value));
    assert.equal(Object.getPrototypeOf(lost), Object.prototype, `${type}: node:v8 loses the type`);
    assertRefused(() => encode(value), type);
    assertRefused(() => encode({ nested: [1, { value }] }), type, `${type} nested`);
    assertRefused(() => encode(new Map([["k", value]])), type, `${type} in a Map`);
  }
  // Inside a class instance (which goes to node:v8), and in a subclass of its own.
  class Holder {
    url = new URL("https://example.com/");
  }
  assertRefused(() => encode({ holder: new Holder() }), "URL", "inside a class instance");
  class MyHeaders extends Headers {}
  assertRefused(() => encode(new MyHeaders()), "MyHeaders", "a subclass");
  // The message says what to store instead.
  assert.throws(() => encode(new URL("https://example.com/")), /store url\.href instead/);
});

Deno.test("markNotCloneable makes a class and its subclasses throw a DataCloneError with the given name", () => {
  class Secret {
    #hidden = 1;
    get hidden() {
      return this.#hidden;
    }
  }
  class Sub extends Secret {}
  assert.deepEqual(decode(encode(new Sub())), {}, "before: written as {}");
  markNotCloneable(Secret.prototype, "Secret");
  assertRefused(() => encode(new Secret()), "Secret");
  assertRefused(() => encode(new Sub()), "Secret", "subclass");
  assertRefused(() => encode({ list: [new Sub()] }), "Secret", "nested");
  assert.throws(() => encode(new Secret()), /store plain data \(its fields\) instead/);
});

Deno.test("values the codec does not write itself go whole to node:v8, and decode reads them", () => {
  const detached = new ArrayBuffer(4);
  structuredClone(detached, { transfer: [detached] });
  const cases: [string, unknown][] = [
    [
      "a class instance",
      new (class Point {
        x = 1;
        y = 2;
      })(),
    ],
    ["a class instance inside an object", {
      at: new (class Point {
        x = 1;
      })(),
    }],
    ["a Map subclass", new (class Registry extends Map<number, number> {})([[1, 2]])],
    ["an Error whose message is an object (ToString runs user code)", {
      error: Object.assign(new Error(), { message: { toString: () => "m" } }),
    }],
    ["an object made from Date.prototype", Object.create(Date.prototype)],
    [
      `nesting deeper than ${MAX_DEPTH}`,
      (() => {
        let o: unknown = 1;
        for (let i = 0; i < MAX_DEPTH + 5; i++) o = { o };
        return o;
      })(),
    ],
  ];
  for (const [label, value] of cases) {
    let ours!: Uint8Array;
    assert.equal(fallbacks(() => (ours = encode(value))).encode, 1, label);
    assert.equal(hex(ours), hex(serialize(value)), label);
    assertSameGraph(decode(ours), deserialize(ours), label);
  }
  assert.throws(() => encode(detached), /detached/);
});

Deno.test("decode falls back to v8.deserialize for tags it does not read, on a copy of the bytes", () => {
  // A plain node:v8 Serializer writes views the V8 way ('B' buffer + 'V'), not as host objects.
  const serializer = new Serializer();
  serializer.writeHeader();
  serializer.writeValue({ view: new Uint8Array([1, 2, 3]) });
  const bytes = new Uint8Array(serializer.releaseBuffer());
  let value!: { view: Uint8Array };
  assert.equal(fallbacks(() => (value = decode(bytes) as typeof value)).decode, 1);
  assertSameGraph(value, deserialize(bytes));
  value.view.fill(0);
  assert.deepEqual([...(decode(bytes) as typeof value).view], [1, 2, 3]);
  // Malformed bytes: node:v8's error.
  assert.throws(() => decode(new Uint8Array([0xff, 0x0f, 0x6f, 0x22, 0x05])));
});

Deno.test("a decoded typed array owns its bytes: mutating it leaves the encoded bytes alone", () => {
  const bytes = encode({ view: new Uint8Array([1, 2, 3]), floats: new Float64Array([1.5]) });
  const first = decode(bytes) as { view: Uint8Array; floats: Float64Array };
  assert.equal(first.view.byteOffset, 0);
  assert.equal(first.view.buffer.byteLength, 3);
  assert.notEqual(first.view.buffer, bytes.buffer);
  first.view.fill(9);
  first.floats[0] = 0;
  const second = decode(bytes) as typeof first;
  assert.deepEqual([...second.view], [1, 2, 3]);
  assert.deepEqual([...second.floats], [1.5]);
});

Deno.test("getters run once, in V8's order; a getter's exception propagates; a key a getter deletes is skipped", () => {
  const calls: string[] = [];
  const value = {
    get a() {
      calls.push("a");
      return 1;
    },
    b: [{
      get c() {
        calls.push("c");
        return "c";
      },
    }],
  };
  encode(value);
  assert.deepEqual(calls, ["a", "c"]);
  calls.length = 0;
  serialize(value);
  assert.deepEqual(calls, ["a", "c"]);

  const boom = new Error("boom");
  assert.throws(() =>
    encode({
      get x() {
        throw boom;
      },
    }), (error) => error === boom);

  const deleting = () => {
    const o: Record<string, unknown> = {
      get first() {
        delete o.second;
        return 1;
      },
      second: 2,
      third: undefined,
    };
    return o;
  };
  assert.equal(hex(encode(deleting())), hex(serialize(deleting())));
});

Deno.test("a getter that encodes while encode runs gets node:v8's bytes and the outer encode is unaffected", () => {
  let inner: Uint8Array | undefined;
  const value = {
    get x() {
      inner = encode({ inner: [1, "€"] });
      return 1;
    },
    y: "after",
  };
  assert.equal(hex(encode(value)), hex(serialize({ x: 1, y: "after" })));
  assert.equal(hex(inner!), hex(serialize({ inner: [1, "€"] })));
});

Deno.test("encode returns a fresh buffer each call", () => {
  const a = encode({ n: 1 });
  const b = encode({ n: 2 });
  assert.notEqual(a.buffer, b.buffer);
  assert.equal(a.byteOffset, 0);
  assert.equal(a.buffer.byteLength, a.byteLength);
  assert.deepEqual(decode(a), { n: 1 });
});
