/**
 * From a registered class to what the runtime calls: its handler methods
 * (decorated, or Cloudflare's names), its storage name, and the checks that
 * turn a misused class into an error at the point of the mistake.
 */
import { DurableObject } from "./durable_object.ts";
import { decoratorName, type Definition, type HandlerKind } from "../decorators/metadata.ts";
import type { Connection } from "../sockets/connection.ts";
import type { AlarmInvocationInfo } from "../types.ts";
import type { PresenceDiff } from "../sockets/presence.ts";

/** Handler functions resolved once per class (decorated names or Cloudflare's). */
export interface ClassHandlers {
  message?: (this: object, ws: Connection, message: string | ArrayBuffer) => unknown;
  close?: (
    this: object,
    ws: Connection,
    code: number,
    reason: string,
    wasClean: boolean,
  ) => unknown;
  error?: (this: object, ws: Connection, error: unknown) => unknown;
  connect?: (this: object, ws: Connection, request: Request) => unknown;
  request?: (this: object, request: Request) => unknown;
  fetch?: (this: object, request: Request) => unknown;
  alarm?: (this: object, info: AlarmInvocationInfo) => unknown;
  start?: (this: object) => unknown;
  presence?: (this: object, diff: PresenceDiff) => unknown;
}

/** Cloudflare's method for the event a handler decorator stands for, and that event. */
const CLOUDFLARE: Partial<Record<HandlerKind, readonly [method: string, event: string]>> = {
  message: ["webSocketMessage", "messages"],
  close: ["webSocketClose", "socket closes"],
  error: ["webSocketError", "socket errors"],
  alarm: ["alarm", "alarms"],
  presence: ["webSocketPresence", "presence changes"],
};

/** Decorated handler keys (string names only: stubs have no symbol members) per resolved set. */
const decoratedKeys = new WeakMap<ClassHandlers, Map<string, HandlerKind>>();

/**
 * Resolves the handler methods of a class registered as `binding`: each
 * decorated method, else the method with Cloudflare's name.
 *
 * @throws {TypeError} If a decorated name is not a method, or a decorated
 * handler and a Cloudflare-named method would handle the same event.
 */
export function resolveHandlers(
  ctor: { readonly name: string; readonly prototype: unknown },
  binding: string,
  decorated: Definition["handlers"],
): ClassHandlers {
  const proto = ctor.prototype as Record<string | symbol, unknown>;
  const keys = new Map<string, HandlerKind>();
  for (const [kind, key] of Object.entries(decorated) as [HandlerKind, string | symbol][]) {
    const name = decoratorName(kind);
    if (typeof proto[key] !== "function") {
      throw new TypeError(
        `Cannot register "${binding}" as its ${name} target "${String(key)}" is not a method`,
      );
    }
    const cloudflare = CLOUDFLARE[kind];
    if (cloudflare && key !== cloudflare[0] && typeof proto[cloudflare[0]] === "function") {
      // The decorated handler would win and the other method would never run: say so.
      throw new TypeError(
        `Cannot register "${binding}" as class ${ctor.name} has both ${name} "${String(key)}" and ${
          cloudflare[0]
        }() for ${cloudflare[1]}: keep one (decorators or Cloudflare's method names)`,
      );
    }
    if (typeof key === "string") keys.set(key, kind);
  }
  // fetch() takes what the decorators leave: upgrades without @onConnect, plain HTTP without
  // @onRequest. With both decorated it would never run.
  const { connect, request } = decorated;
  if (
    connect !== undefined && request !== undefined && connect !== "fetch" && request !== "fetch" &&
    typeof proto.fetch === "function"
  ) {
    throw new TypeError(
      `Cannot register "${binding}" as class ${ctor.name} has @onConnect "${
        String(connect)
      }", @onRequest "${
        String(request)
      }" and fetch(), which would never run: keep the decorators or Cloudflare's fetch()`,
    );
  }
  const pick = (kind: HandlerKind | "fetch", fallback?: string) => {
    const key = kind === "fetch" ? fallback : decorated[kind] ?? fallback;
    if (key === undefined) return undefined;
    const fn = proto[key];
    return typeof fn === "function" ? fn : undefined;
  };
  const handlers = {
    message: pick("message", "webSocketMessage"),
    close: pick("close", "webSocketClose"),
    error: pick("error", "webSocketError"),
    connect: pick("connect"),
    request: pick("request"),
    fetch: pick("fetch", "fetch"),
    alarm: pick("alarm", "alarm"),
    start: pick("start"),
    presence: pick("presence", "webSocketPresence"),
  } as ClassHandlers;
  decoratedKeys.set(handlers, keys);
  return handlers;
}

/**
 * Why a stub refuses to call `key`, or `undefined` when it may: a decorated
 * handler expects what the runtime passes (a socket, a request), not RPC
 * arguments.
 */
export function notRpcMethod(
  handlers: ClassHandlers,
  binding: string,
  key: string,
): TypeError | undefined {
  const kind = decoratedKeys.get(handlers)?.get(key);
  if (kind === undefined) return undefined;
  return new TypeError(
    `Cannot call "${key}" through a stub: it is the ${
      decoratorName(kind)
    } handler of ${binding}, not an RPC method (move the shared code into a plain method and call that)`,
  );
}

/**
 * Checks an instance just built with `ctx`: a class that keeps `ctx` must
 * keep the one it was given, or every later `this.ctx` use fails far from
 * the mistake.
 *
 * @throws {TypeError} If a `DurableObject` subclass did not pass `ctx` to
 * `super()`, or `this.ctx` is still `undefined` after the constructor.
 */
export function checkInstance(instance: object, ctx: unknown, binding: string): void {
  const kept = (instance as { ctx?: unknown }).ctx;
  if (instance instanceof DurableObject && kept !== ctx) {
    throw new TypeError(
      `Cannot build ${binding} as class ${instance.constructor.name}'s constructor did not pass ctx to super(): write constructor(ctx, env) { super(ctx, env); ... }`,
    );
  }
  if ("ctx" in instance && kept === undefined) {
    throw new TypeError(
      `Cannot build ${binding} as this.ctx is undefined after class ${instance.constructor.name}'s constructor: assign it from the first constructor argument, constructor(ctx) { this.ctx = ctx; }`,
    );
  }
}
