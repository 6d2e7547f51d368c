/**
 * The application: the parts wired together. `options.ts` checks the
 * options, `bindings.ts` registers the classes, `lifecycle.ts` starts and
 * stops KV, leases and alarms, `http/` answers requests.
 *
 * @module
 */

import { appInternals } from "./_app_internals.ts";
import { Bindings } from "./bindings.ts";
import { exceptionSink, type Report } from "./exception_sink.ts";
import { Admission } from "./http/admission.ts";
import { Gateway } from "./http/gateway.ts";
import { Router } from "./http/router.ts";
import {
  defaultConnectionCap,
  exitProcess,
  onTerminationSignal,
  serveApp,
  type ServeOptions,
  type Server,
} from "./http/serve.ts";
import { Lifecycle } from "./lifecycle.ts";
import { Cluster, injectedPlacement } from "./cluster/cluster.ts";
import { BroadcastChannelTransport } from "./cluster/broadcast_channel_transport.ts";
import { type AppOptions, type ObjectClass, resolveOptions } from "./options.ts";
import type { DurableObjectNamespace } from "./objects/namespace.ts";
import type { AppRuntime } from "./objects/class_runtime.ts";
import type { Blocker, HostStatus } from "./objects/object_host.ts";
import type { Connection } from "./sockets/connection.ts";
import { MemorySocketRegistry } from "./sockets/socket_registry.ts";
import { SessionManager } from "./sessions/session_manager.ts";
import { resolveSessionOptions } from "./sessions/session_options.ts";

/** `env` as objects see it: the user's values plus one namespace per registered class. */
export type AppEnv<O extends Record<string, ObjectClass>, E extends object = Record<never, never>> =
  & E
  & { readonly [K in keyof O]: DurableObjectNamespace<InstanceType<O[K]>> };

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
  readonly #options: AppOptions<O, E>;
  readonly #report: Report;
  readonly #admission: Admission;
  readonly #lifecycle: Lifecycle;
  readonly #bindings: Bindings;
  readonly #gateway: Gateway;
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
    const settings = resolveOptions(options);
    this.#options = options;
    if (options.handleSignals === false) this.#signals = "off";
    const report = this.#report = exceptionSink(options);
    const admission = this.#admission = new Admission({
      maxConnections: settings.maxConnections,
      maxConnectionsPerIp: options.maxConnectionsPerIp,
      allowedOrigins: options.allowedOrigins,
    });
    const sessions = new SessionManager({
      settings: resolveSessionOptions(options.sessions),
      clock: settings.clock,
      objects: { // the bindings exist by the time KV opens
        host: (storageName, hex, name) => this.#bindings.sessionHost(storageName, hex, name),
        restoreSocket: (host, ws, tags, at) => this.#bindings.restoreSocket(host, ws, tags, at),
      },
      report: (error, operation) => report(error, { namespace: "*", operation }),
    });
    const injected = injectedPlacement(options);
    // Every app is a cluster node: ownership is always on, and without a transport of its own
    // the isolates of one process (`deno serve --parallel`) reach each other on BroadcastChannel.
    const cluster = new Cluster({
      options: {
        ...options.cluster,
        transport: options.cluster?.transport === undefined
          ? new BroadcastChannelTransport()
          : options.cluster.transport ?? undefined,
      },
      tuning: injected?.tuning ?? {},
      placement: () => injected?.placement ?? lifecycle.placement,
      ready: () => lifecycle.ready(),
      tables: () => this.#bindings.tables,
      clock: settings.clock,
      report,
      limits: {
        ...settings,
        now: () => settings.clock.now(),
        socketGone: (ws) => admission.socketGone(ws),
      },
      draining: () => admission.draining,
      boot: () => lifecycle.placement.node,
      kv: () => lifecycle.kv,
      maxSockets: settings.maxSocketsPerObject,
    });
    const lifecycle: Lifecycle = this.#lifecycle = new Lifecycle({
      sessions,
      options,
      clock: settings.clock,
      admission,
      report,
      objects: () => this.#bindings,
      workerWaits: () => this.#gateway.workerWaits,
      cluster,
    });
    const runtime: AppRuntime = {
      clock: settings.clock,
      env: () => this.env,
      maxMessageBytes: settings.maxMessageBytes,
      maxAttachmentBytes: settings.maxAttachmentBytes,
      maxBufferedBytes: settings.maxBufferedBytes,
      backpressure: settings.backpressure,
      maxSocketsPerObject: settings.maxSocketsPerObject,
      store: cluster.watchSettings(lifecycle.store),
      report,
      createStorage: (host, hooks) => lifecycle.createStorage(host, hooks),
      claim: (host) => lifecycle.claim(host),
      stale: () => lifecycle.stale(),
      socketGone: (ws) => admission.socketGone(ws),
      forget: (host) => this.#bindings.forget(host),
    };
    const bindings = this.#bindings = new Bindings(
      options.objects,
      settings.hibernateAfterMs,
      runtime,
      new MemorySocketRegistry<Connection>(),
      // Whoever needs KV awaits it and reports a failure; this call only starts it early.
      () => void lifecycle.ready().catch(() => {}),
      () => cluster.directory,
    );
    const env: Record<string, unknown> = { ...options.env };
    for (const [binding, namespace] of bindings.namespaces) env[binding] = namespace;
    this.env = Object.freeze(env) as AppEnv<O, E>;
    this.#gateway = new Gateway({
      options,
      router: new Router(options.routes ?? [], new Set(bindings.namespaces.keys())),
      namespaces: bindings.namespaces,
      directory: bindings.directory,
      admission,
      upgrade: settings.upgrade,
      env: this.env,
      start: lifecycle,
      report,
      sessions,
    });
    bindings.warnUnnamed(); // once every check passed
    appInternals.set(this, {
      hostOf: (namespace, id) => bindings.hostOf(namespace, id),
      flush: () => lifecycle.store.flush(),
    });
  }

  /** Opens KV, cleans records of earlier runs and starts alarms; idempotent. */
  ready(): Promise<void> {
    return this.#lifecycle.ready();
  }

  /** Handles one request: route, hooks, object `fetch`/`@onConnect`, upgrade. Bound to the app. */
  readonly fetch: (request: Request, info?: Deno.ServeHandlerInfo) => Promise<Response> = (
    request,
    info,
  ) => {
    // `info` is what a real server passes: `deno serve` or `Deno.serve(app.fetch)`.
    if (this.#signals === null && info !== undefined) this.#watchSignals();
    return this.#gateway.fetch(request, info);
  };

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
    if (this.#signals === null) this.#signals = "off"; // serveApp handles them, per `options`
    await this.#lifecycle.ready();
    // After KV is open, so its descriptors count as already used.
    if (this.#options.maxConnections === undefined) this.#admission.cap(defaultConnectionCap());
    return serveApp(this.fetch, options, {
      handleSignals: this.#options.handleSignals,
      shutdown: (restart) => this.shutdown({ restart, timeoutMs: options.shutdownTimeoutMs }),
      report: this.#report,
    });
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
    await this.#lifecycle.shutdown(restart, timeoutMs);
  }

  /** Same as `shutdown()`. */
  close(): Promise<void> {
    return this.shutdown();
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** What every object in memory is doing, and the app's counters. */
  stats(): AppStats {
    return {
      connections: this.#admission.connections,
      kvCommits: this.#lifecycle.kvCommits,
      kvMutations: this.#lifecycle.kvMutations,
      pendingWrites: this.#lifecycle.pendingWrites,
      objects: this.#bindings.hosts().map((host) => ({
        namespace: host.runtime.binding,
        id: host.hex,
        name: host.id.name,
        status: host.status,
        blockers: host.blockers(),
        ...host.counters(),
      })),
    };
  }
}
