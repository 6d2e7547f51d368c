// Built-ins captured at load, so that user patches of prototypes change
// nothing the codec reads or writes; getters are called on the value itself.

export const ObjectPrototype: object = Object.prototype;
export const getPrototypeOf = Object.getPrototypeOf;
export const objectKeys = Object.keys;
export const hasOwn = Object.hasOwn;
export const isArray = Array.isArray;
export const isExtensible = Object.isExtensible;
export const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
export const defineProperty = Object.defineProperty;

const call = Function.prototype.call;
const uncurry = <A extends unknown[], R>(fn: (...args: A) => R) =>
  call.bind(fn) as unknown as (self: unknown, ...args: A) => R;
const getter = (proto: object, key: PropertyKey) =>
  uncurry(getOwnPropertyDescriptor(proto, key)!.get! as () => unknown);

export const dateGetTime = uncurry(Date.prototype.getTime);
export const regexpSource = getter(RegExp.prototype, "source") as (re: unknown) => string;
export const regexpFlags = getter(RegExp.prototype, "flags") as (re: unknown) => string;
export const mapForEach = uncurry(
  Map.prototype.forEach as (cb: (v: unknown, k: unknown) => void) => void,
);
export const setForEach = uncurry(Set.prototype.forEach as (cb: (v: unknown) => void) => void);
export const mapSet = uncurry(
  Map.prototype.set as (k: unknown, v: unknown) => Map<unknown, unknown>,
);
export const setAdd = uncurry(Set.prototype.add as (v: unknown) => Set<unknown>);
export const booleanValueOf = uncurry(Boolean.prototype.valueOf);
export const numberValueOf = uncurry(Number.prototype.valueOf);
export const stringValueOf = uncurry(String.prototype.valueOf);
export const bigintValueOf = uncurry(BigInt.prototype.valueOf);
const TypedArrayPrototype = getPrototypeOf(Uint8Array.prototype) as object;
export const typedArrayTag = getter(TypedArrayPrototype, Symbol.toStringTag) as (
  v: unknown,
) => string | undefined;
export const viewBuffer = getter(TypedArrayPrototype, "buffer") as (v: unknown) => ArrayBufferLike;
export const viewByteOffset = getter(TypedArrayPrototype, "byteOffset") as (v: unknown) => number;
export const viewByteLength = getter(TypedArrayPrototype, "byteLength") as (v: unknown) => number;
export const dataViewBuffer = getter(DataView.prototype, "buffer") as (
  v: unknown,
) => ArrayBufferLike;
export const dataViewByteOffset = getter(DataView.prototype, "byteOffset") as (
  v: unknown,
) => number;
export const dataViewByteLength = getter(DataView.prototype, "byteLength") as (
  v: unknown,
) => number;
export const abByteLength = getter(ArrayBuffer.prototype, "byteLength") as (v: unknown) => number;
export const abMaxByteLength = getter(ArrayBuffer.prototype, "maxByteLength") as (
  v: unknown,
) => number;
export const abResizable = getter(ArrayBuffer.prototype, "resizable") as (v: unknown) => boolean;
export const abDetached = getter(ArrayBuffer.prototype, "detached") as (v: unknown) => boolean;
