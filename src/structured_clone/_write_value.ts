// The value half of the encoder: walks a value in V8's order and writes each
// type it supports; anything else throws UNSUPPORTED (the whole value then
// goes to `node:v8`) or, for refused platform objects, a DataCloneError.

import { Buffer } from "node:buffer";
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
import {
  abByteLength,
  abDetached,
  abMaxByteLength,
  abResizable,
  bigintValueOf,
  booleanValueOf,
  dataViewBuffer,
  dataViewByteLength,
  dataViewByteOffset,
  dateGetTime,
  getOwnPropertyDescriptor,
  getPrototypeOf,
  hasOwn,
  isArray,
  isExtensible,
  mapForEach,
  numberValueOf,
  objectKeys,
  ObjectPrototype,
  regexpFlags,
  regexpSource,
  setForEach,
  stringValueOf,
  typedArrayTag,
  viewBuffer,
  viewByteLength,
  viewByteOffset,
} from "./_intrinsics.ts";
import { ERROR_NAME_TAG, Kind, PROTO_KIND, TYPED_ARRAY_INDEX } from "./_kinds.ts";
import { dataCloneError, notCloneableType } from "./not_cloneable.ts";
import {
  BUFFER_INDEX,
  DATA_VIEW_INDEX,
  E_CAUSE,
  E_END,
  E_MESSAGE,
  E_STACK,
  REGEXP_FLAG_BITS,
  T_ARRAY_BUFFER,
  T_BIGINT,
  T_BIGINT_OBJECT,
  T_DATE,
  T_DENSE,
  T_DENSE_END,
  T_ERROR,
  T_FALSE,
  T_FALSE_OBJECT,
  T_HOST_OBJECT,
  T_MAP,
  T_MAP_END,
  T_NULL,
  T_NUMBER_OBJECT,
  T_OBJECT,
  T_OBJECT_END,
  T_REF,
  T_REGEXP,
  T_RESIZABLE_ARRAY_BUFFER,
  T_SET,
  T_SET_END,
  T_SPARSE,
  T_SPARSE_END,
  T_STRING_OBJECT,
  T_TRUE,
  T_TRUE_OBJECT,
  T_UNDEFINED,
  UNSUPPORTED,
} from "./_wire.ts";
import {
  type Output,
  writeBigIntContents,
  writeDouble,
  writeKey,
  writeNumber,
  writeRawBytes,
  writeString,
  writeTag,
  writeVarint,
} from "./_writer.ts";

/** Values nested deeper than this are handed to `node:v8`. */
export const MAX_DEPTH = 1000;

export function writeValue(w: Output, value: unknown, depth: number): void {
  switch (typeof value) {
    case "string":
      writeString(w, value);
      return;
    case "number":
      writeNumber(w, value);
      return;
    case "boolean":
      writeTag(w, value ? T_TRUE : T_FALSE);
      return;
    case "undefined":
      writeTag(w, T_UNDEFINED);
      return;
    case "bigint":
      writeTag(w, T_BIGINT);
      writeBigIntContents(w, value);
      return;
    case "object":
      if (value === null) writeTag(w, T_NULL);
      else writeReceiver(w, value, depth);
      return;
    default: // function, symbol: node:v8 throws its own error
      throw UNSUPPORTED;
  }
}

function writeReceiver(w: Output, object: object, depth: number): void {
  const id = w.ids.get(object);
  if (id !== undefined) {
    writeTag(w, T_REF);
    writeVarint(w, id);
    return;
  }
  if (depth >= MAX_DEPTH || isProxy(object)) throw UNSUPPORTED;
  w.ids.set(object, w.ids.size);
  if (isArray(object)) {
    writeArray(w, object, depth + 1);
    return;
  }
  const proto = getPrototypeOf(object);
  if (proto === ObjectPrototype || (proto === null && !isModuleNamespaceObject(object))) {
    writeObject(w, object as Record<string, unknown>, depth + 1);
    return;
  }
  switch (PROTO_KIND.get(proto)) {
    case Kind.Date:
      if (!isDate(object)) break;
      writeTag(w, T_DATE);
      writeDouble(w, dateGetTime(object));
      return;
    case Kind.RegExp:
      if (!isRegExp(object)) break;
      writeRegExp(w, object);
      return;
    case Kind.Map:
      if (!isMap(object)) break;
      writeMap(w, object, depth + 1);
      return;
    case Kind.Set:
      if (!isSet(object)) break;
      writeSet(w, object, depth + 1);
      return;
    case Kind.ArrayBuffer:
      if (!isArrayBuffer(object) || abDetached(object)) break;
      writeArrayBuffer(w, object);
      return;
    case Kind.TypedArray: {
      const index = TYPED_ARRAY_INDEX.get(typedArrayTag(object)!);
      if (index === undefined || hasOwn(object, "constructor")) break;
      const buffer = viewBuffer(object);
      if (isArrayBuffer(buffer) && abDetached(buffer)) break; // node:v8 throws
      writeView(w, index, buffer, viewByteOffset(object), viewByteLength(object));
      return;
    }
    case Kind.DataView: {
      if (!isDataView(object) || hasOwn(object, "constructor")) break;
      const buffer = dataViewBuffer(object);
      // Its byteLength getter throws once the buffer is detached or shrunk.
      if (isArrayBuffer(buffer) && (abDetached(buffer) || abResizable(buffer))) break;
      writeView(w, DATA_VIEW_INDEX, buffer, dataViewByteOffset(object), dataViewByteLength(object));
      return;
    }
    case Kind.Buffer:
      // Deno's node:v8 tests `constructor === Buffer` for index 10.
      if (typedArrayTag(object) !== "Uint8Array" || (object as Buffer).constructor !== Buffer) {
        break;
      }
      writeView(
        w,
        BUFFER_INDEX,
        viewBuffer(object),
        viewByteOffset(object),
        viewByteLength(object),
      );
      return;
    case Kind.Error:
      if (!isNativeError(object)) break;
      writeError(w, object as Error, depth + 1);
      return;
    case Kind.Boolean:
      if (!isBooleanObject(object)) break;
      writeTag(w, booleanValueOf(object) ? T_TRUE_OBJECT : T_FALSE_OBJECT);
      return;
    case Kind.Number:
      if (!isNumberObject(object)) break;
      writeTag(w, T_NUMBER_OBJECT);
      writeDouble(w, numberValueOf(object));
      return;
    case Kind.String:
      if (!isStringObject(object)) break;
      writeTag(w, T_STRING_OBJECT);
      writeString(w, stringValueOf(object));
      return;
    case Kind.BigInt:
      if (!isBigIntObject(object)) break;
      writeTag(w, T_BIGINT_OBJECT);
      writeBigIntContents(w, bigintValueOf(object));
      return;
  }
  // V8 goes by instance type: an instance of an Error subclass is an error.
  if (isNativeError(object)) {
    writeError(w, object as Error, depth + 1);
    return;
  }
  const type = notCloneableType(object);
  if (type !== undefined) throw dataCloneError(type);
  // Class instances, exotic objects and anything not verified above.
  throw UNSUPPORTED;
}

function writeObject(w: Output, object: Record<string, unknown>, depth: number): void {
  const keys = objectKeys(object);
  writeTag(w, T_OBJECT);
  const written = writeProperties(w, object, keys, 0, depth);
  writeTag(w, T_OBJECT_END);
  writeVarint(w, written);
}

/** Writes `keys[from..]` as V8 does: a getter may delete a later key, which is then skipped. */
function writeProperties(
  w: Output,
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
    writeKey(w, key);
    writeValue(w, value, depth);
    written++;
  }
  return written;
}

function writeArray(w: Output, array: unknown[], depth: number): void {
  const length = array.length;
  const keys = objectKeys(array);
  // Index keys come first, ascending: all of 0..length-1 are present (and
  // enumerable) exactly when the last of them is at position length-1.
  // Non-extensible (frozen, sealed) arrays have slow elements in V8: sparse.
  const dense = isExtensible(array) &&
    (length === 0 || (keys.length >= length && keys[length - 1] === String(length - 1)));
  if (dense) {
    writeTag(w, T_DENSE);
    writeVarint(w, length);
    for (let i = 0; i < length; i++) writeValue(w, array[i], depth);
    const written = writeProperties(w, array as never, keys, length, depth);
    writeTag(w, T_DENSE_END);
    writeVarint(w, written);
    writeVarint(w, length);
  } else {
    writeTag(w, T_SPARSE);
    writeVarint(w, length);
    const written = writeProperties(w, array as never, keys, 0, depth);
    writeTag(w, T_SPARSE_END);
    writeVarint(w, written);
    writeVarint(w, length);
  }
}

function writeMap(w: Output, map: Map<unknown, unknown>, depth: number): void {
  const entries: unknown[] = [];
  mapForEach(map, (value, key) => {
    entries.push(key, value);
  });
  writeTag(w, T_MAP);
  for (let i = 0; i < entries.length; i++) writeValue(w, entries[i], depth);
  writeTag(w, T_MAP_END);
  writeVarint(w, entries.length);
}

function writeSet(w: Output, set: Set<unknown>, depth: number): void {
  const entries: unknown[] = [];
  setForEach(set, (value) => {
    entries.push(value);
  });
  writeTag(w, T_SET);
  for (let i = 0; i < entries.length; i++) writeValue(w, entries[i], depth);
  writeTag(w, T_SET_END);
  writeVarint(w, entries.length);
}

function writeRegExp(w: Output, regexp: RegExp): void {
  let bits = 0;
  for (const flag of regexpFlags(regexp)) {
    const bit = REGEXP_FLAG_BITS.get(flag);
    if (bit === undefined) throw UNSUPPORTED; // 'l' (linear) and future flags
    bits |= bit;
  }
  writeTag(w, T_REGEXP);
  writeString(w, regexpSource(regexp));
  writeVarint(w, bits);
}

function writeArrayBuffer(w: Output, buffer: ArrayBuffer): void {
  const byteLength = abByteLength(buffer);
  if (abResizable(buffer)) {
    writeTag(w, T_RESIZABLE_ARRAY_BUFFER);
    writeVarint(w, byteLength);
    writeVarint(w, abMaxByteLength(buffer));
  } else {
    writeTag(w, T_ARRAY_BUFFER);
    writeVarint(w, byteLength);
  }
  writeRawBytes(w, new Uint8Array(buffer, 0, byteLength));
}

function writeView(
  w: Output,
  index: number,
  buffer: ArrayBufferLike,
  offset: number,
  length: number,
): void {
  writeTag(w, T_HOST_OBJECT);
  writeVarint(w, index);
  writeVarint(w, length);
  writeRawBytes(w, new Uint8Array(buffer, offset, length));
}

function writeError(w: Output, error: Error, depth: number): void {
  // V8: own data `message`, then `name` and `stack` through [[Get]], own data `cause`.
  const message = getOwnPropertyDescriptor(error, "message");
  const cause = getOwnPropertyDescriptor(error, "cause");
  const name = primitiveToString(error.name);
  writeTag(w, T_ERROR);
  const prototypeTag = ERROR_NAME_TAG.get(name);
  if (prototypeTag !== undefined) writeVarint(w, prototypeTag);
  if (message !== undefined && "value" in message) {
    writeVarint(w, E_MESSAGE);
    writeString(w, primitiveToString(message.value));
  }
  const stack = error.stack;
  if (typeof stack === "string") {
    writeVarint(w, E_STACK);
    writeString(w, stack);
  }
  if (cause !== undefined && "value" in cause) {
    writeVarint(w, E_CAUSE);
    writeValue(w, cause.value, depth);
  }
  writeVarint(w, E_END);
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
