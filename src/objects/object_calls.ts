import { wantsUpgrade } from "../wants_upgrade.ts";
import { ACCEPTED } from "../sockets/connection_internals.ts";
import { Connection } from "../sockets/connection.ts";
import type { AlarmInvocationInfo } from "../types.ts";
import { upgradeResponse } from "../sockets/web_socket_pair.ts";
import type { ClassHandlers } from "./class_definition.ts";
import type { BroadcastPayload } from "../sockets/broadcast.ts";
import type { EndpointBroadcastOptions } from "./object_directory.ts";
import type { ObjectSockets } from "./object_sockets.ts";

/** What the calls with a result need of the object; implemented by `ObjectHost`. */
export interface CallTarget {
  /** The class: its handlers, and its binding name for messages. */
  readonly runtime: { readonly handlers: ClassHandlers; readonly binding: string };
  /** The event queue: `run` runs a function on the instance in the event order, waking it. */
  readonly queue: {
    run<T>(operation: string, fn: (instance: object) => T | Promise<T>): Promise<Awaited<T>>;
  };
  /** `ctx.acceptWebSocket(ws, tags)`. */
  accept(ws: Connection, tags: unknown): void;
  /** The writes outgoing results wait for (the output gate), or `null` when none is pending. */
  readonly outputGate: Promise<unknown> | null;
}

/**
 * Cloudflare's output gate for results: an HTTP response or an RPC result
 * leaves the object only once the writes pending when the call returned are
 * durable. If one fails, the call fails with its error (the object was
 * reset), so nobody sees the effect of a write that may be lost.
 */
function afterWrites<T>(target: CallTarget, result: Promise<T>): Promise<T> {
  return result.then((value) => {
    const gate = target.outputGate;
    return gate === null ? value : gate.then(() => value);
  });
}

/**
 * An upgrade request as the object's handlers take it: `@onConnect`
 * (accepting with the tags it returns), else `fetch`, else an accept without
 * tags. Resolves to the accepted connection, or to the response to send instead.
 */
export function connectObject(
  target: CallTarget,
  request: Request,
): Promise<Connection | Response> {
  const handlers = target.runtime.handlers;
  if (handlers.connect) {
    const connect = handlers.connect;
    return target.queue.run("onConnect", async (instance) => {
      const ws = new Connection();
      const out = await connect.call(instance, ws, request);
      if (out instanceof Response) return out;
      const tags = (out as { tags?: unknown } | undefined)?.tags;
      if (!ws[ACCEPTED]) target.accept(ws, tags);
      else if (tags !== undefined) {
        throw new TypeError(
          "Cannot use the tags @onConnect returned as it accepted the socket itself: pass them to ctx.acceptWebSocket(ws, tags), or return { tags } without accepting",
        );
      }
      return ws;
    });
  }
  if (handlers.fetch) return respond(target, handlers.fetch, request);
  return target.queue.run("accept", () => {
    const ws = new Connection();
    target.accept(ws, undefined);
    return ws;
  });
}

/** Plain HTTP into the object: `@onRequest`, else `fetch`, else 501. */
export function fetchObject(target: CallTarget, request: Request): Promise<Response> {
  const handlers = target.runtime.handlers;
  // An upgrade forwarded by stub.fetch() reaches the same handlers as a routed one.
  if (wantsUpgrade(request) && (handlers.connect !== undefined || handlers.fetch === undefined)) {
    return connectObject(target, request).then((result) =>
      result instanceof Response ? result : upgradeResponse(result)
    );
  }
  const handler = handlers.request ?? handlers.fetch;
  if (handler === undefined) {
    return Promise.resolve(
      new Response(`${target.runtime.binding} has no fetch or @onRequest handler`, { status: 501 }),
    );
  }
  return afterWrites(target, respond(target, handler, request));
}

function respond(
  target: CallTarget,
  handler: (this: object, request: Request) => unknown,
  request: Request,
): Promise<Response> {
  return target.queue.run("fetch", async (instance) => {
    const response = await handler.call(instance, request);
    if (!(response instanceof Response)) {
      throw new TypeError(
        `Cannot answer the request as fetch() returned no Response: got ${typeof response}`,
      );
    }
    return response;
  });
}

/** JS RPC: calls `method` with a structured clone of `args`; the result is cloned too. */
export function callMethod(
  target: CallTarget,
  method: string,
  args: readonly unknown[],
): Promise<unknown> {
  let cloned: unknown[];
  try {
    cloned = structuredClone(args) as unknown[];
  } catch (error) {
    return Promise.reject(error);
  }
  return afterWrites(
    target,
    target.queue.run(method, async (instance) => {
      const fn = (instance as Record<string, unknown>)[method];
      if (typeof fn !== "function") {
        throw new TypeError(
          `Cannot call "${method}" on ${target.runtime.binding}: it is not a method of the object`,
        );
      }
      return structuredClone(await fn.apply(instance, cloned));
    }),
  );
}

/** Runs the alarm handler, if the class has one. */
export function deliverAlarm(target: CallTarget, info: AlarmInvocationInfo): Promise<void> {
  const alarm = target.runtime.handlers.alarm;
  if (!alarm) return Promise.resolve();
  return target.queue.run("alarm", (instance) => alarm.call(instance, info)).then(() => {});
}

/** What a broadcast from outside needs of the object: its sockets and its idle check. */
export interface BroadcastTarget {
  readonly sockets: Pick<ObjectSockets, "broadcast" | "live">;
  /** Arms the idle timer when nothing keeps the object in memory. */
  checkIdle(): void;
}

/**
 * A broadcast from outside (the namespace's `broadcast(id, …)`): not an
 * event, so it neither wakes the object nor waits in its event order; the
 * sockets' send paths order it after what the object already sent.
 *
 * @example An object without sockets arms its idle timer, so it is dropped again
 * ```ts
 * import { broadcastFromOutside } from "./object_calls.ts";
 * import assert from "node:assert/strict";
 *
 * let checks = 0;
 * const target = {
 *   sockets: { live: 0, broadcast: (_payload: string | ArrayBuffer, _tag?: string) => 0 },
 *   checkIdle: () => void checks++,
 * };
 * assert.equal(await broadcastFromOutside(target, "notice"), 0);
 * assert.equal(checks, 1);
 * ```
 */
export function broadcastFromOutside(
  target: BroadcastTarget,
  payload: BroadcastPayload,
  options?: EndpointBroadcastOptions,
): Promise<number> {
  try {
    const sent = target.sockets.broadcast(payload, options?.tag);
    // Located only for this (no socket, no event): the idle timer drops it again.
    if (target.sockets.live === 0) target.checkIdle();
    return Promise.resolve(sent);
  } catch (error) {
    return Promise.reject(error);
  }
}
