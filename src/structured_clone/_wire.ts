// V8's ValueSerializer wire format, version 15 (header `FF 0F`), as Deno's
// `node:v8` `serialize` writes it: tags, error sub-tags, RegExp flag bits and
// Node's host-object indexes for typed arrays.

export const T_PADDING = 0x00;
export const T_VERSION = 0xff;
export const VERSION = 15;
export const T_VERIFY_COUNT = 0x3f; // '?'
export const T_HOLE = 0x2d; // '-'
export const T_UNDEFINED = 0x5f; // '_'
export const T_NULL = 0x30; // '0'
export const T_TRUE = 0x54; // 'T'
export const T_FALSE = 0x46; // 'F'
export const T_INT32 = 0x49; // 'I'
export const T_UINT32 = 0x55; // 'U'
export const T_DOUBLE = 0x4e; // 'N'
export const T_BIGINT = 0x5a; // 'Z'
export const T_UTF8 = 0x53; // 'S'
export const T_ONE_BYTE = 0x22; // '"'
export const T_TWO_BYTE = 0x63; // 'c'
export const T_REF = 0x5e; // '^'
export const T_OBJECT = 0x6f; // 'o'
export const T_OBJECT_END = 0x7b; // '{'
export const T_SPARSE = 0x61; // 'a'
export const T_SPARSE_END = 0x40; // '@'
export const T_DENSE = 0x41; // 'A'
export const T_DENSE_END = 0x24; // '$'
export const T_DATE = 0x44; // 'D'
export const T_TRUE_OBJECT = 0x79; // 'y'
export const T_FALSE_OBJECT = 0x78; // 'x'
export const T_NUMBER_OBJECT = 0x6e; // 'n'
export const T_BIGINT_OBJECT = 0x7a; // 'z'
export const T_STRING_OBJECT = 0x73; // 's'
export const T_REGEXP = 0x52; // 'R'
export const T_MAP = 0x3b; // ';'
export const T_MAP_END = 0x3a; // ':'
export const T_SET = 0x27; // '\''
export const T_SET_END = 0x2c; // ','
export const T_ARRAY_BUFFER = 0x42; // 'B'
export const T_RESIZABLE_ARRAY_BUFFER = 0x7e; // '~'
export const T_ARRAY_BUFFER_VIEW = 0x56; // 'V' (never emitted by Deno's node:v8)
export const T_HOST_OBJECT = 0x5c; // '\\'
export const T_ERROR = 0x72; // 'r'

// Error sub-tags (varints after 'r').
export const E_EVAL = 0x45; // 'E'
export const E_RANGE = 0x52; // 'R'
export const E_REFERENCE = 0x46; // 'F'
export const E_SYNTAX = 0x53; // 'S'
export const E_TYPE = 0x54; // 'T'
export const E_URI = 0x55; // 'U'
export const E_MESSAGE = 0x6d; // 'm'
export const E_CAUSE = 0x63; // 'c'
export const E_STACK = 0x73; // 's'
export const E_END = 0x2e; // '.'

/** V8's JSRegExp flag bits; 'l' (linear) only exists behind a V8 flag. */
export const REGEXP_FLAG_BITS: ReadonlyMap<string, number> = new Map([
  ["g", 1],
  ["i", 2],
  ["m", 4],
  ["y", 8],
  ["u", 16],
  ["s", 32],
  ["d", 128],
  ["v", 256],
]);
export const REGEXP_FLAG_ORDER = "dgimsuvy";
/** Every bit of {@linkcode REGEXP_FLAG_BITS}. */
export const REGEXP_KNOWN_BITS = 0x1bf;

/** Node's host-object index of a `Buffer` (`arrayBufferViewTypeToIndex`). */
export const BUFFER_INDEX = 10;
/** Node's host-object index of a `DataView`. */
export const DATA_VIEW_INDEX = 9;
/** A typed array (or DataView) constructor, by the shape V8's reader calls it. */
export type ViewCtor = new (
  buffer: ArrayBuffer,
  byteOffset: number,
  length: number,
) => ArrayBufferView;
/** Constructors by Node's host-object index; index 10 (Buffer) is handled apart. */
export const VIEW_CTORS: readonly (ViewCtor | undefined)[] = [
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

/** Thrown inside the codec to mean "this value or these bytes are for `node:v8`". */
export const UNSUPPORTED: unique symbol = Symbol("unsupported");

/** Whether an error means "hand this to `node:v8`": UNSUPPORTED, or a value too deep for the JS stack. */
export function isUnsupported(error: unknown): boolean {
  return error === UNSUPPORTED ||
    (error instanceof RangeError && error.message.includes("call stack"));
}
