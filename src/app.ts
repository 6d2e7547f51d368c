import { readDefinition } from "./decorators/_metadata.ts";
import { resolveHandlers } from "./objects/class_definition.ts";
import { declaredStorageName, warnUnnamed } from "./decorators/storage_name.ts";
import { KvError, ObjectFullError } from "./errors.ts";
import { HibernationStore, LEASE_BEAT_MS } from "./kv/hibernation_store.ts";
import { defaultKvPath, type KvLease, openKv } from "./kv/open_kv.ts";
import { type Clock, type ClockTimer, delay, systemClock } from "./clock.ts";
import { HostTable } from "./objects/host_table.ts";
import { DurableObjectNamespace } from "./objects/namespace.ts";
import type { ObjectId } from "./objects/object_id.ts";
import type { AppRuntime, ClassRuntime } from "./objects/class_runtime.ts";
import { InProcessDirectory } from "./objects/in_process_directory.ts";
import type { Blocker, HostStatus, ObjectHost } from "./objects/object_host.ts";
import type { HostStore } from "./objects/persisted_object.ts";
import type { DurableObjectState } from "./objects/object_state.ts";
import {
  bare101Error,
  type BindingScope,
  endGateway,
  fail,
  isBare101,
  runGateway,
  type ScopeHost,
  wasReported,
} from "./objects/binding_scope.ts";
import { type RouteInit, type RouteMatch, Router } from "./router/router.ts";
import { checkUpgrade, denoUpgrade, type Upgrader, wantsUpgrade } from "./router/upgrade.ts";
import { defaultConnectionCap, exitProcess, listen, onTerminationSignal } from "./server/serve.ts";
import { DEFAULT_MAX_ATTACHMENT_BYTES } from "./sockets/attachment.ts";
import { type Connection, DEFAULT_MAX_MESSAGE_BYTES } from "./sockets/connection.ts";
import { MemorySocketRegistry, type SocketRegistry } from "./sockets/socket_registry.ts";
import { AlarmScheduler } from "./alarms/alarm_scheduler.ts";
import { isStorageName } from "./kv/keys.ts";
import { KvBackend } from "./storage/kv_backend.ts";
import { Storage } from "./storage/storage.ts";
import type { ObjectStorage, StorageHooks } from "./storage/object_storage.ts";
import type { ExceptionContext, ExceptionHandler } from "./types.ts";
import { upgradeTarget } from "./web_socket_pair.ts";

/**
 * A durable object class: constructed with `(ctx, env)`. A class without
 * decorators may set its storage name as `static storageName = "room"`.
 */
// deno-lint-ignore no-explicit-any
export type ObjectClass = (new (ctx: DurableObjectState, env: any) => object) & {
  /** The stable storage name, as `@durableObject({ name })` sets it. */
  readonly storageName?: string;
};

/** `env` as objects see it: the user's values plus one namespace per registered class. */
export type AppEnv<O extends Record<string, ObjectClass>, E extends object = Record<never, never>> =
  & E
  & { readonly [K in keyof O]: DurableObjectNamespace<InstanceType<O[K]>> };

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
}

/** Options of {@linkcode App.serve}. */
export interface ServeOptions {
  /** The interface to listen on. @default "0.0.0.0" */
  readonly hostname?: string;
  /** The port; 0 picks any free port. @default 8000 */
  readonly port?: number;
  /** Aborting shuts the server down gracefully (without exiting the process). */
  readonly signal?: AbortSignal;
  /**
   * Called once listening; `() => {}` prints nothing.
   * @default prints `Listening on http://localhost:8000/` to stderr (`localhost` for 0.0.0.0)
   */
  readonly onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Handle SIGINT/SIGTERM: graceful shutdown, then exit 0 (a second signal exits at once).
   * @default the app's `handleSignals`, else true
   */
  readonly handleSignals?: boolean;
  /** How long running handlers get to finish on shutdown. @default 3000 */
  readonly shutdownTimeoutMs?: number;
}

/** A running server. */
export interface Server {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** Resolves after shutdown completed. */
  readonly finished: Promise<void>;
  /** Shuts down gracefully: sockets get 1001 (1012 with `restart`). */
  shutdown(options?: { restart?: boolean }): Promise<void>;
}

/** Per-object report from {@linkcode App.stats}. */
export interface ObjectStats {
  /** The binding name (`ROOM`). */
  readonly namespace: string;
  /** The object id, 64 hex characters. */
  readonly id: string;
  /** The name the id was derived from, when known. */
  readonly name: string | undefined;
  /** Whether an instance is in memory. */
  readonly status: HostStatus;
  /** What keeps it awake; empty when idle. */
  readonly blockers: readonly Blocker[];
  /** Open sockets. */
  readonly sockets: number;
  /** Events delivered (messages, closes, errors, requests, calls, alarms). */
  readonly events: number;
  /** Instances built (first use and every wake). */
  readonly wakes: number;
  /** Times the instance was dropped for idleness. */
  readonly hibernations: number;
  /** KV commits that carried this object's data. */
  readonly kvCommits: number;
}

/** Whole-app report. */
export interface AppStats {
  /** Open (and closing) sockets in the process. */
  readonly connections: number;
  /** KV commits made by the framework and storage. */
  readonly kvCommits: number;
  /** KV mutations committed. */
  readonly kvMutations: number;
  /** Records waiting in the write-behind buffer. */
  readonly pendingWrites: number;
  /** Every object in memory. */
  readonly objects: readonly ObjectStats[];
}

/** A connection slot taken before the hook runs; kept by the socket once bound. */
interface Slot {
  /** The client address, when per-address counting is on. */
  readonly ip: string | undefined;
  bound: boolean;
}

/**
 * The application: registered object classes, the router, the socket
 * registry and the KV store. `fetch` is a bound property, so both
 * `Deno.serve(app.fetch)` and `export default { fetch: app.fetch }` work;
 * {@linkcode App.serve} is the production entry.
 *
 * @example Route a room and talk to it
 * ```ts
 * import { App, DurableObject, type WebSocket } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * class Echo extends DurableObject {
 *   static readonly storageName = "echo";
 *   webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
 *     ws.send(message);
 *   }
 * }
 * await using app = new App({
 *   objects: { ECHO: Echo },
 *   routes: [{ pattern: "/echo/:name", object: "ECHO" }],
 * });
 * const response = await app.fetch(new Request("http://localhost/echo/a"));
 * assert.equal(response.status, 426); // not an upgrade
 * ```
 */
export class App<
  O extends Record<string, ObjectClass> = Record<string, ObjectClass>,
  E extends object = Record<never, never>,
> {
  /** `env` as objects see it: user values plus `env[binding]` namespaces. */
  readonly env: AppEnv<O, E>;
  readonly #namespaces = new Map<string, DurableObjectNamespace<unknown>>();
  readonly #byStorageName = new Map<string, DurableObjectNamespace<unknown>>();
  readonly #tables = new Map<string, HostTable>();
  readonly #directory = new InProcessDirectory(this.#tables);
  readonly #tablesByStorageName = new Map<string, HostTable>();
  readonly #options: AppOptions<O, E>;
  readonly #clock: Clock;
  readonly #router: Router;
  readonly #upgrade: Upgrader;
  readonly #registry: SocketRegistry<Connection> = new MemorySocketRegistry<Connection>();
  readonly #runtime: AppRuntime;
  readonly #boot = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  #ready: Promise<void> | null = null;
  #lease: KvLease | null = null;
  #kv: Deno.Kv | null = null;
  #store: HibernationStore | null = null;
  #alarms: AlarmScheduler | null = null;
  #connections = 0;
  #perIp = new Map<string, number>();
  #ipOf = new WeakMap<Connection, string>();
  #maxConnections: number;
  #kvCommits = 0;
  #kvMutations = 0;
  #draining = false;
  /** Pending `ctx.waitUntil()` promises of the worker: shutdown waits for them. */
  #workerWaits = 0;
  #closed: Promise<void> | null = null;
  /** Signals while served by someone else's server: null until its first request. */
  #signals: (() => void) | "off" | null = null;

  /**
   * Creates the instance.
   *
   * @param options Classes, routes, KV and limits.
   * @throws {TypeError} If a storage name, route or option is invalid.
   * @throws {RangeError} If a limit is out of range.
   */
  constructor(options: AppOptions<O, E>) {
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
    this.#options = options;
    if (options.handleSignals === false) this.#signals = "off";
    this.#clock = options.clock ?? systemClock;
    this.#upgrade = options.upgrade ?? denoUpgrade;
    this.#maxConnections = positive("maxConnections", options.maxConnections, Infinity);
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
    const store: HostStore = {
      markSocket: (ws, what) => this.#store?.markSocket(ws, what),
      markConfig: (host) => this.#store?.markConfig(host),
      forgetSocket: (ws) => this.#store?.forgetSocket(ws),
      flush: async () => {
        await this.#ensureReady();
        await this.#store!.flush();
      },
      load: async (host) => {
        await this.#ensureReady();
        await this.#store!.load(host);
      },
    };
    this.#runtime = {
      clock: this.#clock,
      env: () => this.env,
      maxMessageBytes: positive(
        "maxMessageBytes",
        options.maxMessageBytes,
        DEFAULT_MAX_MESSAGE_BYTES,
      ),
      maxAttachmentBytes,
      maxBufferedBytes: positive("maxBufferedBytes", options.maxBufferedBytes, 16 * 1024 * 1024),
      backpressure: options.backpressure ?? "close",
      maxSocketsPerObject,
      store,
      report: (error, context) => this.#report(error, context),
      createStorage: (host, hooks) => this.#createStorage(host, hooks),
      socketGone: (ws) => this.#socketGone(ws),
      forget: (host) => this.#tables.get(host.runtime.binding)?.forget(host),
    };
    const hibernateAfterMs = positive("hibernateAfterMs", options.hibernateAfterMs, 10_000, true);
    const env: Record<string, unknown> = { ...options.env };
    const unnamed: [string, ObjectClass][] = [];
    for (const [binding, ctor] of Object.entries(options.objects)) {
      if (typeof ctor !== "function") {
        throw new TypeError(
          `Cannot register "${binding}" as it is not a class: current type is ${typeof ctor}`,
        );
      }
      const definition = readDefinition(ctor);
      const named = declaredStorageName(ctor, binding, definition.options?.name);
      if (named === undefined) unnamed.push([binding, ctor]);
      const storageName = named ?? binding;
      if (!isStorageName(storageName)) {
        throw new TypeError(
          `Cannot register "${binding}" as its storage name must be 1-64 characters of [A-Za-z0-9_-]: current value is "${storageName}"`,
        );
      }
      if (this.#byStorageName.has(storageName)) {
        throw new TypeError(
          `Cannot register "${binding}" as storage name "${storageName}" is already used`,
        );
      }
      const runtime: ClassRuntime = {
        binding,
        storageName,
        ctor: ctor as unknown as ClassRuntime["ctor"],
        handlers: resolveHandlers(ctor, binding, definition.handlers),
        hibernate: definition.options?.hibernate ?? true,
        outputGate: definition.options?.outputGate ?? true,
        hibernateAfterMs: positive(
          `${binding} hibernateAfterMs`,
          definition.options?.hibernateAfterMs,
          hibernateAfterMs,
          true,
        ),
        app: this.#runtime,
      };
      const table = new HostTable(
        runtime,
        this.#registry,
        // Whoever needs KV awaits it and reports a failure; this call only starts it early.
        () => void this.#ensureReady().catch(() => {}),
      );
      const namespace = new DurableObjectNamespace<unknown>(this.#directory, runtime);
      this.#namespaces.set(binding, namespace);
      this.#tables.set(binding, table);
      this.#byStorageName.set(storageName, namespace);
      this.#tablesByStorageName.set(storageName, table);
      env[binding] = namespace;
    }
    this.env = Object.freeze(env) as AppEnv<O, E>;
    this.#router = new Router(options.routes ?? [], new Set(this.#namespaces.keys()));
    warnUnnamed(unnamed); // once every check passed
  }

  /** Opens KV, cleans records of earlier runs and starts alarms; idempotent. */
  ready(): Promise<void> {
    return this.#ensureReady();
  }

  #ensureReady(): Promise<void> {
    // A failed start is not cached: the next request tries again.
    return this.#ready ??= this.#init().catch((error) => {
      this.#ready = null;
      throw error;
    });
  }

  async #init(): Promise<void> {
    try {
      await this.#start();
    } catch (error) {
      if (this.#beatTimer !== null) this.#clock.clearTimeout(this.#beatTimer);
      this.#beatTimer = null;
      this.#store?.close();
      this.#store = null;
      this.#alarms?.close();
      this.#alarms = null;
      this.#lease?.release();
      this.#lease = null;
      this.#kv = null;
      throw error;
    }
  }

  async #start(): Promise<void> {
    const options = this.#options;
    if (options.kv) this.#kv = options.kv;
    else {
      this.#lease = await openKv(
        options.kvPath === undefined ? defaultKvPath() : options.kvPath,
      );
      this.#kv = this.#lease.kv;
    }
    const onCommit = (mutations: number) => {
      this.#kvCommits++;
      this.#kvMutations += mutations;
    };
    this.#store = new HibernationStore({
      kv: this.#kv,
      clock: this.#clock,
      boot: this.#boot,
      flushDelayMs: positive("flushDelayMs", options.flushDelayMs, 250, true),
      onCommit,
      report: (error, operation) => this.#report(error, { namespace: "*", operation }),
    });
    // The lease tells other apps on this database that our records are live.
    await this.#store.renewLease();
    await this.#store.cleanup();
    this.#scheduleBeat(0);
    this.#alarms = new AlarmScheduler({
      kv: this.#kv,
      clock: this.#clock,
      onCommit,
      // Stored with the alarm: after a restart it is the only place the object's name is known.
      nameOf: (storageName, id) => this.#tablesByStorageName.get(storageName)?.peek(id)?.id.name,
      deliver: (storageName, id, info, name) => {
        const namespace = this.#byStorageName.get(storageName);
        if (!namespace) return Promise.resolve(); // class no longer registered
        const named = name === undefined ? undefined : namespace.idFromName(name);
        return this.#directory.locate(
          namespace.binding,
          named?.toString() === id ? named : namespace.idFromString(id),
        ).alarm(info);
      },
      // The scheduler knows storage names; the hook documents binding names.
      onException: (error, context) =>
        this.#report(error, {
          ...context,
          namespace: this.#byStorageName.get(context.namespace)?.binding ?? context.namespace,
        }),
    });
    await this.#alarms.start();
  }

  #beatTimer: ClockTimer | null = null;

  /** Renews the boot lease every 30 s; every third beat also cleans dead boots' records. */
  #scheduleBeat(beat: number): void {
    if (this.#draining) return;
    this.#beatTimer = this.#clock.setTimeout(async () => {
      this.#beatTimer = null;
      try {
        await this.#store!.renewLease();
        if (beat % 3 === 2) await this.#store!.cleanup();
      } catch (error) {
        if (!this.#draining) {
          this.#report(new KvError("lease", error), { namespace: "*", operation: "kv.lease" });
        }
      }
      this.#scheduleBeat(beat + 1);
    }, LEASE_BEAT_MS);
  }

  #createStorage(host: ObjectHost, hooks: StorageHooks): ObjectStorage {
    if (!this.#kv || !this.#alarms) throw new Error("Cannot use storage before the app is ready");
    const onCommit = hooks.onCommit;
    return new Storage({
      backend: new KvBackend(this.#kv, host.runtime.storageName, host.hex),
      alarms: this.#alarms,
      hooks: {
        ...hooks,
        onCommit: (mutations) => {
          onCommit(mutations);
          this.#kvCommits++;
          this.#kvMutations += mutations;
        },
      },
    });
  }

  #report(error: unknown, context: ExceptionContext): void {
    const hook = this.#options.onException;
    if (hook) {
      try {
        return hook(error, context);
      } catch (hookError) {
        error = new AggregateError([error, hookError], "onException hook threw");
      }
    }
    console.error(JSON.stringify({
      level: "error",
      msg: "exception in durable object",
      ...context,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      stack: error instanceof Error ? error.stack : undefined,
    }));
  }

  // ---- HTTP -------------------------------------------------------------------------------------

  /** Handles one request: route, hooks, object `fetch`/`@onConnect`, upgrade. Bound to the app. */
  readonly fetch: (request: Request, info?: Deno.ServeHandlerInfo) => Promise<Response> = (
    request,
    info,
  ) => {
    // `info` is what a real server passes: `deno serve` or `Deno.serve(app.fetch)`.
    if (this.#signals === null && info !== undefined) this.#watchSignals();
    return runGateway((scope) => this.#serveRequest(request, info, scope));
  };

  async #serveRequest(
    request: Request,
    info: Deno.ServeHandlerInfo | undefined,
    scope: BindingScope,
  ): Promise<Response> {
    try {
      return await this.#handle(request, info, scope);
    } catch (error) {
      scope.failed = true;
      this.#report(error, { namespace: "*", operation: "fetch" });
      return new Response("Internal Server Error", { status: 500 });
    } finally {
      // Sockets a stub.fetch() accepted for this request and nobody bound are closed now.
      endGateway(scope);
    }
  }

  async #handle(
    request: Request,
    info: Deno.ServeHandlerInfo | undefined,
    scope: BindingScope,
  ): Promise<Response> {
    await this.#ensureReady();
    const match = this.#router.match(request);
    if (match === null) {
      if (this.#options.worker) return this.#toWorker(request, info, scope);
      if (!this.#options.fallback) return new Response("Not Found", { status: 404 });
      const response = await this.#options.fallback(request, info);
      return this.#answer(request, response, null, scope, "fallback");
    }
    if (this.#draining) return shuttingDown();
    const upgrade = wantsUpgrade(request);
    if (upgrade || match.route.websocket !== false) {
      const refused = checkUpgrade(request, upgrade);
      if (refused) return refused;
    }
    const target = this.#target(match);
    if (target instanceof Response) return target;
    if (!upgrade) {
      const early = await this.#options.onBeforeRequest?.(request, target);
      if (early) return early;
      const host = this.#directory.locate(match.route.object, target.id);
      return this.#answer(request, await host.fetch(request), null, scope, host);
    }
    const slot = this.#admit(request, info);
    if (slot instanceof Response) return slot;
    try {
      const early = await this.#options.onBeforeConnect?.(request, target);
      if (early) return early;
      return await this.#connectTo(
        this.#directory.locate(match.route.object, target.id),
        request,
        slot,
        scope,
      );
    } finally {
      if (!slot.bound) this.#release(slot.ip);
    }
  }

  /** A Cloudflare worker answers what no route matches; its upgrades get the routes' checks. */
  async #toWorker(
    request: Request,
    info: Deno.ServeHandlerInfo | undefined,
    scope: BindingScope,
  ): Promise<Response> {
    if (this.#draining) return shuttingDown();
    let slot: Slot | null = null;
    if (wantsUpgrade(request)) {
      const refused = checkUpgrade(request, true);
      if (refused) return refused;
      const admitted = this.#admit(request, info);
      if (admitted instanceof Response) return admitted;
      slot = admitted;
    }
    try {
      let response: unknown;
      try {
        response = await this.#options.worker!.fetch(request, this.env, this.#executionContext());
      } catch (error) {
        scope.failed = true;
        if (slot !== null && error instanceof ObjectFullError) return this.#refuseFull(request);
        if (this.#draining) return shuttingDown(); // cut off by shutdown: not a handler failure
        this.#report(error, { namespace: "*", operation: "worker.fetch" });
        return new Response("Internal Server Error", { status: 500 });
      }
      if (!(response instanceof Response)) {
        scope.failed = true;
        this.#report(
          new TypeError(
            `Cannot answer the request as worker.fetch() returned no Response: got ${typeof response}`,
          ),
          { namespace: "*", operation: "worker.fetch" },
        );
        return new Response("Internal Server Error", { status: 500 });
      }
      return this.#answer(request, response, slot, scope, "worker");
    } finally {
      if (slot !== null && !slot.bound) this.#release(slot.ip);
    }
  }

  #executionContext(): ExecutionContext {
    return {
      waitUntil: (promise: Promise<unknown>) => {
        this.#workerWaits++;
        Promise.resolve(promise).catch((error) =>
          this.#report(error, { namespace: "*", operation: "waitUntil" })
        ).finally(() => this.#workerWaits--);
      },
      passThroughOnException: () => {},
    };
  }

  /** Upgrade-time checks after the headers: origin, process and per-address caps. */
  #admit(request: Request, info: Deno.ServeHandlerInfo | undefined): Slot | Response {
    const origin = request.headers.get("origin");
    const allowed = this.#options.allowedOrigins;
    if (origin !== null && allowed && !allowed.includes(origin)) {
      return new Response("Origin not allowed", { status: 403 });
    }
    if (this.#connections >= this.#maxConnections) {
      return new Response("Too many connections", { status: 503, headers: { "retry-after": "1" } });
    }
    // remoteAddr must be read before upgrading (afterwards Deno throws "Request closed").
    const ip = (info?.remoteAddr as Deno.NetAddr | undefined)?.hostname;
    const perIp = this.#options.maxConnectionsPerIp;
    if (ip !== undefined && perIp !== undefined && (this.#perIp.get(ip) ?? 0) >= perIp) {
      return new Response("Too many connections from this address", { status: 429 });
    }
    // Take the slot now: the hook and the object may await I/O, and upgrades
    // arriving meanwhile must see it taken, or together they overshoot both caps.
    return this.#reserve(perIp === undefined ? undefined : ip);
  }

  #reserve(ip: string | undefined): Slot {
    this.#connections++;
    if (ip !== undefined) this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    return { ip, bound: false };
  }

  #release(ip: string | undefined): void {
    this.#connections--;
    if (ip === undefined) return;
    const n = (this.#perIp.get(ip) ?? 1) - 1;
    if (n === 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n);
  }

  #target(match: RouteMatch): RouteTarget | Response {
    const namespace = this.#namespaces.get(match.route.object)!;
    let id: ObjectId;
    let name: string | null = null;
    try {
      if (match.id !== null) id = namespace.idFromString(match.id);
      else if (match.name !== null) {
        // A URL group is percent-encoded; a name function's result is used as it is.
        name = typeof match.route.name === "function" ? match.name : decodeURIComponent(match.name);
        id = namespace.idFromName(name);
      } else return new Response("Missing object name", { status: 400 });
    } catch (error) {
      return new Response(error instanceof Error ? error.message : "Bad object id", {
        status: 400,
      });
    }
    return { namespace: match.route.object, id, name, params: match.params };
  }

  async #connectTo(
    host: ObjectHost,
    request: Request,
    slot: Slot,
    scope: BindingScope,
  ): Promise<Response> {
    const handlers = host.runtime.handlers;
    let result: Connection | Response;
    try {
      result = await host.connect(request);
    } catch (error) {
      if (error instanceof ObjectFullError) return this.#refuseFull(request);
      if (this.#draining) return shuttingDown(); // cut off by shutdown: not a handler failure
      host.report(error, handlers.connect ? "onConnect" : "fetch");
      return new Response("Internal Server Error", { status: 500 });
    }
    if (result instanceof Response) return this.#answer(request, result, slot, scope, host);
    scope.take(result);
    return this.#bind(request, result, host, slot, "", undefined);
  }

  /**
   * A response from user code (an object's fetch, the worker, the fallback):
   * a marker from `webSocketResponse(client)` upgrades `request` when it is an
   * upgrade (`slot` taken); a bare 101 is a 500; anything else goes out as it is.
   */
  #answer(
    request: Request,
    response: Response,
    slot: Slot | null,
    scope: BindingScope,
    from: ObjectHost | "worker" | "fallback",
  ): Response {
    const report = (error: unknown) =>
      typeof from === "object"
        ? from.report(error, "fetch")
        : this.#report(error, { namespace: "*", operation: `${from}.fetch` });
    const target = upgradeTarget(response);
    if (target === undefined) {
      if (!isBare101(response)) return response;
      if (!wasReported(response)) report(bare101Error());
      return new Response("Internal Server Error", { status: 500 });
    }
    const server = target.server;
    const owner = scope.take(server);
    if (owner === null) {
      report(
        new TypeError(
          server.accepted
            ? "Cannot upgrade as the server end of webSocketResponse(client) was not accepted for this request: accept it with ctx.acceptWebSocket(server) in the fetch() that returns it"
            : "Cannot upgrade as the server end was not accepted: call ctx.acceptWebSocket(server) before returning webSocketResponse(client)",
        ),
      );
      return new Response("Internal Server Error", { status: 500 });
    }
    if (from === "fallback" || slot === null) {
      fail(
        server,
        owner,
        "fetch",
        new TypeError(
          from === "fallback"
            ? "Cannot upgrade from fallback, so the WebSocket it carries was closed (webSocketClose 1006): pass the Cloudflare worker as new App({ worker }) instead of fallback"
            : `Cannot upgrade the request as it is not a WebSocket upgrade (no "Upgrade: websocket" header), so the WebSocket accepted in ${owner.runtime.binding}.fetch() was closed (webSocketClose 1006): check request.headers.get("Upgrade") before accepting`,
        ),
      );
      return from === "fallback"
        ? new Response("Internal Server Error", { status: 500 })
        : checkUpgrade(request, false)!;
    }
    return this.#bind(
      request,
      server,
      owner,
      slot,
      target.init.protocol ?? "",
      target.init.headers,
    );
  }

  /** Upgrades `request` and binds the accepted `server` end to the runtime socket. */
  #bind(
    request: Request,
    server: Connection,
    owner: ScopeHost,
    slot: Slot,
    protocol: string,
    headers: HeadersInit | undefined,
  ): Response {
    let upgraded: { socket: globalThis.WebSocket; response: Response };
    try {
      upgraded = this.#upgrade(request, {
        protocol: protocol || undefined,
        idleTimeout: this.#options.idleTimeout,
      });
    } catch (error) {
      server.failUpgrade();
      owner.report(error, "upgrade");
      return new Response(error instanceof Error ? error.message : "Upgrade failed", {
        status: 400,
      });
    }
    server.bind(upgraded.socket, request.url, protocol);
    // The reserved slot now belongs to the socket; #socketGone releases it.
    slot.bound = true;
    if (slot.ip !== undefined) this.#ipOf.set(server, slot.ip);
    if (headers) {
      for (const [key, value] of new Headers(headers)) upgraded.response.headers.set(key, value);
    }
    return upgraded.response;
  }

  #refuseFull(request: Request): Response {
    const { socket, response } = this.#upgrade(request, {});
    socket.onopen = () => socket.close(1013, "Object is full");
    return response;
  }

  #socketGone(ws: Connection): void {
    if (ws.bound) this.#release(this.#ipOf.get(ws));
  }

  // ---- serving and shutdown ---------------------------------------------------------------------

  /**
   * Serves the app: the production entry. Prints where it listens
   * (`Listening on http://localhost:8000/`, unless `onListen` is given),
   * survives the open-file limit (503 beyond the connection cap, re-listens
   * after EMFILE) and shuts down gracefully on SIGINT/SIGTERM: stops accepting,
   * lets handlers finish (3 s), writes object settings to KV, closes sockets
   * with 1001 and exits 0; a second signal exits at once. Aborting `signal` or
   * calling `server.shutdown()` does the same without exiting.
   */
  async serve(options: ServeOptions = {}): Promise<Server> {
    if (this.#signals === null) this.#signals = "off"; // handled below, per `options`
    await this.#ensureReady();
    // After KV is open, so its descriptors count as already used.
    if (this.#options.maxConnections === undefined) this.#maxConnections = defaultConnectionCap();
    const controller = new AbortController();
    const listener = listen(this.fetch, {
      hostname: options.hostname ?? "0.0.0.0",
      port: options.port ?? 8000,
      signal: controller.signal,
      onListen: options.onListen,
      onListenError: (error, attempt) =>
        this.#report(error, { namespace: "*", operation: `listen (attempt ${attempt + 1})` }),
    });
    let shutdown: Promise<void> | null = null;
    const stop = (restart: boolean): Promise<void> =>
      shutdown ??= (async () => {
        await this.shutdown({ restart, timeoutMs: options.shutdownTimeoutMs });
        controller.abort();
        await listener.finished;
      })();
    let removeSignals = () => {};
    if ((options.handleSignals ?? this.#options.handleSignals) !== false) {
      removeSignals = onTerminationSignal(() => {
        stop(false).then(() => exitProcess(0), () => exitProcess(1));
      });
    }
    if (options.signal?.aborted) void stop(false);
    else options.signal?.addEventListener("abort", () => void stop(false), { once: true });
    const finished = listener.finished.then(async () => {
      removeSignals();
      await shutdown;
    });
    const addr = await Promise.race([listener.addr, listener.finished.then(() => null)]);
    if (addr === null) throw new Error("Cannot serve: the listener stopped before it was bound");
    return { addr, finished, shutdown: (o) => stop(o?.restart ?? false) };
  }

  /**
   * Graceful shutdown without stopping a listener: refuse new work, wait for
   * running handlers (up to `timeoutMs`), flush KV, close every socket with
   * 1001 (1012 when `restart`), release KV. `close()` calls it.
   */
  shutdown(options: { restart?: boolean; timeoutMs?: number } = {}): Promise<void> {
    return this.#closed ??= this.#shutdown(options.restart ?? false, options.timeoutMs ?? 3_000);
  }

  /**
   * Under `deno serve`, Deno's own SIGINT/SIGTERM listener only stops its HTTP server (closing
   * open sockets with 1001); the app's timers and KV would be left as they are. This listener
   * shuts the app down too, and exits: under `deno run` with `Deno.serve(app.fetch)` the server
   * would keep the process alive.
   */
  #watchSignals(): void {
    if (this.#closed !== null) return;
    this.#signals = onTerminationSignal(() => {
      this.shutdown().then(() => exitProcess(0), () => exitProcess(1));
    });
  }

  async #shutdown(restart: boolean, timeoutMs: number): Promise<void> {
    if (typeof this.#signals === "function") this.#signals();
    this.#signals = "off";
    this.#draining = true;
    const deadline = Date.now() + timeoutMs;
    while (
      Date.now() < deadline &&
      (this.#workerWaits > 0 ||
        this.#hosts().some((h) =>
          h.blockers().some((b) => b !== "hibernation disabled" && b !== "non-hibernatable socket")
        ))
    ) {
      await delay(10);
    }
    if (this.#ready) {
      try {
        await this.#ready;
        await this.#store!.flushSettings();
      } catch (error) {
        this.#report(error, { namespace: "*", operation: "shutdown flush" });
      }
    }
    for (const host of this.#hosts()) {
      for (const ws of [...host.list(), ...host.unlistedSockets]) {
        ws.terminate(restart ? 1012 : 1001, restart ? "Server restarting" : "Server shutting down");
      }
      host.dispose();
    }
    // Let the close handshakes just started finish (bounded): a peer that answers is
    // released cleanly, and no runtime timer of a closing socket outlives the app.
    const closing = Date.now() + 1_000;
    while (this.#connections > 0 && Date.now() < closing) await delay(5);
    await delay(0); // Deno's close() schedules a zero-delay timer once its frame is sent
    if (this.#beatTimer !== null) this.#clock.clearTimeout(this.#beatTimer);
    this.#beatTimer = null;
    // No flush may start or still run once KV is released ("Bad resource ID").
    this.#store?.close();
    try {
      await this.#store?.idle();
      // Our sockets are closed: their records are stale for whoever starts next.
      await this.#store?.dropLease();
    } catch (error) {
      this.#report(error, { namespace: "*", operation: "shutdown lease" });
    }
    this.#alarms?.close();
    this.#lease?.release();
  }

  /** Same as `shutdown()`. */
  close(): Promise<void> {
    return this.shutdown();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #hosts(): ObjectHost[] {
    const out: ObjectHost[] = [];
    for (const table of this.#tables.values()) out.push(...table.hosts());
    return out;
  }

  // ---- observability ----------------------------------------------------------------------------

  /** What every object in memory is doing, and the app's counters. */
  stats(): AppStats {
    return {
      connections: this.#connections,
      kvCommits: this.#kvCommits,
      kvMutations: this.#kvMutations,
      pendingWrites: this.#store?.pending ?? 0,
      objects: this.#hosts().map((host) => ({
        namespace: host.runtime.binding,
        id: host.hex,
        name: host.id.name,
        status: host.status,
        blockers: host.blockers(),
        ...host.counters(),
      })),
    };
  }

  /** @internal For `./testing`: the host of an object, if in memory. */
  hostOf(namespace: string, id: ObjectId): ObjectHost | undefined {
    return this.#tables.get(namespace)?.peek(id.toString());
  }

  /** @internal For `./testing`: flushes write-behind now. */
  flush(): Promise<void> {
    return this.#runtime.store.flush();
  }
}

function shuttingDown(): Response {
  return new Response("Server is shutting down", { status: 503, headers: { "retry-after": "1" } });
}

function positive(
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
