/**
 * Binding scopes: which accepted server ends an upgrade can still bind. The
 * gateway runs each request in a scope; every call into an object (fetch,
 * `@onConnect`, RPC, alarm) runs in its own scope, made when the call is
 * made. A socket accepted during a call is carried out of it only by the
 * `webSocketResponse(client)` the call returns, and only to a caller that can
 * pass it on (an object's `fetch` or the gateway). Every other accepted end
 * can never be bound: it is failed at once (it leaves `getWebSockets()`, the
 * object gets `webSocketClose(ws, 1006, "", false)`) and the fix is reported.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { Connection } from "../sockets/connection.ts";
import { BOUND, FAIL_UPGRADE, OWNER, PLAIN } from "../sockets/connection_internals.ts";
import { upgradeTarget } from "../sockets/web_socket_pair.ts";

/** What a scope needs from the object a call runs in. */
export interface ScopeHost {
  readonly runtime: { readonly binding: string };
  report(error: unknown, operation: string): void;
  /** Takes an `accept()`ed end its fetch() returns; false if `ws` is no such end. */
  adopt(ws: Connection): boolean;
}

/** A request through the gateway (`host === null`) or one call into an object. */
export class BindingScope {
  /** Until the request or call ended. */
  open = true;
  /** The request ended in an error that was reported already. */
  failed = false;
  /** Sockets accepted here, or carried here by a returned marker response. */
  sockets: Connection[] | null = null;
  /** The object whose socket each entry of `sockets` is, for reports. */
  hosts: ScopeHost[] | null = null;

  constructor(
    readonly host: ScopeHost | null,
    readonly operation: string,
    readonly caller: BindingScope | undefined,
  ) {}

  /** Takes `ws` out of this scope (the gateway binds it now): its object, or `null` if not here. */
  take(ws: Connection): ScopeHost | null {
    const i = this.sockets?.indexOf(ws) ?? -1;
    if (i < 0) return null;
    this.sockets!.splice(i, 1);
    return this.hosts!.splice(i, 1)[0]!;
  }

  add(ws: Connection, host: ScopeHost): void {
    (this.sockets ??= []).push(ws);
    (this.hosts ??= []).push(host);
  }
}

const scopes = new AsyncLocalStorage<BindingScope | undefined>();

/** Responses with status 101 that were reported already (by the call that returned them). */
const reported = new WeakSet<Response>();

/** Runs `fn` in a new gateway scope; call `endGateway(scope)` once the request is answered. */
export function runGateway<T>(fn: (scope: BindingScope) => T): T {
  const scope = new BindingScope(null, "fetch", undefined);
  return scopes.run(scope, fn, scope);
}

/** A scope for a call into `host`, made now: the caller is whoever makes the call. */
export function openCall(host: ScopeHost, operation: string): BindingScope {
  return new BindingScope(host, operation, scopes.getStore());
}

/** Runs a call's function on `instance` in its scope. */
export function runCall<T>(
  scope: BindingScope,
  fn: (instance: object) => T,
  instance: object,
): T {
  return scopes.run(scope, fn, instance);
}

/** `host` accepted `ws`: it belongs to the call running now, if any. */
export function recordAccept(host: ScopeHost, ws: Connection): void {
  const scope = scopes.getStore();
  if (scope !== undefined && scope.open && scope.host === host) return scope.add(ws, host);
  fail(
    ws,
    host,
    "acceptWebSocket",
    new TypeError(
      `Cannot keep a WebSocket accepted outside ${host.runtime.binding}'s fetch() (in a WebSocket handler, the constructor, a timer or after fetch() returned): no upgrade can bind it, so it was closed (webSocketClose 1006). Accept the server end in fetch() and return webSocketResponse(client)`,
    ),
  );
}

/** The socket `value` carries out of a call: a marker response's server end, or a connection. */
function carriedBy(value: unknown): Connection | undefined {
  if (value instanceof Response) return upgradeTarget(value)?.server;
  // The gateway's own accept and @onConnect calls return the connection itself.
  return value instanceof Connection ? value : undefined;
}

/** Whether `response` is a 101 that Deno cannot send as an upgrade. */
export function isBare101(response: Response): boolean {
  return response.status === 101 && upgradeTarget(response) === undefined &&
    !response.headers.has("sec-websocket-accept");
}

/** The error for a `new Response(null, { status: 101, webSocket })`. */
export function bare101Error(): TypeError {
  return new TypeError(
    "Cannot upgrade with a Response built with status 101 (Deno sends it without a handshake): return webSocketResponse(client) instead of new Response(null, { status: 101, webSocket })",
  );
}

/** Whether a 101 response was reported by the call that returned it. */
export function wasReported(response: Response): boolean {
  return reported.has(response);
}

/** The call in `scope` ended with `value` (or threw): hand on or fail what it accepted. */
export function endCall(scope: BindingScope, value: unknown, failed: boolean): void {
  scope.open = false;
  const sockets = scope.sockets;
  const hosts = scope.hosts;
  scope.sockets = scope.hosts = null;
  const host = scope.host!;
  const carried = failed ? undefined : carriedBy(value);
  let why: TypeError | null = null;
  if (!failed && value instanceof Response && isBare101(value)) {
    reported.add(value);
    why = bare101Error();
    host.report(why, scope.operation);
  }
  let owner: ScopeHost | null = null; // set when `carried` was accepted or carried here
  // An accept()ed end becomes the object's whose fetch() returns it, and travels on from here
  // as an accepted one does.
  if (carried !== undefined && carried[PLAIN] && carried[OWNER] === null && host.adopt(carried)) {
    owner = host;
  }
  if (sockets !== null) {
    for (let i = 0; i < sockets.length; i++) {
      const ws = sockets[i]!;
      if (ws === carried) {
        owner = hosts![i]!;
        continue;
      }
      // A call that threw is reported by its caller; a bare 101 was reported above.
      const error = failed || why !== null ? null : notCarried(scope, value);
      fail(ws, hosts![i]!, scope.operation, error);
    }
  }
  if (owner === null) return;
  const caller = scope.caller;
  if (
    caller !== undefined && caller.open && (caller.host === null || caller.operation === "fetch")
  ) {
    return caller.add(carried!, owner);
  }
  const where = caller === undefined || !caller.open
    ? "code outside a request (a WebSocket handler, a timer, waitUntil or a request that already ended)"
    : labelOf(caller);
  fail(
    carried!,
    owner,
    scope.operation,
    new TypeError(
      `Cannot upgrade with the response of ${
        labelOf(scope)
      }: stub.fetch() was called from ${where}, which cannot pass a WebSocket on, so it was closed (webSocketClose 1006). Forward WebSocket upgrades with return stub.fetch(request) from the worker's fetch (new App({ worker })) or an object's fetch()`,
    ),
  );
}

function labelOf(scope: BindingScope): string {
  return `${scope.host!.runtime.binding}.${scope.operation}()`;
}

function notCarried(scope: BindingScope, value: unknown): TypeError {
  const label = labelOf(scope);
  if (scope.operation !== "fetch" && scope.operation !== "onConnect") {
    return new TypeError(
      `Cannot keep the WebSocket accepted in ${label}: only fetch() can hand a WebSocket to an upgrade, so it was closed (webSocketClose 1006). Accept the server end in fetch() and return webSocketResponse(client)`,
    );
  }
  const what = value instanceof Response ? `a ${value.status} response` : "no WebSocket response";
  return new TypeError(
    `Cannot keep the WebSocket accepted in ${label}: it returned ${what}, not webSocketResponse(client) for that socket, so no upgrade can bind it and it was closed (webSocketClose 1006). Return webSocketResponse(client), or accept only when you upgrade`,
  );
}

/** The request in the gateway scope `scope` was answered: fail every socket it did not bind. */
export function endGateway(scope: BindingScope): void {
  scope.open = false;
  const sockets = scope.sockets;
  const hosts = scope.hosts;
  scope.sockets = scope.hosts = null;
  if (sockets === null) return;
  for (let i = 0; i < sockets.length; i++) {
    const ws = sockets[i]!;
    if (ws[BOUND]) continue;
    const host = hosts![i]!;
    fail(
      ws,
      host,
      "fetch",
      scope.failed ? null : new TypeError(
        `Cannot upgrade with the WebSocket accepted in ${host.runtime.binding}.fetch(): the response of stub.fetch() that carries it was not returned as the answer to the request, so it was closed (webSocketClose 1006). Return the stub's response itself (return stub.fetch(request)); a copy such as new Response(response.body, response) does not carry the WebSocket`,
      ),
    );
  }
}

/**
 * Fails an accepted end that will never be bound, on a microtask: after the
 * code that accepted it returns, before its caller continues.
 */
export function fail(
  ws: Connection,
  host: ScopeHost,
  operation: string,
  error: TypeError | null,
): void {
  queueMicrotask(() => {
    if (ws[BOUND] || ws.readyState === 3) return;
    ws[FAIL_UPGRADE]();
    if (error !== null) host.report(error, operation);
  });
}
