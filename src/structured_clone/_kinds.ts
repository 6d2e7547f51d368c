// What the encoder is about to write, by prototype: a first guess that the
// writer confirms with the brand checks of `node:util/types`.

import { Buffer } from "node:buffer";
import {
  DATA_VIEW_INDEX,
  E_EVAL,
  E_RANGE,
  E_REFERENCE,
  E_SYNTAX,
  E_TYPE,
  E_URI,
  VIEW_CTORS,
} from "./_wire.ts";

export const Kind = {
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
export type Kind = typeof Kind[keyof typeof Kind];

export const PROTO_KIND = new Map<object, Kind>([
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
export const TYPED_ARRAY_INDEX = new Map<string, number>();
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
export const ERROR_NAME_TAG = new Map([
  ["EvalError", E_EVAL],
  ["RangeError", E_RANGE],
  ["ReferenceError", E_REFERENCE],
  ["SyntaxError", E_SYNTAX],
  ["TypeError", E_TYPE],
  ["URIError", E_URI],
]);
