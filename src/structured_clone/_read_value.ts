// The value half of the decoder: reads each type the encoder writes (and the
// forms V8 writes for the same values). A well-formed tag it does not read
// throws UNSUPPORTED (the bytes then go to `node:v8`); bytes that break the
// format throw a DataCloneError.

import { Buffer } from "node:buffer";
import { defineProperty, mapSet, setAdd } from "./_intrinsics.ts";
import {
  consumeTag,
  type Input,
  malformed,
  peekTag,
  readBigIntContents,
  readCachedKey,
  readDouble,
  readOneByteString,
  readRaw,
  readTag,
  readTwoByteString,
  readUtf8,
  readVarint,
} from "./_reader.ts";
import * as wire from "./_wire.ts";

function readString(r: Input): string {
  const value = readValue(r);
  if (typeof value !== "string") throw malformed(r, "a string expected");
  return value;
}

const PENDING = Symbol("pending");
function reserveId(r: Input): number {
  r.objects.push(PENDING);
  return r.objects.length - 1;
}

function setProperty(object: Record<PropertyKey, unknown>, key: unknown, value: unknown): void {
  if (key === "__proto__") {
    defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    object[key as string] = value;
  }
}

/** Reads key/value pairs up to `endTag`; returns how many. */
function readProperties(r: Input, object: Record<PropertyKey, unknown>, endTag: number): number {
  let count = 0;
  for (;;) {
    if (peekTag(r) === endTag) {
      consumeTag(r);
      return count;
    }
    const key = readCachedKey(r) ?? readValue(r);
    if (typeof key !== "string" && typeof key !== "number") {
      throw malformed(r, "a property key that is neither a string nor a number");
    }
    setProperty(object, key, readValue(r));
    count++;
  }
}
/** Reads one value at the cursor. */
export function readValue(r: Input): unknown {
  const tag = readTag(r);
  switch (tag) {
    case wire.T_UNDEFINED:
      return undefined;
    case wire.T_NULL:
      return null;
    case wire.T_TRUE:
      return true;
    case wire.T_FALSE:
      return false;
    case wire.T_INT32: {
      const zigzag = readVarint(r);
      return (zigzag >>> 1) ^ -(zigzag & 1);
    }
    case wire.T_UINT32:
      return readVarint(r);
    case wire.T_DOUBLE:
      return readDouble(r);
    case wire.T_BIGINT:
      return readBigIntContents(r);
    case wire.T_ONE_BYTE:
      return readOneByteString(r, readVarint(r));
    case wire.T_TWO_BYTE:
      return readTwoByteString(r, readVarint(r));
    case wire.T_UTF8:
      return readUtf8(r, readVarint(r));
    case wire.T_VERIFY_COUNT:
      readVarint(r);
      return readValue(r);
    case wire.T_REF: {
      const object = r.objects[readVarint(r)];
      if (object === undefined || object === PENDING) {
        throw malformed(r, "a reference to no object");
      }
      return object;
    }
    case wire.T_OBJECT: {
      const object: Record<PropertyKey, unknown> = {};
      r.objects.push(object);
      const count = readProperties(r, object, wire.T_OBJECT_END);
      if (readVarint(r) !== count) {
        throw malformed(r, "an object property count that does not match");
      }
      return object;
    }
    case wire.T_DENSE:
      return readDenseArray(r);
    case wire.T_SPARSE: {
      const length = readVarint(r);
      const array: unknown[] = [];
      r.objects.push(array);
      array.length = length;
      const count = readProperties(r, array as never, wire.T_SPARSE_END);
      checkArrayEnd(r, count, length);
      return array;
    }
    case wire.T_DATE: {
      const id = reserveId(r);
      return (r.objects[id] = new Date(readDouble(r)));
    }
    case wire.T_REGEXP: {
      const id = reserveId(r);
      const source = readString(r);
      const bits = readVarint(r);
      let flags = "";
      for (const flag of wire.REGEXP_FLAG_ORDER) {
        if (bits & wire.REGEXP_FLAG_BITS.get(flag)!) flags += flag;
      }
      if (bits & ~wire.REGEXP_KNOWN_BITS) throw wire.UNSUPPORTED; // 'l' or unknown bits: node:v8 decides
      return (r.objects[id] = newRegExp(r, source, flags));
    }
    case wire.T_MAP: {
      const map = new Map<unknown, unknown>();
      r.objects.push(map);
      let count = 0;
      while (peekTag(r) !== wire.T_MAP_END) {
        const key = readValue(r);
        mapSet(map, key, readValue(r));
        count += 2;
      }
      consumeTag(r);
      if (readVarint(r) !== count) throw malformed(r, "a Map entry count that does not match");
      return map;
    }
    case wire.T_SET: {
      const set = new Set<unknown>();
      r.objects.push(set);
      let count = 0;
      while (peekTag(r) !== wire.T_SET_END) {
        setAdd(set, readValue(r));
        count++;
      }
      consumeTag(r);
      if (readVarint(r) !== count) throw malformed(r, "a Set entry count that does not match");
      return set;
    }
    case wire.T_TRUE_OBJECT:
    case wire.T_FALSE_OBJECT: {
      const id = reserveId(r);
      return (r.objects[id] = new Boolean(tag === wire.T_TRUE_OBJECT));
    }
    case wire.T_NUMBER_OBJECT: {
      const id = reserveId(r);
      return (r.objects[id] = new Number(readDouble(r)));
    }
    case wire.T_BIGINT_OBJECT: {
      const id = reserveId(r);
      return (r.objects[id] = Object(readBigIntContents(r)));
    }
    case wire.T_STRING_OBJECT: {
      const id = reserveId(r);
      return (r.objects[id] = new String(readString(r)));
    }
    case wire.T_ARRAY_BUFFER:
    case wire.T_RESIZABLE_ARRAY_BUFFER:
      return readArrayBuffer(r, tag);
    case wire.T_HOST_OBJECT:
      return readView(r);
    case wire.T_ERROR:
      return readError(r);
    default: // 'V', shared buffers, transfers, wasm, shared objects, …
      throw wire.UNSUPPORTED;
  }
}

function readDenseArray(r: Input): unknown[] {
  const length = readVarint(r);
  // As V8: each element takes at least a byte.
  if (length > r.input.length - r.at) {
    throw malformed(r, `an array of ${length} elements past the end`);
  }
  const array: unknown[] = [];
  r.objects.push(array);
  for (let i = 0; i < length; i++) {
    if (peekTag(r) === wire.T_HOLE) {
      consumeTag(r);
      array.length = i + 1;
      continue;
    }
    array[i] = readValue(r);
  }
  if (array.length < length) array.length = length;
  const count = readProperties(r, array as never, wire.T_DENSE_END);
  checkArrayEnd(r, count, length);
  return array;
}

function readArrayBuffer(r: Input, tag: number): ArrayBuffer {
  const id = reserveId(r);
  const byteLength = readVarint(r);
  let buffer: ArrayBuffer;
  if (tag === wire.T_RESIZABLE_ARRAY_BUFFER) {
    const maxByteLength = readVarint(r);
    if (maxByteLength < byteLength) {
      throw malformed(r, "a resizable buffer longer than its maximum");
    }
    buffer = new ArrayBuffer(byteLength, { maxByteLength });
  } else {
    buffer = new ArrayBuffer(byteLength);
  }
  new Uint8Array(buffer).set(readRaw(r, byteLength));
  // An ArrayBufferView tag after a buffer ('V') is V8's own view encoding.
  if (r.at < r.input.length && peekTag(r) === wire.T_ARRAY_BUFFER_VIEW) throw wire.UNSUPPORTED;
  return (r.objects[id] = buffer);
}

function readView(r: Input): ArrayBufferView {
  const id = reserveId(r);
  const index = readVarint(r);
  const byteLength = readVarint(r);
  const bytes = readRaw(r, byteLength);
  // A fresh buffer of exactly the view's bytes (node:v8 aliases its input).
  const buffer = new ArrayBuffer(byteLength);
  new Uint8Array(buffer).set(bytes);
  let view: ArrayBufferView;
  if (index === wire.BUFFER_INDEX) {
    view = Buffer.from(buffer, 0, byteLength);
  } else {
    const ctor = wire.VIEW_CTORS[index];
    if (ctor === undefined) throw wire.UNSUPPORTED; // an index node:v8 may know
    const size = (ctor as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    view = new ctor(buffer, 0, byteLength / size);
  }
  return (r.objects[id] = view);
}

function readError(r: Input): Error {
  const id = reserveId(r);
  let ctor: ErrorConstructor = Error;
  let message: string | undefined;
  let stack: string | undefined;
  let hasCause = false;
  let cause: unknown;
  for (;;) {
    const tag = readVarint(r);
    if (tag === wire.E_END) break;
    switch (tag) {
      case wire.E_EVAL:
        ctor = EvalError;
        break;
      case wire.E_RANGE:
        ctor = RangeError;
        break;
      case wire.E_REFERENCE:
        ctor = ReferenceError;
        break;
      case wire.E_SYNTAX:
        ctor = SyntaxError;
        break;
      case wire.E_TYPE:
        ctor = TypeError;
        break;
      case wire.E_URI:
        ctor = URIError;
        break;
      case wire.E_MESSAGE:
        message = readString(r);
        break;
      case wire.E_STACK:
        stack = readString(r);
        break;
      case wire.E_CAUSE:
        hasCause = true;
        cause = readValue(r);
        break;
      default: // a field node:v8 may know
        throw wire.UNSUPPORTED;
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
  return (r.objects[id] = error) as Error;
}
/** Checks the two counts that close an array: its extra properties and its length. */
function checkArrayEnd(r: Input, count: number, length: number): void {
  if (readVarint(r) !== count || readVarint(r) !== length) {
    throw malformed(r, "an array property count or length that does not match");
  }
}

function newRegExp(r: Input, source: string, flags: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch {
    throw malformed(r, `an invalid RegExp /${source}/${flags}`);
  }
}
