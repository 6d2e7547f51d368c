/**
 * The options of `new App()` and `app.serve()`, and their validation: every
 * limit is checked once, at construction, and resolved to its default.
 *
 * @module
 */

import type { SessionOptions } from "./sessions/session_options.ts";
import type { BeforeHook, ExportedHandler } from "./http/hooks.ts";
import type { RouteInit } from "./http/router.ts";
import { denoUpgrade, type Upgrader } from "./http/upgrade.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { DurableObjectState } from "./objects/object_state.ts";
import { DEFAULT_MAX_ATTACHMENT_BYTES } from "./sockets/attachment.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "./sockets/connection.ts";
import type { ExceptionHandler } from "./types.ts";
import type { ClusterOptions } from "./cluster/cluster_options.ts";

/**
 * A durable object class: constructed with `(ctx, env)`. A class without
 * decorators may set its storage name as `static storageName = "room"`.
 */
// deno-lint-ignore no-explicit-any
export type ObjectClass = (new (ctx: DurableObjectState, env: any) => object) & {
  /** The stable storage name, as `@durableObject({ name })` sets it. */
  readonly storageName?: string;
};

/** Options of {@linkcode App}. */
export interface AppOptions<
  O extends Record<string, ObjectClass>,
  E extends object = Record<never, never>,
> {
  /** Object classes by binding name; `env[binding]` becomes their namespace. */
  readonly objects: O;
  /** Values passed to every object as `env` (namespaces are added). */
  readonly env?: E;
  /** URL routes to objects. */
  readonly routes?: readonly RouteInit[];
  /**
   * A Cloudflare worker (`export default { fetch }`) for requests no route
   * matches: `stub.fetch(request)` returning `webSocketResponse(client)`
   * upgrades the original request. Excludes `fallback`.
   */
  // deno-lint-ignore no-explicit-any
  readonly worker?: ExportedHandler<any>;
  /** Answers requests no route matches. @default 404 */
  readonly fallback?: (
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ) => Response | Promise<Response>;
  /** Runs before a WebSocket upgrade, before any object wakes (auth, origin). */
  readonly onBeforeConnect?: BeforeHook;
  /** Runs before plain HTTP reaches an object. */
  readonly onBeforeRequest?: BeforeHook;
  /** Receives handler exceptions, event timeouts and KV failures. @default one JSON log line */
  readonly onException?: ExceptionHandler;
  /** A Deno KV handle to use (not closed by the app), e.g. `await Deno.openKv(":memory:")`. */
  readonly kv?: Deno.Kv;
  /**
   * A Deno KV path to open once per process. Without `kv` and `kvPath`:
   * `Deno.openKv()` when `DENO_DEPLOY=1` (Deno Deploy's database), else `":memory:"`.
   */
  readonly kvPath?: string;
  /** Time source for every timer. @default the system clock */
  readonly clock?: Clock;
  /** The upgrade function. @default Deno.upgradeWebSocket */
  readonly upgrade?: Upgrader;
  /** Idle time before an object hibernates (per class: `@durableObject({ hibernateAfterMs })`). @default 10000 */
  readonly hibernateAfterMs?: number;
  /** Received messages above this are refused (close 1009 + `webSocketError`). @default 33554432 */
  readonly maxMessageBytes?: number;
  /** Attachment limit in serialized bytes. @default 16384 */
  readonly maxAttachmentBytes?: number;
  /** Sockets per object. @default 32768 */
  readonly maxSocketsPerObject?: number;
  /** Queued outgoing bytes per socket before backpressure applies. @default 16777216 */
  readonly maxBufferedBytes?: number;
  /** Over `maxBufferedBytes`: close the socket with 1013, or drop the message. @default "close" */
  readonly backpressure?: "close" | "drop";
  /**
   * Open sockets per process before upgrades get 503. @default with `serve()`: 90 % of the
   * soft open-file limit (less at small limits, keeping the runtime's own descriptors plus 16
   * free), else 10,000 where the limit cannot be read; unlimited with a bare `app.fetch`
   */
  readonly maxConnections?: number;
  /** Open sockets per client IP (read before the upgrade). @default unlimited */
  readonly maxConnectionsPerIp?: number;
  /** Browser origins allowed to open WebSockets (requests without `Origin` pass). @default any */
  readonly allowedOrigins?: readonly string[];
  /** Seconds without traffic before Deno pings, then drops a silent peer (`idleTimeout`). @default 30 */
  readonly idleTimeout?: number;
  /**
   * Write-behind window for object settings and for deleting records of closed sockets
   * (socket records themselves are written when their object hibernates). @default 250
   */
  readonly flushDelayMs?: number;
  /**
   * Served by a server the app did not start (`deno serve`, `Deno.serve(app.fetch)`): from the
   * first request on, SIGINT/SIGTERM shut the app down gracefully, then exit the process with 0.
   * `false` leaves signals to you (call `app.shutdown()`). `app.serve()` has its own option.
   * @default true
   */
  readonly handleSignals?: boolean;
  /** Ownership, fencing and the transport between the nodes sharing this KV database. */
  readonly cluster?: ClusterOptions;
  /** Replay-log bounds and resume window of resumable sessions (docs/sessions.md). */
  readonly sessions?: SessionOptions;
}

export type { SessionOptions };

/** {@linkcode AppOptions} checked, with every default applied. */
export interface Settings {
  readonly clock: Clock;
  readonly upgrade: Upgrader;
  /** Infinity unless given: `serve()` then applies the open-file cap. */
  readonly maxConnections: number;
  readonly maxMessageBytes: number;
  readonly maxAttachmentBytes: number;
  readonly maxBufferedBytes: number;
  readonly backpressure: "close" | "drop";
  readonly maxSocketsPerObject: number;
  /** The app-wide idle time; a class may set its own. */
  readonly hibernateAfterMs: number;
}

/**
 * Checks `options` and applies the defaults.
 *
 * @throws {TypeError} If `objects` is missing, or `worker` is invalid or comes with `fallback`.
 * @throws {RangeError} If a limit is out of range.
 */
export function resolveOptions<O extends Record<string, ObjectClass>, E extends object>(
  options: AppOptions<O, E>,
): Settings {
  if (typeof options !== "object" || options === null || typeof options.objects !== "object") {
    throw new TypeError(
      "Cannot create App as options.objects is missing: pass { objects: { NAME: Class } }",
    );
  }
  const worker = options.worker;
  if (worker !== undefined) {
    if (typeof worker !== "object" || worker === null || typeof worker.fetch !== "function") {
      throw new TypeError(
        "Cannot create App as worker has no fetch method: pass a Cloudflare worker, { fetch(request, env, ctx) }",
      );
    }
    if (options.fallback !== undefined) {
      throw new TypeError(
        "Cannot create App with both worker and fallback: requests no route matches go to one of them; answer them in worker.fetch",
      );
    }
  }
  const maxSocketsPerObject = positive(
    "maxSocketsPerObject",
    options.maxSocketsPerObject,
    32_768,
  );
  if (maxSocketsPerObject > 32_768) {
    throw new RangeError(
      `Cannot create App as maxSocketsPerObject exceeds 32768 (the most one object holds): current value is ${maxSocketsPerObject}`,
    );
  }
  const maxConnections = positive("maxConnections", options.maxConnections, Infinity);
  const maxAttachmentBytes = positive(
    "maxAttachmentBytes",
    options.maxAttachmentBytes,
    DEFAULT_MAX_ATTACHMENT_BYTES,
  );
  if (maxAttachmentBytes > 60_000) {
    throw new RangeError(
      `Cannot create App as maxAttachmentBytes exceeds 60000 (one Deno KV value): current value is ${maxAttachmentBytes}`,
    );
  }
  return {
    clock: options.clock ?? systemClock,
    upgrade: options.upgrade ?? denoUpgrade,
    maxConnections,
    maxMessageBytes: positive(
      "maxMessageBytes",
      options.maxMessageBytes,
      DEFAULT_MAX_MESSAGE_BYTES,
    ),
    maxAttachmentBytes,
    maxBufferedBytes: positive("maxBufferedBytes", options.maxBufferedBytes, 16 * 1024 * 1024),
    backpressure: options.backpressure ?? "close",
    maxSocketsPerObject,
    hibernateAfterMs: positive("hibernateAfterMs", options.hibernateAfterMs, 10_000, true),
  };
}

/**
 * `value`, or `fallback` when it is undefined.
 *
 * @throws {RangeError} If `value` is not a positive number (or zero, with `allowZero`).
 */
export function positive(
  name: string,
  value: number | undefined,
  fallback: number,
  allowZero = false,
): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== "number" || Number.isNaN(value) || value < 0 || (!allowZero && value === 0)
  ) {
    throw new RangeError(
      `Cannot create App as ${name} must be a positive number: current value is ${value}`,
    );
  }
  return value;
}
