/**
 * Objects structured clone refuses although V8 would write them as plain
 * objects: Deno's web classes (`Request`, `Headers`, `URL`, streams, event
 * targets, …) and the classes given to {@linkcode markNotCloneable}. Their
 * state is private, so V8 writes them as `{}`; here they are a
 * `DataCloneError` naming the type, as in workerd.
 *
 * @module
 */

import { isArrayBuffer, isMap, isNativeError, isProxy, isSet } from "node:util/types";
import {
  getOwnPropertyDescriptor,
  getPrototypeOf,
  isArray,
  mapForEach,
  objectKeys,
  ObjectPrototype,
  setForEach,
} from "./_intrinsics.ts";

// Deno's web classes are plain JS classes with private state. Deno's
// `structuredClone` refuses most of them; workerd refuses every type it
// cannot serialize. The codec refuses them all, by prototype.
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
      return; // a global whose getter throws without a permission or a flag: nothing to refuse
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
 * Makes the codec refuse instances of a class (and of its subclasses) with a
 * `DataCloneError` naming `typeName`, as structured clone refuses platform
 * objects. For classes whose state is private: V8 would write them as `{}`.
 *
 * @param prototype The class's prototype.
 * @param typeName The name the error gives.
 */
export function markNotCloneable(prototype: object, typeName: string): void {
  notCloneable.set(prototype, typeName);
  fixedNames.add(prototype);
}

/** The type name of an object structured clone refuses, or `undefined`. */
export function notCloneableType(object: object): string | undefined {
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

/** The `DataCloneError` for an object of a refused type, with what to store instead. */
export function dataCloneError(type: string): DOMException {
  const instead = STORE_INSTEAD[type];
  return new DOMException(
    `Could not serialize object of type "${type}". This type does not support serialization: ` +
      `store ${instead ?? "plain data (its fields)"} instead`,
    "DataCloneError",
  );
}

/**
 * Throws a `DataCloneError` for a refused object anywhere in a value that
 * `node:v8` is about to write (it would write it as an object). Reads data
 * properties only, so no getter runs twice; skips proxies, which `node:v8`
 * refuses itself.
 *
 * @param root The value about to be serialized.
 */
export function assertCloneable(root: unknown): void {
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
