/**
 * A pure-JS writer and reader of V8's ValueSerializer wire format (version 15,
 * header `FF 0F`), as Deno's `node:v8` `serialize` emits it: typed arrays and
 * DataViews are Node "host objects" (`\` type-index byte-length bytes).
 *
 * Why: every `v8.serialize` call on Deno leaves ~5 KB of native memory the GC
 * does not see, and costs 10–40 µs. This codec writes the bytes itself.
 *
 * Output equals `v8.serialize` byte for byte for values in V8's canonical
 * representation. V8 also writes three internal representation choices that
 * JS cannot see; there this codec writes the canonical form, which is never
 * longer, and both forms decode to the same value:
 * - an int32 value V8 holds as a heap number (a double field, a double array,
 *   a value read out of one) is `N` (9 bytes) in V8 and `I` (varint) here;
 * - a Latin-1-only string V8 keeps two-byte (a long slice of a string that
 *   had a non-Latin-1 character) is `c` in V8 and `"` here;
 * - an array without holes whose V8 elements kind is "holey" (for example any
 *   array `v8.deserialize` returns) is sparse `a` in V8 and dense `A` here.
 *
 * Supported: primitives, plain and null-prototype objects, arrays (dense and
 * sparse, extra keys), Date, RegExp, Map, Set, ArrayBuffer (also resizable),
 * every typed array, DataView, Buffer, boxed primitives, errors (subclasses
 * too), shared references and cycles. Anything else (class instances,
 * proxies, SharedArrayBuffers, detached buffers, symbols, functions, nesting
 * deeper than {@linkcode MAX_DEPTH}, …) is handed whole to `node:v8`, which
 * serializes it or throws. Objects structured clone refuses but V8 would
 * write as plain objects (Deno's `Request`, `Headers`, `URL`, streams, event
 * targets, …, and classes given to {@linkcode markNotCloneable}) throw a
 * `DataCloneError` naming the type, wherever they sit in the value. {@linkcode decode} likewise hands bytes it does not
 * fully understand to `v8.deserialize` (on a copy, so that typed arrays never
 * alias the stored bytes).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { deserialize as v8Deserialize, serialize as v8Serialize } from "node:v8";
import {
  isArrayBuffer,
  isBigIntObject,
  isBooleanObject,
  isDataView,
  isDate,
  isMap,
  isModuleNamespaceObject,
  isNativeError,
  isNumberObject,
  isProxy,
  isRegExp,
  isSet,
  isStringObject,
} from "node:util/types";

/** Values nested deeper than this are handed to `node:v8`. */
export const MAX_DEPTH = 1000;

/** How often each direction fell back to `node:v8` (diagnostics and tests). */
export const codecStats = { encodeFallbacks: 0, decodeFallbacks: 0 };

// ---- tags ---------------------------------------------------------------------------------------

const T_PADDING = 0x00;
const T_VERSION = 0xff;
const VERSION = 15;
const T_VERIFY_COUNT = 0x3f; // '?'
const T_HOLE = 0x2d; // '-'
const T_UNDEFINED = 0x5f; // '_'
const T_NULL = 0x30; // '0'
const T_TRUE = 0x54; // 'T'
const T_FALSE = 0x46; // 'F'
const T_INT32 = 0x49; // 'I'
const T_UINT32 = 0x55; // 'U'
const T_DOUBLE = 0x4e; // 'N'
const T_BIGINT = 0x5a; // 'Z'
const T_UTF8 = 0x53; // 'S'
const T_ONE_BYTE = 0x22; // '"'
const T_TWO_BYTE = 0x63; // 'c'
const T_REF = 0x5e; // '^'
const T_OBJECT = 0x6f; // 'o'
const T_OBJECT_END = 0x7b; // '{'
const T_SPARSE = 0x61; // 'a'
const T_SPARSE_END = 0x40; // '@'
const T_DENSE = 0x41; // 'A'
const T_DENSE_END = 0x24; // '$'
const T_DATE = 0x44; // 'D'
const T_TRUE_OBJECT = 0x79; // 'y'
const T_FALSE_OBJECT = 0x78; // 'x'
const T_NUMBER_OBJECT = 0x6e; // 'n'
const T_BIGINT_OBJECT = 0x7a; // 'z'
const T_STRING_OBJECT = 0x73; // 's'
const T_REGEXP = 0x52; // 'R'
const T_MAP = 0x3b; // ';'
const T_MAP_END = 0x3a; // ':'
const T_SET = 0x27; // '\''
const T_SET_END = 0x2c; // ','
const T_ARRAY_BUFFER = 0x42; // 'B'
const T_RESIZABLE_ARRAY_BUFFER = 0x7e; // '~'
const T_ARRAY_BUFFER_VIEW = 0x56; // 'V' (never emitted by Deno's node:v8)
const T_HOST_OBJECT = 0x5c; // '\\'
const T_ERROR = 0x72; // 'r'

// Error sub-tags (varints after 'r').
const E_EVAL = 0x45; // 'E'
const E_RANGE = 0x52; // 'R'
const E_REFERENCE = 0x46; // 'F'
const E_SYNTAX = 0x53; // 'S'
const E_TYPE = 0x54; // 'T'
const E_URI = 0x55; // 'U'
const E_MESSAGE = 0x6d; // 'm'
const E_CAUSE = 0x63; // 'c'
const E_STACK = 0x73; // 's'
const E_END = 0x2e; // '.'

// V8's JSRegExp flag bits; 'l' (linear) only exists behind a V8 flag.
const REGEXP_FLAG_BITS = new Map([
  ["g", 1],
  ["i", 2],
  ["m", 4],
  ["y", 8],
  ["u", 16],
  ["s", 32],
  ["d", 128],
  ["v", 256],
]);
const REGEXP_FLAG_ORDER = "dgimsuvy";

// Node's host-object type indexes (`arrayBufferViewTypeToIndex`); 10 is Buffer.
const BUFFER_INDEX = 10;
const DATA_VIEW_INDEX = 9;
type ViewCtor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => ArrayBufferView;
const VIEW_CTORS: (ViewCtor | undefined)[] = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  DataView as unknown as ViewCtor,
  undefined, // Buffer: handled apart
  BigInt64Array,
  BigUint64Array,
  (globalThis as { Float16Array?: ViewCtor }).Float16Array,
];

// ---- intrinsics captured at load (user patches of prototypes do not matter) ---------------------

const ObjectPrototype = Object.prototype;
const getPrototypeOf = Object.getPrototypeOf;
const objectKeys = Object.keys;
const hasOwn = Object.hasOwn;
const isArray = Array.isArray;
const isExtensible = Object.isExtensible;
const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const defineProperty = Object.defineProperty;
const call = Function.prototype.call;
const uncurry = <A extends unknown[], R>(fn: (...args: A) => R) =>
  call.bind(fn) as unknown as (self: unknown, ...args: A) => R;
const getter = (proto: object, key: PropertyKey) =>
  uncurry(getOwnPropertyDescriptor(proto, key)!.get! as () => unknown);

const dateGetTime = uncurry(Date.prototype.getTime);
const regexpSource = getter(RegExp.prototype, "source") as (re: unknown) => string;
const regexpFlags = getter(RegExp.prototype, "flags") as (re: unknown) => string;
const mapForEach = uncurry(Map.prototype.forEach as (cb: (v: unknown, k: unknown) => void) => void);
const setForEach = uncurry(Set.prototype.forEach as (cb: (v: unknown) => void) => void);
const mapSet = uncurry(Map.prototype.set as (k: unknown, v: unknown) => Map<unknown, unknown>);
const setAdd = uncurry(Set.prototype.add as (v: unknown) => Set<unknown>);
const booleanValueOf = uncurry(Boolean.prototype.valueOf);
const numberValueOf = uncurry(Number.prototype.valueOf);
const stringValueOf = uncurry(String.prototype.valueOf);
const bigintValueOf = uncurry(BigInt.prototype.valueOf);
const TypedArrayPrototype = getPrototypeOf(Uint8Array.prototype) as object;
const typedArrayTag = getter(TypedArrayPrototype, Symbol.toStringTag) as (
  v: unknown,
) => string | undefined;
const viewBuffer = getter(TypedArrayPrototype, "buffer") as (v: unknown) => ArrayBufferLike;
const viewByteOffset = getter(TypedArrayPrototype, "byteOffset") as (v: unknown) => number;
const viewByteLength = getter(TypedArrayPrototype, "byteLength") as (v: unknown) => number;
const dataViewBuffer = getter(DataView.prototype, "buffer") as (v: unknown) => ArrayBufferLike;
const dataViewByteOffset = getter(DataView.prototype, "byteOffset") as (v: unknown) => number;
const dataViewByteLength = getter(DataView.prototype, "byteLength") as (v: unknown) => number;
const abByteLength = getter(ArrayBuffer.prototype, "byteLength") as (v: unknown) => number;
const abMaxByteLength = getter(ArrayBuffer.prototype, "maxByteLength") as (v: unknown) => number;
const abResizable = getter(ArrayBuffer.prototype, "resizable") as (v: unknown) => boolean;
const abDetached = getter(ArrayBuffer.prototype, "detached") as (v: unknown) => boolean;

const Kind = {
  Date: 0,
  RegExp: 1,
  Map: 2,
  Set: 3,
  ArrayBuffer: 4,
  TypedArray: 5,
  DataView: 6,
  Buffer: 7,
  Error: 8,
  Boolean: 9,
  Number: 10,
  String: 11,
  BigInt: 12,
} as const;
type Kind = typeof Kind[keyof typeof Kind];

const PROTO_KIND = new Map<object, Kind>([
  [Date.prototype, Kind.Date],
  [RegExp.prototype, Kind.RegExp],
  [Map.prototype, Kind.Map],
  [Set.prototype, Kind.Set],
  [ArrayBuffer.prototype, Kind.ArrayBuffer],
  [DataView.prototype, Kind.DataView],
  [Buffer.prototype, Kind.Buffer],
  [Boolean.prototype, Kind.Boolean],
  [Number.prototype, Kind.Number],
  [String.prototype, Kind.String],
  [BigInt.prototype, Kind.BigInt],
]);
const TYPED_ARRAY_INDEX = new Map<string, number>();
for (let index = 0; index < VIEW_CTORS.length; index++) {
  const ctor = VIEW_CTORS[index];
  if (ctor === undefined || index === DATA_VIEW_INDEX) continue;
  PROTO_KIND.set(ctor.prototype, Kind.TypedArray);
  TYPED_ARRAY_INDEX.set(ctor.name, index);
}
const ERROR_CTORS = [
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
  AggregateError,
];
for (const ctor of ERROR_CTORS) PROTO_KIND.set(ctor.prototype, Kind.Error);
const ERROR_NAME_TAG = new Map([
  ["EvalError", E_EVAL],
  ["RangeError", E_RANGE],
  ["ReferenceError", E_REFERENCE],
  ["SyntaxError", E_SYNTAX],
  ["TypeError", E_TYPE],
  ["URIError", E_URI],
]);

/** Thrown inside the codec to mean "hand the whole value to node:v8". */
const UNSUPPORTED: unique symbol = Symbol("unsupported");

// ---- objects that structured clone refuses ------------------------------------------------------

// Deno's web classes are plain JS classes with private state: V8 (and so
// `node:v8`) writes them as ordinary objects, and a Headers or a URL comes back
// as `{}`. Deno's `structuredClone` refuses most of them; workerd refuses every
// type it cannot serialize. This codec refuses them all, by prototype.
const WEB_CLASSES = [
  "EventTarget", // WebSocket, AbortSignal, MessagePort, Worker, BroadcastChannel, …
  "Event",
  "Request",
  "Response",
  "Headers",
  "FormData",
  "URL",
  "URLSearchParams",
  "URLPattern",
  "Blob", // File; Deno's structuredClone keeps a Blob in memory, which cannot be stored
  "ReadableStream",
  "WritableStream",
  "TransformStream",
  "ReadableStreamDefaultReader",
  "ReadableStreamBYOBReader",
  "WritableStreamDefaultWriter",
  "TextEncoder",
  "TextDecoder",
  "TextEncoderStream",
  "TextDecoderStream",
  "CompressionStream",
  "DecompressionStream",
  "AbortController",
  "MessageChannel",
  "Crypto",
  "SubtleCrypto",
  "CryptoKey",
  "Cache",
  "CacheStorage",
  "ImageData",
];
const DENO_CLASSES = ["Kv", "KvU64", "AtomicOperation", "FsFile", "ChildProcess", "HttpClient"];
// Fix hints for the types people try to store.
const STORE_INSTEAD: Record<string, string> = {
  WebSocket: "a tag or an id that names the socket",
  URL: "url.href",
  URLSearchParams: "params.toString()",
  Headers: "Object.fromEntries(headers)",
  Request: "request.url and the headers you need",
  Response: "its status and the text of its body",
  Blob: "the bytes of await blob.arrayBuffer()",
  File: "the bytes of await file.arrayBuffer()",
  DurableObjectId: "id.toString()",
};

/** Prototype → type name, for the framework's own classes (registered) and the web's (loaded lazily). */
const notCloneable = new Map<object, string>();
/** Prototypes whose registered name is used as is (the web's report the object's own class name). */
const fixedNames = new Set<object>();
let webClassesLoaded = false;

function loadWebClasses(): void {
  webClassesLoaded = true;
  const add = (scope: object, name: string) => {
    let ctor: unknown;
    try {
      ctor = (scope as Record<string, unknown>)[name];
    } catch {
      return; // a global whose getter throws without a permission or a flag
    }
    const prototype = typeof ctor === "function"
      ? (ctor as { prototype?: unknown }).prototype
      : null;
    if (typeof prototype === "object" && prototype !== null && !notCloneable.has(prototype)) {
      notCloneable.set(prototype, name);
    }
  };
  for (const name of WEB_CLASSES) add(globalThis, name);
  if (typeof Deno === "object") { for (const name of DENO_CLASSES) add(Deno, name); }
}

/**
 * Makes {@linkcode encode} refuse instances of a class (and of its
 * subclasses) with a `DataCloneError` naming `typeName`, as structured clone
 * refuses platform objects. For classes whose state is private: V8 would
 * write them as `{}`.
 */
export function markNotCloneable(prototype: object, typeName: string): void {
  notCloneable.set(prototype, typeName);
  fixedNames.add(prototype);
}

/** The type name of an object structured clone refuses, or `undefined`. */
function notCloneableType(object: object): string | undefined {
  if (!webClassesLoaded) loadWebClasses();
  let proto = getPrototypeOf(object);
  for (let i = 0; i < 64 && proto !== null && proto !== ObjectPrototype; i++) {
    const name = notCloneable.get(proto);
    if (name !== undefined) return fixedNames.has(proto) ? name : className(object) ?? name;
    proto = getPrototypeOf(proto);
  }
  return undefined;
}

/** The name of an object's class, read without running user code. */
function className(object: object): string | undefined {
  const ctor = getOwnPropertyDescriptor(getPrototypeOf(object), "constructor")?.value;
  if (typeof ctor !== "function") return undefined;
  const name = getOwnPropertyDescriptor(ctor, "name")?.value;
  return typeof name === "string" && name !== "" ? name : undefined;
}

function dataCloneError(type: string): DOMException {
  const instead = STORE_INSTEAD[type];
  return new DOMException(
    `Could not serialize object of type "${type}". This type does not support serialization: ` +
      `store ${instead ?? "plain data (its fields)"} instead`,
    "DataCloneError",
  );
}

/**
 * Throws for a refused object anywhere in a value `node:v8` is about to
 * write (it would write it as an object). Reads data properties only, so no
 * getter runs twice; skips proxies, which `node:v8` refuses itself.
 */
function checkCloneable(root: unknown): void {
  if (typeof root !== "object" || root === null) return;
  const seen = new Set<object>();
  // Depth first, in V8's order, so the error names the object V8 would reach first.
  const stack: unknown[] = [root];
  const children: unknown[] = [];
  const push = (value: unknown) => {
    if (typeof value === "object" && value !== null && !seen.has(value)) children.push(value);
  };
  while (stack.length > 0) {
    const object = stack.pop() as object;
    if (seen.has(object) || isProxy(object)) continue;
    seen.add(object);
    const type = notCloneableType(object);
    if (type !== undefined) throw dataCloneError(type);
    if (isMap(object)) {
      mapForEach(object, (value, key) => {
        push(key);
        push(value);
      });
    } else if (isSet(object)) {
      setForEach(object, push);
    } else if (isNativeError(object)) {
      push(getOwnPropertyDescriptor(object, "cause")?.value);
    } else if (isArray(object) || !(isArrayBuffer(object) || ArrayBuffer.isView(object))) {
      for (const key of objectKeys(object)) push(getOwnPropertyDescriptor(object, key)?.value);
    }
    while (children.length > 0) stack.push(children.pop());
  }
}

/** `node:v8`, for values the codec does not write itself. */
function v8Fallback(value: unknown): Uint8Array {
  checkCloneable(value);
  return v8Serialize(value);
}

// ---- writer -------------------------------------------------------------------------------------

const SMALL_BUFFER = 1024;
let out = new Uint8Array(SMALL_BUFFER);
let pos = 0;
let ids = new Map<object, number>();
let encoding = false;
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const textEncoder = new TextEncoder();

function grow(needed: number): void {
  let size = out.length * 2;
  while (size < pos + needed) size *= 2;
  const bigger = new Uint8Array(size);
  bigger.set(out.subarray(0, pos));
  out = bigger;
}

/** Writes a uint32 as V8's base-128 varint. */
function writeVarint(value: number): void {
  if (pos + 5 > out.length) grow(5);
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[pos++] = value;
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value >>>= 7;
    size++;
  }
  return size;
}

function writeDouble(value: number): void {
  if (pos + 8 > out.length) grow(8);
  f64[0] = value;
  out.set(f64Bytes, pos);
  pos += 8;
}

function writeTag(tag: number): void {
  if (pos >= out.length) grow(1);
  out[pos++] = tag;
}

function writeNumber(value: number): void {
  // A Smi is 'I'. Deno's V8 has no pointer compression: Smis are 32-bit, so 2^30 is 'I' too.
  if ((value | 0) === value && (value !== 0 || 1 / value > 0)) {
    writeTag(T_INT32);
    writeVarint(((value << 1) ^ (value >> 31)) >>> 0);
  } else {
    writeTag(T_DOUBLE);
    writeDouble(value);
  }
}

function writeString(text: string): void {
  const length = text.length;
  if (pos + length + 6 > out.length) grow(length + 6);
  const start = pos;
  out[pos++] = T_ONE_BYTE;
  writeVarint(length);
  if (length > 32) {
    // ASCII fast path; anything else is redone below.
    const { read, written } = textEncoder.encodeInto(text, out.subarray(pos, pos + length));
    if (read === length && written === length) {
      pos += length;
      return;
    }
  }
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) {
      pos = start;
      writeTwoByteString(text);
      return;
    }
    out[pos++] = code;
  }
}

function writeTwoByteString(text: string): void {
  const byteLength = text.length * 2;
  if (pos + byteLength + 7 > out.length) grow(byteLength + 7);
  // V8 keeps two-byte characters at an even offset of the whole buffer.
  if ((pos + 1 + varintSize(byteLength)) & 1) out[pos++] = T_PADDING;
  out[pos++] = T_TWO_BYTE;
  writeVarint(byteLength);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    out[pos++] = code & 0xff;
    out[pos++] = code >> 8;
  }
}

function writeBigIntContents(value: bigint): void {
  if (value === 0n) {
    writeVarint(0);
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
  writeVarint(byteLength * 2 + (negative ? 1 : 0));
  if (pos + byteLength > out.length) grow(byteLength);
  const view = new DataView(out.buffer, out.byteOffset + pos, byteLength);
  for (let i = 0; i < digits.length; i++) view.setBigUint64(i * 8, digits[i]!, true);
  pos += byteLength;
}

function writeRawBytes(bytes: Uint8Array): void {
  if (pos + bytes.length > out.length) grow(bytes.length);
  out.set(bytes, pos);
  pos += bytes.length;
}

/** Writes a key from `Object.keys`: array indexes are numbers, as V8 keeps them. */
function writeKey(key: string): void {
  const first = key.charCodeAt(0);
  if (first >= 0x30 && first <= 0x39 && key.length <= 10) {
    const index = +key;
    if (index <= 4294967294 && (first !== 0x30 || key.length === 1) && /^\d+$/.test(key)) {
      writeNumber(index);
      return;
    }
  }
  writeString(key);
}

function writeValue(value: unknown, depth: number): void {
  switch (typeof value) {
    case "string":
      writeString(value);
      return;
    case "number":
      writeNumber(value);
      return;
    case "boolean":
      writeTag(value ? T_TRUE : T_FALSE);
      return;
    case "undefined":
      writeTag(T_UNDEFINED);
      return;
    case "bigint":
      writeTag(T_BIGINT);
      writeBigIntContents(value);
      return;
    case "object":
      if (value === null) writeTag(T_NULL);
      else writeReceiver(value, depth);
      return;
    default: // function, symbol: node:v8 throws its own error
      throw UNSUPPORTED;
  }
}

function writeReceiver(object: object, depth: number): void {
  const id = ids.get(object);
  if (id !== undefined) {
    writeTag(T_REF);
    writeVarint(id);
    return;
  }
  if (depth >= MAX_DEPTH || isProxy(object)) throw UNSUPPORTED;
  ids.set(object, ids.size);
  if (isArray(object)) {
    writeArray(object, depth + 1);
    return;
  }
  const proto = getPrototypeOf(object);
  if (proto === ObjectPrototype || (proto === null && !isModuleNamespaceObject(object))) {
    writeObject(object as Record<string, unknown>, depth + 1);
    return;
  }
  switch (PROTO_KIND.get(proto)) {
    case Kind.Date:
      if (!isDate(object)) break;
      writeTag(T_DATE);
      writeDouble(dateGetTime(object));
      return;
    case Kind.RegExp:
      if (!isRegExp(object)) break;
      writeRegExp(object);
      return;
    case Kind.Map:
      if (!isMap(object)) break;
      writeMap(object, depth + 1);
      return;
    case Kind.Set:
      if (!isSet(object)) break;
      writeSet(object, depth + 1);
      return;
    case Kind.ArrayBuffer:
      if (!isArrayBuffer(object) || abDetached(object)) break;
      writeArrayBuffer(object);
      return;
    case Kind.TypedArray: {
      const index = TYPED_ARRAY_INDEX.get(typedArrayTag(object)!);
      if (index === undefined || hasOwn(object, "constructor")) break;
      const buffer = viewBuffer(object);
      if (isArrayBuffer(buffer) && abDetached(buffer)) break; // node:v8 throws
      writeView(index, buffer, viewByteOffset(object), viewByteLength(object));
      return;
    }
    case Kind.DataView: {
      if (!isDataView(object) || hasOwn(object, "constructor")) break;
      const buffer = dataViewBuffer(object);
      // Its byteLength getter throws once the buffer is detached or shrunk.
      if (isArrayBuffer(buffer) && (abDetached(buffer) || abResizable(buffer))) break;
      writeView(
        DATA_VIEW_INDEX,
        buffer,
        dataViewByteOffset(object),
        dataViewByteLength(object),
      );
      return;
    }
    case Kind.Buffer:
      // Deno's node:v8 tests `constructor === Buffer` for index 10.
      if (typedArrayTag(object) !== "Uint8Array" || (object as Buffer).constructor !== Buffer) {
        break;
      }
      writeView(BUFFER_INDEX, viewBuffer(object), viewByteOffset(object), viewByteLength(object));
      return;
    case Kind.Error:
      if (!isNativeError(object)) break;
      writeError(object as Error, depth + 1);
      return;
    case Kind.Boolean:
      if (!isBooleanObject(object)) break;
      writeTag(booleanValueOf(object) ? T_TRUE_OBJECT : T_FALSE_OBJECT);
      return;
    case Kind.Number:
      if (!isNumberObject(object)) break;
      writeTag(T_NUMBER_OBJECT);
      writeDouble(numberValueOf(object));
      return;
    case Kind.String:
      if (!isStringObject(object)) break;
      writeTag(T_STRING_OBJECT);
      writeString(stringValueOf(object));
      return;
    case Kind.BigInt:
      if (!isBigIntObject(object)) break;
      writeTag(T_BIGINT_OBJECT);
      writeBigIntContents(bigintValueOf(object));
      return;
  }
  // V8 goes by instance type: an instance of an Error subclass is an error.
  if (isNativeError(object)) {
    writeError(object as Error, depth + 1);
    return;
  }
  const type = notCloneableType(object);
  if (type !== undefined) throw dataCloneError(type);
  // Class instances, exotic objects and anything not verified above.
  throw UNSUPPORTED;
}

function writeObject(object: Record<string, unknown>, depth: number): void {
  const keys = objectKeys(object);
  writeTag(T_OBJECT);
  const written = writeProperties(object, keys, 0, depth);
  writeTag(T_OBJECT_END);
  writeVarint(written);
}

/** Writes `keys[from..]` as V8 does: a getter may delete a later key, which is then skipped. */
function writeProperties(
  object: Record<string, unknown>,
  keys: string[],
  from: number,
  depth: number,
): number {
  let written = 0;
  for (let i = from; i < keys.length; i++) {
    const key = keys[i]!;
    const value = object[key];
    if (value === undefined && !hasOwn(object, key)) continue;
    writeKey(key);
    writeValue(value, depth);
    written++;
  }
  return written;
}

function writeArray(array: unknown[], depth: number): void {
  const length = array.length;
  const keys = objectKeys(array);
  // Index keys come first, ascending: all of 0..length-1 are present (and
  // enumerable) exactly when the last of them is at position length-1.
  // Non-extensible (frozen, sealed) arrays have slow elements in V8: sparse.
  const dense = isExtensible(array) &&
    (length === 0 || (keys.length >= length && keys[length - 1] === String(length - 1)));
  if (dense) {
    writeTag(T_DENSE);
    writeVarint(length);
    for (let i = 0; i < length; i++) writeValue(array[i], depth);
    const written = writeProperties(array as never, keys, length, depth);
    writeTag(T_DENSE_END);
    writeVarint(written);
    writeVarint(length);
  } else {
    writeTag(T_SPARSE);
    writeVarint(length);
    const written = writeProperties(array as never, keys, 0, depth);
    writeTag(T_SPARSE_END);
    writeVarint(written);
    writeVarint(length);
  }
}

function writeMap(map: Map<unknown, unknown>, depth: number): void {
  const entries: unknown[] = [];
  mapForEach(map, (value, key) => {
    entries.push(key, value);
  });
  writeTag(T_MAP);
  for (let i = 0; i < entries.length; i++) writeValue(entries[i], depth);
  writeTag(T_MAP_END);
  writeVarint(entries.length);
}

function writeSet(set: Set<unknown>, depth: number): void {
  const entries: unknown[] = [];
  setForEach(set, (value) => {
    entries.push(value);
  });
  writeTag(T_SET);
  for (let i = 0; i < entries.length; i++) writeValue(entries[i], depth);
  writeTag(T_SET_END);
  writeVarint(entries.length);
}

function writeRegExp(regexp: RegExp): void {
  let bits = 0;
  for (const flag of regexpFlags(regexp)) {
    const bit = REGEXP_FLAG_BITS.get(flag);
    if (bit === undefined) throw UNSUPPORTED; // 'l' (linear) and future flags
    bits |= bit;
  }
  writeTag(T_REGEXP);
  writeString(regexpSource(regexp));
  writeVarint(bits);
}

function writeArrayBuffer(buffer: ArrayBuffer): void {
  const byteLength = abByteLength(buffer);
  if (abResizable(buffer)) {
    writeTag(T_RESIZABLE_ARRAY_BUFFER);
    writeVarint(byteLength);
    writeVarint(abMaxByteLength(buffer));
  } else {
    writeTag(T_ARRAY_BUFFER);
    writeVarint(byteLength);
  }
  writeRawBytes(new Uint8Array(buffer, 0, byteLength));
}

function writeView(index: number, buffer: ArrayBufferLike, offset: number, length: number): void {
  writeTag(T_HOST_OBJECT);
  writeVarint(index);
  writeVarint(length);
  writeRawBytes(new Uint8Array(buffer, offset, length));
}

function writeError(error: Error, depth: number): void {
  // V8: own data `message`, then `name` and `stack` through [[Get]], own data `cause`.
  const message = getOwnPropertyDescriptor(error, "message");
  const cause = getOwnPropertyDescriptor(error, "cause");
  const name = primitiveToString(error.name);
  writeTag(T_ERROR);
  const prototypeTag = ERROR_NAME_TAG.get(name);
  if (prototypeTag !== undefined) writeVarint(prototypeTag);
  if (message !== undefined && "value" in message) {
    writeVarint(E_MESSAGE);
    writeString(primitiveToString(message.value));
  }
  const stack = error.stack;
  if (typeof stack === "string") {
    writeVarint(E_STACK);
    writeString(stack);
  }
  if (cause !== undefined && "value" in cause) {
    writeVarint(E_CAUSE);
    writeValue(cause.value, depth);
  }
  writeVarint(E_END);
}

/** V8's ToString, for values where it runs no user code. */
function primitiveToString(value: unknown): string {
  if (typeof value === "string") return value;
  if (
    (typeof value === "object" && value !== null) || typeof value === "function" ||
    typeof value === "symbol"
  ) {
    throw UNSUPPORTED;
  }
  return String(value);
}

function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && error.message.includes("call stack");
}

/**
 * Serializes `value` to the bytes `node:v8` `serialize` produces (see the
 * module doc for the three representation cases where it writes the shorter
 * canonical form). Values it does not write itself go to `node:v8`, so
 * functions and symbols throw `node:v8`'s plain `Error`; exceptions thrown by
 * getters propagate.
 */
export function encode(value: unknown): Uint8Array {
  // A getter that serializes again while we are busy gets node:v8.
  if (encoding) return v8Fallback(value);
  encoding = true;
  pos = 0;
  let fallback = false;
  try {
    out[pos++] = T_VERSION;
    out[pos++] = VERSION;
    writeValue(value, 0);
    return out.slice(0, pos);
  } catch (error) {
    if (error !== UNSUPPORTED && !isStackOverflow(error)) throw error;
    fallback = true;
  } finally {
    encoding = false;
    if (ids.size > 256) ids = new Map();
    else ids.clear();
    if (out.length > 64 * SMALL_BUFFER) out = new Uint8Array(SMALL_BUFFER);
  }
  if (fallback) codecStats.encodeFallbacks++;
  return v8Fallback(value);
}

// ---- reader -------------------------------------------------------------------------------------

const EMPTY: Uint8Array = new Uint8Array(0);
let input = EMPTY;
let at = 0;
let objects: unknown[] = [];
const PENDING = Symbol("pending");

function readByte(): number {
  if (at >= input.length) throw UNSUPPORTED;
  return input[at++]!;
}

function readTag(): number {
  let tag: number;
  do tag = readByte(); while (tag === T_PADDING);
  return tag;
}

function peekTag(): number {
  let i = at;
  while (i < input.length && input[i] === T_PADDING) i++;
  if (i >= input.length) throw UNSUPPORTED;
  return input[i]!;
}

function consumeTag(): void {
  while (input[at] === T_PADDING) at++;
  at++;
}

function readVarint(): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 5; i++) {
    const byte = readByte();
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 128;
  }
  throw UNSUPPORTED;
}

function readDouble(): number {
  if (at + 8 > input.length) throw UNSUPPORTED;
  f64Bytes.set(input.subarray(at, at + 8));
  at += 8;
  return f64[0]!;
}

function readRaw(length: number): Uint8Array {
  if (at + length > input.length) throw UNSUPPORTED;
  const bytes = input.subarray(at, at + length);
  at += length;
  return bytes;
}

function readOneByteString(length: number): string {
  if (at + length > input.length) throw UNSUPPORTED;
  const start = at;
  at += length;
  if (length <= 24) {
    let text = "";
    for (let i = start; i < at; i++) text += String.fromCharCode(input[i]!);
    return text;
  }
  let text = "";
  for (let i = start; i < at; i += 4096) {
    const chunk = input.subarray(i, Math.min(i + 4096, at));
    text += String.fromCharCode.apply(null, chunk as unknown as number[]);
  }
  return text;
}

function readTwoByteString(byteLength: number): string {
  if (byteLength & 1) throw UNSUPPORTED;
  const bytes = readRaw(byteLength);
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

const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

function readString(): string {
  const value = readValue();
  if (typeof value !== "string") throw UNSUPPORTED;
  return value;
}

function readBigIntContents(): bigint {
  const bitfield = readVarint();
  const byteLength = Math.floor(bitfield / 2);
  const bytes = readRaw(byteLength);
  let value = 0n;
  let i = byteLength;
  for (; i >= 8 && i % 8 === 0; i -= 8) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + i - 8, 8);
    value = (value << 64n) | view.getBigUint64(0, true);
  }
  for (; i > 0; i--) value = (value << 8n) | BigInt(bytes[i - 1]!);
  return bitfield & 1 ? -value : value;
}

function reserveId(): number {
  objects.push(PENDING);
  return objects.length - 1;
}

function setProperty(object: Record<PropertyKey, unknown>, key: unknown, value: unknown): void {
  if (key === "__proto__") {
    defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    object[key as string] = value;
  }
}

/** Reads key/value pairs up to `endTag`; returns how many. */
function readProperties(object: Record<PropertyKey, unknown>, endTag: number): number {
  let count = 0;
  for (;;) {
    if (peekTag() === endTag) {
      consumeTag();
      return count;
    }
    const key = readKey();
    if (typeof key !== "string" && typeof key !== "number") throw UNSUPPORTED;
    setProperty(object, key, readValue());
    count++;
  }
}

// Short one-byte keys repeat across decodes: reusing the (internalized)
// string skips building it and V8's internalization on the property store.
const KEY_CACHE_SIZE = 256;
const keyCache: (string | undefined)[] = new Array(KEY_CACHE_SIZE);

function readKey(): unknown {
  const tagAt = at;
  if (input[tagAt] !== T_ONE_BYTE) return readValue();
  const length = input[tagAt + 1]!;
  const start = tagAt + 2;
  if (length > 32 || start + length > input.length) return readValue();
  let hash = length;
  for (let i = start; i < start + length; i++) hash = (Math.imul(hash, 31) + input[i]!) | 0;
  const slot = hash & (KEY_CACHE_SIZE - 1);
  const cached = keyCache[slot];
  if (cached !== undefined && cached.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (cached.charCodeAt(i) !== input[start + i]) {
        same = false;
        break;
      }
    }
    if (same) {
      at = start + length;
      return cached;
    }
  }
  at = start;
  const key = readOneByteString(length);
  keyCache[slot] = key;
  return key;
}

function readValue(): unknown {
  const tag = readTag();
  switch (tag) {
    case T_UNDEFINED:
      return undefined;
    case T_NULL:
      return null;
    case T_TRUE:
      return true;
    case T_FALSE:
      return false;
    case T_INT32: {
      const zigzag = readVarint();
      return (zigzag >>> 1) ^ -(zigzag & 1);
    }
    case T_UINT32:
      return readVarint();
    case T_DOUBLE:
      return readDouble();
    case T_BIGINT:
      return readBigIntContents();
    case T_ONE_BYTE:
      return readOneByteString(readVarint());
    case T_TWO_BYTE:
      return readTwoByteString(readVarint());
    case T_UTF8:
      return utf8Decoder.decode(readRaw(readVarint()));
    case T_VERIFY_COUNT:
      readVarint();
      return readValue();
    case T_REF: {
      const object = objects[readVarint()];
      if (object === undefined || object === PENDING) throw UNSUPPORTED;
      return object;
    }
    case T_OBJECT: {
      const object: Record<PropertyKey, unknown> = {};
      objects.push(object);
      const count = readProperties(object, T_OBJECT_END);
      if (readVarint() !== count) throw UNSUPPORTED;
      return object;
    }
    case T_DENSE:
      return readDenseArray();
    case T_SPARSE: {
      const length = readVarint();
      const array: unknown[] = [];
      objects.push(array);
      array.length = length;
      const count = readProperties(array as never, T_SPARSE_END);
      if (readVarint() !== count || readVarint() !== length) throw UNSUPPORTED;
      return array;
    }
    case T_DATE: {
      const id = reserveId();
      return (objects[id] = new Date(readDouble()));
    }
    case T_REGEXP: {
      const id = reserveId();
      const source = readString();
      const bits = readVarint();
      let flags = "";
      for (const flag of REGEXP_FLAG_ORDER) if (bits & REGEXP_FLAG_BITS.get(flag)!) flags += flag;
      if (bits & ~0x1bf) throw UNSUPPORTED; // 'l' or unknown bits: node:v8 decides
      return (objects[id] = new RegExp(source, flags));
    }
    case T_MAP: {
      const map = new Map<unknown, unknown>();
      objects.push(map);
      let count = 0;
      while (peekTag() !== T_MAP_END) {
        const key = readValue();
        mapSet(map, key, readValue());
        count += 2;
      }
      consumeTag();
      if (readVarint() !== count) throw UNSUPPORTED;
      return map;
    }
    case T_SET: {
      const set = new Set<unknown>();
      objects.push(set);
      let count = 0;
      while (peekTag() !== T_SET_END) {
        setAdd(set, readValue());
        count++;
      }
      consumeTag();
      if (readVarint() !== count) throw UNSUPPORTED;
      return set;
    }
    case T_TRUE_OBJECT:
    case T_FALSE_OBJECT: {
      const id = reserveId();
      return (objects[id] = new Boolean(tag === T_TRUE_OBJECT));
    }
    case T_NUMBER_OBJECT: {
      const id = reserveId();
      return (objects[id] = new Number(readDouble()));
    }
    case T_BIGINT_OBJECT: {
      const id = reserveId();
      return (objects[id] = Object(readBigIntContents()));
    }
    case T_STRING_OBJECT: {
      const id = reserveId();
      return (objects[id] = new String(readString()));
    }
    case T_ARRAY_BUFFER:
    case T_RESIZABLE_ARRAY_BUFFER:
      return readArrayBuffer(tag);
    case T_HOST_OBJECT:
      return readView();
    case T_ERROR:
      return readError();
    default: // 'V', shared buffers, transfers, wasm, shared objects, …
      throw UNSUPPORTED;
  }
}

function readDenseArray(): unknown[] {
  const length = readVarint();
  if (length > input.length - at) throw UNSUPPORTED; // as V8: each element takes a byte
  const array: unknown[] = [];
  objects.push(array);
  for (let i = 0; i < length; i++) {
    if (peekTag() === T_HOLE) {
      consumeTag();
      array.length = i + 1;
      continue;
    }
    array[i] = readValue();
  }
  if (array.length < length) array.length = length;
  const count = readProperties(array as never, T_DENSE_END);
  if (readVarint() !== count || readVarint() !== length) throw UNSUPPORTED;
  return array;
}

function readArrayBuffer(tag: number): ArrayBuffer {
  const id = reserveId();
  const byteLength = readVarint();
  let buffer: ArrayBuffer;
  if (tag === T_RESIZABLE_ARRAY_BUFFER) {
    const maxByteLength = readVarint();
    if (maxByteLength < byteLength) throw UNSUPPORTED;
    buffer = new ArrayBuffer(byteLength, { maxByteLength });
  } else {
    buffer = new ArrayBuffer(byteLength);
  }
  new Uint8Array(buffer).set(readRaw(byteLength));
  // An ArrayBufferView tag after a buffer ('V') is V8's own view encoding.
  if (at < input.length && peekTag() === T_ARRAY_BUFFER_VIEW) throw UNSUPPORTED;
  return (objects[id] = buffer);
}

function readView(): ArrayBufferView {
  const id = reserveId();
  const index = readVarint();
  const byteLength = readVarint();
  const bytes = readRaw(byteLength);
  // A fresh buffer of exactly the view's bytes (node:v8 aliases its input).
  const buffer = new ArrayBuffer(byteLength);
  new Uint8Array(buffer).set(bytes);
  let view: ArrayBufferView;
  if (index === BUFFER_INDEX) {
    view = Buffer.from(buffer, 0, byteLength);
  } else {
    const ctor = VIEW_CTORS[index];
    if (ctor === undefined) throw UNSUPPORTED;
    const size = (ctor as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    view = new ctor(buffer, 0, byteLength / size);
  }
  return (objects[id] = view);
}

function readError(): Error {
  const id = reserveId();
  let ctor: ErrorConstructor = Error;
  let message: string | undefined;
  let stack: string | undefined;
  let hasCause = false;
  let cause: unknown;
  for (;;) {
    const tag = readVarint();
    if (tag === E_END) break;
    switch (tag) {
      case E_EVAL:
        ctor = EvalError;
        break;
      case E_RANGE:
        ctor = RangeError;
        break;
      case E_REFERENCE:
        ctor = ReferenceError;
        break;
      case E_SYNTAX:
        ctor = SyntaxError;
        break;
      case E_TYPE:
        ctor = TypeError;
        break;
      case E_URI:
        ctor = URIError;
        break;
      case E_MESSAGE:
        message = readString();
        break;
      case E_STACK:
        stack = readString();
        break;
      case E_CAUSE:
        hasCause = true;
        cause = readValue();
        break;
      default:
        throw UNSUPPORTED;
    }
  }
  // No stack trace is captured (V8 skips it too); the serialized one is set.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  let error: Error;
  try {
    error = hasCause ? new ctor(message, { cause }) : new ctor(message);
  } finally {
    Error.stackTraceLimit = limit;
  }
  error.stack = stack as string;
  return (objects[id] = error) as Error;
}

/**
 * Reads bytes written by {@linkcode encode} or by `node:v8` `serialize`.
 * Each call returns fresh objects; typed arrays get their own buffer. Bytes
 * it cannot read itself (or malformed ones) go to `v8.deserialize`.
 */
export function decode(bytes: Uint8Array): unknown {
  // A plain view: a Buffer's own subarray() is slow.
  input = getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  at = 0;
  objects = [];
  try {
    if (readByte() !== T_VERSION || readVarint() !== VERSION) throw UNSUPPORTED;
    const value = readValue();
    return value;
  } catch {
    // Fall through: node:v8 reads it or throws its own error.
  } finally {
    input = EMPTY;
    objects = [];
  }
  codecStats.decodeFallbacks++;
  return v8Deserialize(bytes.slice());
}
