/**
 * What user code the gateway calls looks like: the hooks run before an object
 * wakes, the route target they get, and a Cloudflare worker with its
 * `ExecutionContext`.
 *
 * @module
 */

import type { ObjectId } from "../objects/object_id.ts";

/** The object a request was routed to, as hooks see it. */
export interface RouteTarget {
  /** The binding name (`ROOM`). */
  readonly namespace: string;
  /** The object's id. */
  readonly id: ObjectId;
  /** The object name from the URL, when the route names objects. */
  readonly name: string | null;
  /** The pattern's groups. */
  readonly params: Readonly<Record<string, string | undefined>>;
}

/** A hook run before any object wakes; a `Response` answers the request instead. */
export type BeforeHook = (
  request: Request,
  target: RouteTarget,
) => Response | void | undefined | Promise<Response | void | undefined>;

/**
 * Cloudflare's `ExecutionContext`: the third argument of a worker's `fetch`.
 *
 * @example Keep work running after the response
 * ```ts
 * import type { ExecutionContext } from "@dormant/dormant";
 *
 * function handle(request: Request, ctx: ExecutionContext): Response {
 *   ctx.waitUntil(Promise.resolve(request.url)); // a rejection goes to onException
 *   return new Response("ok");
 * }
 * ```
 */
export interface ExecutionContext {
  /** Keeps `promise` running after the response; a rejection goes to `onException`, shutdown waits for it. */
  waitUntil(promise: Promise<unknown>): void;
  /** Accepted for Cloudflare code; a no-op: there is no origin to fall back to, exceptions answer 500. */
  passThroughOnException(): void;
}

/**
 * A Cloudflare worker: the `export default { fetch(request, env, ctx) }` of a
 * Cloudflare project, passed as `new App({ worker })`. It gets every request
 * no route matches; `env` is `app.env`.
 *
 * @example Forward upgrades to an object
 * ```ts
 * import type { DurableObjectNamespace, ExportedHandler } from "@dormant/dormant";
 *
 * interface Env {
 *   ROOMS: DurableObjectNamespace;
 * }
 * const worker: ExportedHandler<Env> = {
 *   fetch(request, env) {
 *     const room = new URL(request.url).searchParams.get("room") ?? "lobby";
 *     return env.ROOMS.getByName(room).fetch(request);
 *   },
 * };
 * ```
 */
export interface ExportedHandler<Env = unknown> {
  /** Answers a request; return what `stub.fetch(request)` gave you to upgrade it. */
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response>;
}

/** Answers a request no route matches, as `new App({ fallback })` does. */
export type Fallback = (
  request: Request,
  info?: Deno.ServeHandlerInfo,
) => Response | Promise<Response>;
