/**
 * The only place that reads and writes decorator metadata. TC39 decorators
 * write into `context.metadata` (exposed as `Class[Symbol.metadata]`, whose
 * prototype chain follows the class chain). Legacy `experimentalDecorators`
 * have no metadata object, so they go to a module-private WeakMap keyed by
 * constructor, and reads walk the prototype chain.
 */

import type { PresenceOptions } from "../sockets/presence.ts";

/** Handler kinds a method can be marked with. */
export type HandlerKind =
  | "message"
  | "close"
  | "error"
  | "connect"
  | "request"
  | "alarm"
  | "start"
  | "presence";

/** Options of `@durableObject`. */
export interface DurableObjectOptions {
  /** Stable storage name (KV keys and ids use it): 1–64 characters of `[A-Za-z0-9_-]`. */
  readonly name?: string;
  /** Idle time before the instance is dropped, in milliseconds. */
  readonly hibernateAfterMs?: number;
  /** When `false`, the instance is never dropped while it holds sockets. */
  readonly hibernate?: boolean;
  /**
   * When `false`, messages go out at once even while a storage write is
   * pending (lower latency; a client may then see the effect of a write that
   * a crash loses).
   */
  readonly outputGate?: boolean;
  /**
   * Presence for the object's sockets: a field of the attachment (`"user"`),
   * or `{ from, message }` (see {@linkcode PresenceOptions}). Classes
   * without decorators set a static `presence` member instead.
   */
  readonly presence?: string | PresenceOptions;
  /**
   * Resumable sessions for every route to this class (a route may say
   * otherwise); Cloudflare-style classes say `static resumable = true`.
   */
  readonly resumable?: boolean;
}

interface Record {
  options?: DurableObjectOptions;
  /** The handlers this class itself marks; a parent's stay in the parent's record. */
  handlers: Partial<{ [K in HandlerKind]: string | symbol }>;
}

const KEY: unique symbol = Symbol("dormant.definition");
const legacy = new WeakMap<object, Record>();

type Metadata = { [KEY]?: Record };

function own(metadata: Metadata): Record {
  // Own record per class (a subclass's metadata object inherits from its parent's):
  // readDefinition merges the records along the class chain.
  if (!Object.hasOwn(metadata, KEY)) metadata[KEY] = { options: undefined, handlers: {} };
  return metadata[KEY]!;
}

/** The decorator's name as exported: `@onMessage` for "message". */
export function decoratorName(kind: HandlerKind): string {
  return `@on${kind[0]!.toUpperCase()}${kind.slice(1)}`;
}

function mark(record: Record, kind: HandlerKind, key: string | symbol): void {
  const previous = record.handlers[kind];
  if (previous !== undefined && previous !== key) {
    const name = decoratorName(kind);
    throw new TypeError(
      `Cannot mark both "${String(previous)}" and "${
        String(key)
      }" with ${name}: a class has one ${name} handler; remove one of the decorators (a subclass may replace its parent's)`,
    );
  }
  record.handlers[kind] = key;
}

function legacyRecord(ctor: object): Record {
  let record = legacy.get(ctor);
  if (!record) legacy.set(ctor, record = { handlers: {} });
  return record;
}

/** Whether the second decorator argument is a TC39 decorator context. */
export function isTc39Context(value: unknown): value is DecoratorContext {
  return typeof value === "object" && value !== null && "kind" in value;
}

/** Records a handler method (TC39 form). */
export function recordHandler(kind: HandlerKind, context: ClassMethodDecoratorContext): void {
  if (context.static) {
    throw new TypeError(
      `Cannot use ${decoratorName(kind)} on a static method: "${String(context.name)}"`,
    );
  }
  mark(own(context.metadata as Metadata), kind, context.name);
}

/** Records a handler method (legacy form: the prototype and the property key). */
export function recordLegacyHandler(
  kind: HandlerKind,
  prototype: object,
  key: string | symbol,
): void {
  if (typeof prototype === "function") {
    throw new TypeError(`Cannot use ${decoratorName(kind)} on a static method: "${String(key)}"`);
  }
  mark(legacyRecord(prototype.constructor), kind, key);
}

/** Records class options (TC39 form). */
export function recordOptions(
  metadata: DecoratorMetadataObject,
  options: DurableObjectOptions,
): void {
  own(metadata as Metadata).options = options;
}

/** Records class options (legacy form). */
export function recordLegacyOptions(ctor: object, options: DurableObjectOptions): void {
  legacyRecord(ctor).options = options;
}

/** What the decorators recorded for a class, merged over its superclasses. */
export interface Definition {
  /** Options of the nearest `@durableObject`, if any. */
  options: DurableObjectOptions | undefined;
  /** Decorated handler method names. */
  handlers: Partial<{ [K in HandlerKind]: string | symbol }>;
}

/** Whether `ctor` itself (not a parent) carries `@durableObject`, in either dialect. */
export function hasOwnOptions(ctor: object): boolean {
  const meta = Object.hasOwn(ctor, Symbol.metadata)
    ? (ctor as { [Symbol.metadata]?: Metadata })[Symbol.metadata]
    : undefined;
  const tc39 = meta && Object.hasOwn(meta, KEY) ? meta[KEY] : undefined;
  return tc39?.options !== undefined || legacy.get(ctor)?.options !== undefined;
}

/** Reads the merged definition of a class (both dialects, whole prototype chain). */
export function readDefinition(ctor: abstract new (...args: never[]) => unknown): Definition {
  const chain: object[] = [];
  for (let c: object | null = ctor; c && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    chain.unshift(c);
  }
  const out: Definition = { options: undefined, handlers: {} };
  for (const c of chain) {
    const meta = Object.hasOwn(c, Symbol.metadata)
      ? (c as { [Symbol.metadata]?: Metadata })[Symbol.metadata]
      : undefined;
    const tc39 = meta && Object.hasOwn(meta, KEY) ? meta[KEY] : undefined;
    for (const record of [tc39, legacy.get(c)]) {
      if (!record) continue;
      Object.assign(out.handlers, record.handlers);
      if (record.options) out.options = record.options;
    }
  }
  return out;
}
