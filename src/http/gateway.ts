/**
 * The request path: route → checks → hooks → connect → upgrade → bind. A
 * matched request is checked before any object wakes (upgrade headers,
 * origin, connection caps), passes `onBeforeConnect`/`onBeforeRequest`, and
 * reaches its object; what the object (or the worker, or the fallback)
 * answers is sent as it is, or upgrades the request and binds the accepted
 * socket.
 *
 * @module
 */

import { ObjectElsewhereError, ObjectFullError, OwnerUnavailableError } from "../errors.ts";
import type { Report } from "../exception_sink.ts";
import {
  bare101Error,
  type BindingScope,
  endGateway,
  fail,
  isBare101,
  runGateway,
  type ScopeHost,
  wasReported,
} from "../objects/binding_scope.ts";
import type { ClassHandlers } from "../objects/class_definition.ts";
import type { DurableObjectNamespace } from "../objects/namespace.ts";
import type { ObjectEndpoint } from "../objects/object_directory.ts";
import type { ObjectId } from "../objects/object_id.ts";
import type { Connection } from "../sockets/connection.ts";
import { ACCEPTED, BIND, FAIL_UPGRADE } from "../sockets/connection_internals.ts";
import { connectionInit, upgradeTarget } from "../sockets/web_socket_pair.ts";
import { wantsUpgrade } from "../wants_upgrade.ts";
import { type Admission, shuttingDown, type Slot } from "./admission.ts";
import type { BeforeHook, ExecutionContext, ExportedHandler, Fallback } from "./hooks.ts";
import type { Router } from "./router.ts";
import { checkUpgrade, type Upgrader } from "./upgrade.ts";
import { internalError, ownedElsewhere, refuseFull, targetOf, unavailable } from "./_responses.ts";
import type { SessionManager } from "../sessions/session_manager.ts";
import * as wire from "../sessions/resume_protocol.ts";

/** The app options the gateway reads on each request (see `AppOptions` for each). */
export interface GatewayOptions {
  /** Runs before a WebSocket upgrade reaches its object. */
  readonly onBeforeConnect?: BeforeHook;
  /** Runs before plain HTTP reaches its object. */
  readonly onBeforeRequest?: BeforeHook;
  /** Gets what no route matches (excludes `fallback`). */
  // deno-lint-ignore no-explicit-any
  readonly worker?: ExportedHandler<any>;
  /** Answers what no route matches. */
  readonly fallback?: Fallback;
  /** Passed to the upgrade. */
  readonly idleTimeout?: number;
}

/** An object as the gateway reaches it: the seam, its class, and where its failures are reported. */
export type GatewayEndpoint = ObjectEndpoint & ScopeHost & {
  readonly runtime: {
    readonly binding: string;
    readonly storageName: string;
    readonly handlers: ClassHandlers;
    readonly resumable: boolean;
  };
  /** The object's id in hex (names its session records). */
  readonly hex: string;
  /** Whether the object runs on this node; sessions are kept where the object runs. @default true */
  local?(): Promise<boolean>;
};

/** Where the gateway finds objects: in this process, or on their owner in a cluster. */
export interface GatewayDirectory {
  /** The endpoint of object `id` of class `namespace`. */
  locate(namespace: string, id: ObjectId): GatewayEndpoint;
}

/** What the gateway routes to and reports through. */
export interface GatewayParts {
  readonly options: GatewayOptions;
  readonly router: Router;
  /** Namespaces by binding name. */
  readonly namespaces: ReadonlyMap<string, DurableObjectNamespace<unknown>>;
  /** Where every event for an object enters (see `ObjectDirectory`). */
  readonly directory: GatewayDirectory;
  readonly admission: Admission;
  readonly upgrade: Upgrader;
  /** The worker's `env`. */
  readonly env: unknown;
  /** Opens KV and the rest on first use (`ready()` is awaited by every request). */
  readonly start: { ready(): Promise<void> };
  readonly report: Report;
  /** Resumable sessions. */
  readonly sessions: SessionManager;
}

/** The HTTP entry of the app: one request in, one response out. */
export class Gateway {
  readonly #options: GatewayOptions;
  readonly #router: Router;
  readonly #namespaces: ReadonlyMap<string, DurableObjectNamespace<unknown>>;
  readonly #directory: GatewayDirectory;
  readonly #admission: Admission;
  readonly #upgrade: Upgrader;
  readonly #env: unknown;
  readonly #start: { ready(): Promise<void> };
  readonly #report: Report;
  readonly #sessions: SessionManager;
  /** Pending `ctx.waitUntil()` promises of the worker: shutdown waits for them. */
  #workerWaits = 0;

  /** Creates the instance. */
  constructor(parts: GatewayParts) {
    this.#options = parts.options;
    this.#router = parts.router;
    this.#namespaces = parts.namespaces;
    this.#directory = parts.directory;
    this.#admission = parts.admission;
    this.#upgrade = parts.upgrade;
    this.#env = parts.env;
    this.#start = parts.start;
    this.#report = parts.report;
    this.#sessions = parts.sessions;
  }

  /** Pending `ctx.waitUntil()` promises of the worker. */
  get workerWaits(): number {
    return this.#workerWaits;
  }

  /** Handles one request: route, checks, hooks, object `fetch`/`@onConnect`, upgrade. */
  fetch(request: Request, info: Deno.ServeHandlerInfo | undefined): Promise<Response> {
    return runGateway((scope) => this.#serveRequest(request, info, scope));
  }

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
      if (error instanceof ObjectElsewhereError) return ownedElsewhere(error);
      if (error instanceof OwnerUnavailableError) return unavailable(error);
      return internalError();
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
    await this.#start.ready();
    const match = this.#router.match(request);
    if (match === null) {
      if (this.#options.worker) return this.#toWorker(request, info, scope);
      if (!this.#options.fallback) return new Response("Not Found", { status: 404 });
      const response = await this.#options.fallback(request, info);
      return this.#answer(request, response, null, scope, "fallback");
    }
    if (this.#admission.draining) return shuttingDown();
    const upgrade = wantsUpgrade(request);
    if (upgrade || match.route.websocket !== false) {
      const refused = checkUpgrade(request, upgrade);
      if (refused) return refused;
    }
    const target = targetOf(this.#namespaces.get(match.route.object)!, match);
    if (target instanceof Response) return target;
    if (!upgrade) {
      const early = await this.#options.onBeforeRequest?.(request, target);
      if (early) return early;
      const host = this.#directory.locate(match.route.object, target.id);
      return this.#answer(request, await host.fetch(request), null, scope, host);
    }
    const slot = this.#admission.admit(request, info);
    if (slot instanceof Response) return slot;
    try {
      const early = await this.#options.onBeforeConnect?.(request, target);
      if (early) return early;
      const host = this.#directory.locate(match.route.object, target.id);
      // A session's log lives with its object: a socket bridged to another node gets none.
      const resumable = (match.route.resumable ?? host.runtime.resumable) &&
        (await host.local?.() ?? true);
      return await this.#connectTo(host, request, slot, scope, resumable);
    } finally {
      if (!slot.bound) this.#admission.release(slot.ip);
    }
  }

  /** A Cloudflare worker answers what no route matches; its upgrades get the routes' checks. */
  async #toWorker(
    request: Request,
    info: Deno.ServeHandlerInfo | undefined,
    scope: BindingScope,
  ): Promise<Response> {
    if (this.#admission.draining) return shuttingDown();
    let slot: Slot | null = null;
    if (wantsUpgrade(request)) {
      const refused = checkUpgrade(request, true);
      if (refused) return refused;
      const admitted = this.#admission.admit(request, info);
      if (admitted instanceof Response) return admitted;
      slot = admitted;
    }
    try {
      let response: unknown;
      try {
        response = await this.#options.worker!.fetch(request, this.#env, this.#executionContext());
      } catch (error) {
        scope.failed = true;
        if (slot !== null && error instanceof ObjectFullError) {
          return refuseFull(this.#upgrade, request);
        }
        if (this.#admission.draining) return shuttingDown(); // cut off by shutdown: not a handler failure
        this.#report(error, { namespace: "*", operation: "worker.fetch" });
        if (error instanceof ObjectElsewhereError) return ownedElsewhere(error);
        return internalError();
      }
      if (!(response instanceof Response)) {
        scope.failed = true;
        this.#report(
          new TypeError(
            `Cannot answer the request as worker.fetch() returned no Response: got ${typeof response}`,
          ),
          { namespace: "*", operation: "worker.fetch" },
        );
        return internalError();
      }
      return this.#answer(request, response, slot, scope, "worker");
    } finally {
      if (slot !== null && !slot.bound) this.#admission.release(slot.ip);
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

  async #connectTo(
    host: GatewayEndpoint,
    request: Request,
    slot: Slot,
    scope: BindingScope,
    resumable: boolean,
  ): Promise<Response> {
    const handlers = host.runtime.handlers;
    // A client that asks for a session (and only then) gets one, or resumes its own.
    const offer = resumable ? wire.sessionOffer(request) : null;
    let code: wire.HelloCode | null = offer === null ? null : "new";
    if (offer?.token) {
      const resumed = await this.#sessions.resume(host, offer.token, offer.seq);
      if (resumed === "busy") return new Response("Session is being resumed", { status: 409 });
      if (typeof resumed === "object") {
        const response = this.#bind(request, resumed.ws, host, slot, wire.SESSION_PROTOCOL, false);
        resumed.start(); // hello, missed messages, then live (a no-op if the upgrade failed)
        return response;
      }
      code = resumed;
    }
    let result: Connection | Response;
    try {
      result = await host.connect(request);
    } catch (error) {
      if (error instanceof ObjectFullError) return refuseFull(this.#upgrade, request);
      if (this.#admission.draining) return shuttingDown(); // cut off by shutdown: not a handler failure
      if (error instanceof OwnerUnavailableError) {
        host.report(error, "connect");
        return unavailable(error);
      }
      host.report(error, handlers.connect ? "onConnect" : "fetch");
      if (error instanceof ObjectElsewhereError) return ownedElsewhere(error);
      return internalError();
    }
    if (result instanceof Response) return this.#answer(request, result, slot, scope, host, code);
    scope.take(result);
    // Decided by the object's owner on another node, for a socket bridged to it.
    const init = connectionInit(result);
    const session = code !== null && this.#sessions.open(host, result, code);
    return this.#bind(
      request,
      result,
      host,
      slot,
      session ? wire.SESSION_PROTOCOL : init?.protocol ?? "",
      !session,
      init?.headers,
    );
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
    from: GatewayEndpoint | "worker" | "fallback",
    session: wire.HelloCode | null = null,
  ): Response {
    const report = (error: unknown) =>
      typeof from === "object"
        ? from.report(error, "fetch")
        : this.#report(error, { namespace: "*", operation: `${from}.fetch` });
    const target = upgradeTarget(response);
    if (target === undefined) {
      if (!isBare101(response)) return response;
      if (!wasReported(response)) report(bare101Error());
      return internalError();
    }
    const server = target.server;
    const owner = scope.take(server);
    if (owner === null) {
      report(
        new TypeError(
          server[ACCEPTED]
            ? "Cannot upgrade as the server end of webSocketResponse(client) was not accepted for this request: accept it with ctx.acceptWebSocket(server) in the fetch() that returns it"
            : "Cannot upgrade as the server end was not accepted: call ctx.acceptWebSocket(server) before returning webSocketResponse(client)",
        ),
      );
      return internalError();
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
      return from === "fallback" ? internalError() : checkUpgrade(request, false)!;
    }
    const chosen = target.init.protocol || undefined; // the application's own choice wins
    const resumable = !chosen && session !== null && typeof from === "object" &&
      this.#sessions.open(from, server, session);
    const protocol = resumable ? wire.SESSION_PROTOCOL : chosen ?? "";
    return this.#bind(request, server, owner, slot, protocol, !resumable, target.init.headers);
  }

  /** Upgrades `request` and binds the accepted `server` end to the runtime socket. */
  #bind(
    request: Request,
    server: Connection,
    owner: ScopeHost,
    slot: Slot,
    protocol: string,
    plain: boolean, // no session: a client that asked for one is told so first
    headers?: HeadersInit,
  ): Response {
    if (plain) protocol = wire.selectProtocol(request, protocol);
    let upgraded: { socket: globalThis.WebSocket; response: Response };
    try {
      upgraded = this.#upgrade(request, {
        protocol: protocol || undefined,
        idleTimeout: this.#options.idleTimeout,
      });
    } catch (error) {
      server[FAIL_UPGRADE]();
      owner.report(error, "upgrade");
      return new Response(error instanceof Error ? error.message : "Upgrade failed", {
        status: 400,
      });
    }
    const unsupported = plain && protocol === wire.SESSION_PROTOCOL;
    if (unsupported) wire.helloUnsupported(upgraded.socket);
    server[BIND](upgraded.socket, request.url, unsupported ? "" : protocol);
    // The reserved slot now belongs to the socket; socketGone releases it.
    this.#admission.bind(slot, server);
    if (headers) {
      for (const [key, value] of new Headers(headers)) upgraded.response.headers.set(key, value);
    }
    return upgraded.response;
  }
}
