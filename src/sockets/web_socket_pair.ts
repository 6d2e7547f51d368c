import { Connection } from "./connection.ts";
import { markNotCloneable } from "../structured_clone/not_cloneable.ts";
import type { WebSocket } from "../types.ts";

/** The server end behind a client end, `undefined` for anything else. */
let serverOf: (client: unknown) => Connection | undefined;

/**
 * The client end of a {@linkcode WebSocketPair}: only good for returning in
 * {@linkcode webSocketResponse}. The real client is on the other side of the
 * network; sending on this end throws.
 */
class ClientEnd implements WebSocket {
  readonly #server: Connection;
  constructor(server: Connection) {
    this.#server = server;
  }
  static {
    // A module function, not a static method: `client.constructor` reaches nothing.
    serverOf = (client) => client instanceof ClientEnd ? client.#server : undefined;
  }
  get readyState(): number {
    return this.#server.readyState;
  }
  get url(): string | null {
    return this.#server.url;
  }
  get protocol(): string {
    return this.#server.protocol;
  }
  get bufferedAmount(): number {
    return 0;
  }
  send(): void {
    throw misuse();
  }
  close(): void {
    throw misuse();
  }
  serializeAttachment(): void {
    throw misuse();
  }
  deserializeAttachment<T>(): T {
    throw misuse();
  }
  accept(): void {
    throw misuse();
  }
  addEventListener(): void {
    throw misuse();
  }
  removeEventListener(): void {
    throw misuse();
  }
}
markNotCloneable(ClientEnd.prototype, "WebSocket");

function misuse(): TypeError {
  return new TypeError(
    "Cannot use the client end of a WebSocketPair: return it with webSocketResponse(client)",
  );
}

/**
 * Cloudflare's `WebSocketPair`: `[client, server]`. Accept `server` with
 * `ctx.acceptWebSocket(server)` (hibernatable) or `server.accept()` plus
 * `server.addEventListener(...)` (not hibernatable), and return
 * `webSocketResponse(client)` from `fetch`; the router then upgrades the
 * request and binds `server` to the real socket.
 *
 * @example Usage
 * ```ts
 * import { WebSocketPair } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * const pair = new WebSocketPair();
 * const [client, server] = Object.values(pair);
 * assert.ok(client !== server);
 * assert.equal(pair[1], server);
 * ```
 */
export class WebSocketPair {
  /** The client end, for {@linkcode webSocketResponse}. */
  readonly 0: WebSocket;
  /** The server end, for `ctx.acceptWebSocket()` or `accept()`. */
  readonly 1: WebSocket;

  constructor() {
    const server = new Connection();
    this[0] = new ClientEnd(server);
    this[1] = server;
  }
}
markNotCloneable(WebSocketPair.prototype, "WebSocketPair");

/** Options of {@linkcode webSocketResponse}. */
export interface WebSocketResponseInit {
  /** The subprotocol to agree to; must be one the client offered. */
  readonly protocol?: string;
  /** Extra headers for the 101 response. */
  readonly headers?: HeadersInit;
}

const marked = new WeakMap<Response, { server: Connection; init: WebSocketResponseInit }>();

/**
 * Replaces Cloudflare's `new Response(null, { status: 101, webSocket: client })`:
 * a marker response (status 101) telling the app to upgrade the request and
 * bind the pair's server end. Return it from the object's `fetch`; a worker
 * returns what `stub.fetch(request)` gave it, and the app upgrades the
 * original request. A marker that is dropped, or returned where no upgrade
 * can follow (an RPC method, an alarm), closes the socket at once.
 *
 * @param client The client end of a {@linkcode WebSocketPair}.
 * @param init Optional subprotocol and headers.
 * @returns The marker response.
 * @throws {TypeError} If `client` is not the client end of a `WebSocketPair`.
 *
 * @example Usage
 * ```ts
 * import { WebSocketPair, webSocketResponse } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * const [client] = Object.values(new WebSocketPair());
 * const response = webSocketResponse(client);
 * assert.ok(response instanceof Response);
 * ```
 */
export function webSocketResponse(client: WebSocket, init: WebSocketResponseInit = {}): Response {
  const server = serverOf(client);
  if (!server) {
    throw new TypeError(
      "Cannot build a WebSocket response: pass the client end of a WebSocketPair (pair[0])",
    );
  }
  return upgradeResponse(server, init);
}

/** The marker response for a server end the framework accepted itself (`@onConnect`). */
export function upgradeResponse(server: Connection, init: WebSocketResponseInit = {}): Response {
  // Status 101 as on Cloudflare, so worker code that checks `response.status === 101` ports.
  const response = new Response(null, { status: 101, headers: init.headers });
  marked.set(response, { server, init });
  return response;
}

/** The server end and options behind a marker response, if it is one. */
export function upgradeTarget(
  response: Response,
): { server: Connection; init: WebSocketResponseInit } | undefined {
  return marked.get(response);
}

const bridged = new WeakMap<Connection, WebSocketResponseInit>();

/**
 * The subprotocol and headers an upgrade of `server` answers with, when they
 * were decided elsewhere (by the object's owner on another node): set once
 * before the gateway binds the connection, read by it.
 */
export function connectionInit(
  server: Connection,
  init?: WebSocketResponseInit,
): WebSocketResponseInit | undefined {
  if (init !== undefined) bridged.set(server, init);
  return bridged.get(server);
}
