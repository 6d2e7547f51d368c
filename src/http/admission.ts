/**
 * Connection slots: who may open a WebSocket, checked after the headers and
 * before any object wakes (origin, the process cap, the per-address cap), and
 * the 503 every request gets while the app drains.
 *
 * @module
 */

import { BOUND } from "../sockets/connection_internals.ts";
import type { Connection } from "../sockets/connection.ts";

/** A connection slot taken before the hook runs; kept by the socket once bound. */
export interface Slot {
  /** The client address, when per-address counting is on. */
  readonly ip: string | undefined;
  bound: boolean;
}

/** Limits of {@linkcode Admission}. */
export interface AdmissionOptions {
  /** Open sockets per process. */
  readonly maxConnections: number;
  /** Open sockets per client address. */
  readonly maxConnectionsPerIp?: number;
  /** Browser origins allowed to open WebSockets (requests without `Origin` pass). */
  readonly allowedOrigins?: readonly string[];
}

/** The connection count of the process, per address, and the draining switch. */
export class Admission {
  readonly #options: AdmissionOptions;
  #connections = 0;
  #perIp = new Map<string, number>();
  #ipOf = new WeakMap<Connection, string>();
  #draining = false;
  #maxConnections: number;

  /** Creates the instance. */
  constructor(options: AdmissionOptions) {
    this.#options = options;
    this.#maxConnections = options.maxConnections;
  }

  /** Sets the process cap (`serve()` applies the open-file limit when none was given). */
  cap(maxConnections: number): void {
    this.#maxConnections = maxConnections;
  }

  /** Open (and closing) sockets, plus slots taken by upgrades in progress. */
  get connections(): number {
    return this.#connections;
  }

  /** Whether the app is shutting down: matched requests get {@linkcode shuttingDown}. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Refuses new work from now on. */
  drain(): void {
    this.#draining = true;
  }

  /** Upgrade-time checks after the headers: origin, process and per-address caps. */
  admit(request: Request, info: Deno.ServeHandlerInfo | undefined): Slot | Response {
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

  /** Gives back a slot that no socket took. */
  release(ip: string | undefined): void {
    this.#connections--;
    if (ip === undefined) return;
    const n = (this.#perIp.get(ip) ?? 1) - 1;
    if (n === 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n);
  }

  // The sockets bound here: a connection bound to a socket another node holds has no slot here.
  readonly #bound = new WeakSet<Connection>();

  /** The reserved slot now belongs to the socket; {@linkcode Admission.socketGone} releases it. */
  bind(slot: Slot, server: Connection): void {
    slot.bound = true;
    this.#bound.add(server);
    if (slot.ip !== undefined) this.#ipOf.set(server, slot.ip);
  }

  /** A socket left its object: its slot is free (a socket another node holds has none here). */
  socketGone(ws: Connection): void {
    if (ws[BOUND] && this.#bound.delete(ws)) this.release(this.#ipOf.get(ws));
  }
}

/** The answer while the app shuts down. */
export function shuttingDown(): Response {
  return new Response("Server is shutting down", { status: 503, headers: { "retry-after": "1" } });
}
