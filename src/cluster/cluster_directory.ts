/**
 * {@linkcode ClusterDirectory}: the {@linkcode ObjectDirectory} of a node in
 * a cluster. Each call asks the placement where the object lives: on this
 * node it goes to the local host, exactly as in one process; on another node
 * it becomes a request to the owner over the transport. A timeout or a "not
 * owner" reply re-resolves once; after that, or without a transport, the
 * call fails with {@linkcode OwnerUnavailableError} (503 at the gateway).
 *
 * @module
 */

import { ObjectElsewhereError, ObjectFullError, OwnerUnavailableError } from "../errors.ts";
import type { ClassHandlers } from "../objects/class_definition.ts";
import type { HostTable } from "../objects/host_table.ts";
import type { ObjectHost } from "../objects/object_host.ts";
import type { ObjectId } from "../objects/object_id.ts";
import type { EndpointBroadcastOptions, ObjectEndpoint } from "../objects/object_directory.ts";
import type { BroadcastPayload } from "../sockets/broadcast.ts";
import type { PresenceEntry } from "../sockets/presence.ts";
import { Connection } from "../sockets/connection.ts";
import { SID } from "../sockets/connection_internals.ts";
import { connectionInit } from "../sockets/web_socket_pair.ts";
import type { AutoResponse } from "../sockets/auto_response.ts";
import type { AlarmInvocationInfo } from "../types.ts";
import { errorFrom, NoReply, type Reply } from "./cluster_node.ts";
import type { Placement } from "./placement.ts";
import type { SocketBridge } from "./socket_bridge.ts";
import { FAILED, NOT_OWNER } from "./wire.ts";

/** How the directory reaches other nodes; `null` parts when no transport is configured. */
export interface ClusterReach {
  /** The placement, once the app started (awaited by every call). */
  placement(): Promise<Placement>;
  /** Sends a request to `node`; `null` without a transport. */
  readonly request: ((node: string, body: unknown) => Promise<Reply>) | null;
  /** Whether the transport is up now. */
  up(): boolean;
  /**
   * Why the transport cannot reach `node` (its lease names another process
   * the transport does not link), or `null` when it can or cannot tell.
   */
  unreachable(node: string): string | null | Promise<string | null>;
  readonly bridge: SocketBridge;
  /** This node's boot (socket records of sockets held here are kept under it). */
  boot(): string;
}

/** What the gateway needs of an endpoint besides the seam: the class, and where to report. */
export interface GatewayEndpoint extends ObjectEndpoint {
  readonly runtime: { readonly binding: string; readonly handlers: ClassHandlers };
  report(error: unknown, operation: string): void;
  adopt(ws: Connection): boolean;
}

/** The objects of a cluster node: here, or on their owner. */
export class ClusterDirectory {
  readonly #tables: () => ReadonlyMap<string, HostTable>;
  readonly reach: ClusterReach;

  /** `tables`: the host table of each registered class, by binding name (read on each call). */
  constructor(tables: () => ReadonlyMap<string, HostTable>, reach: ClusterReach) {
    this.#tables = tables;
    this.reach = reach;
  }

  /** The endpoint of object `id` of class `namespace`, wherever it lives. */
  locate(namespace: string, id: ObjectId): ClusterEndpoint {
    const table = this.#tables().get(namespace);
    if (table === undefined) {
      throw new TypeError(`Cannot locate an object of "${namespace}": no class has that binding`);
    }
    return new ClusterEndpoint(this.reach, table, id);
  }
}

/** One object as callers on this node see it. */
export class ClusterEndpoint implements GatewayEndpoint {
  readonly id: ObjectId;
  readonly #reach: ClusterReach;
  readonly #table: HostTable;

  constructor(reach: ClusterReach, table: HostTable, id: ObjectId) {
    this.#reach = reach;
    this.#table = table;
    this.id = id;
  }

  get runtime(): HostTable["runtime"] {
    return this.#table.runtime;
  }

  /** The id in hex. */
  get hex(): string {
    return this.id.toString();
  }

  /** Whether this node owns the object (claiming it when it has no live owner). */
  async local(): Promise<boolean> {
    const placement = await this.#reach.placement();
    return (await placement.locate(this.runtime.storageName, this.hex)).local;
  }

  report(error: unknown, operation: string): void {
    this.runtime.app.report(error, {
      namespace: this.runtime.binding,
      id: this.id.toString(),
      operation,
    });
  }

  adopt(_ws: Connection): boolean {
    return false;
  }

  #body(kind: string, rest: object): Record<string, unknown> {
    return {
      k: kind,
      s: this.runtime.storageName,
      i: this.id.toString(),
      n: this.id.name,
      ...rest,
    };
  }

  /** Runs `local` on this node's host, or `remote` against the owner (re-resolved once). */
  async #route<T>(
    local: (host: ObjectHost) => Promise<T>,
    remote: (node: string, request: (node: string, body: unknown) => Promise<Reply>) => Promise<T>,
  ): Promise<T> {
    const placement = await this.#reach.placement();
    const storage = this.runtime.storageName;
    const hex = this.id.toString();
    let silent: (NoReply & { node: string }) | null = null; // the owner tried first, if it did not answer
    for (let attempt = 0;; attempt++) {
      const where = await placement.locate(storage, hex);
      if (where.local) return local(this.#table.host(this.id));
      const request = this.#reach.request;
      const binding = this.runtime.binding;
      if (request === null) throw new ObjectElsewhereError(storage, hex, where.node);
      let why = this.#reach.unreachable(where.node);
      if (why !== null && typeof why !== "string") why = await why;
      if (why !== null) throw new ObjectElsewhereError(storage, hex, where.node, why);
      if (!this.#reach.up()) {
        throw new OwnerUnavailableError(binding, where.node, "the cluster transport is down");
      }
      // The same owner again: not sent twice (it may have run the call before going silent).
      if (silent !== null && where.node === silent.node) {
        throw new OwnerUnavailableError(
          binding,
          where.node,
          `it did not answer (${silent.message})`,
        );
      }
      try {
        return await remote(where.node, request);
      } catch (error) {
        if (!(error instanceof NoReply || error instanceof NotOwner)) throw error;
        if (attempt > 0) {
          throw new OwnerUnavailableError(
            binding,
            where.node,
            error instanceof NoReply
              ? `it did not answer (${error.message})`
              : "it no longer owns it",
          );
        }
        if (error instanceof NoReply) silent = Object.assign(error, { node: where.node });
        placement.invalidate(storage, hex);
      }
    }
  }

  fetch(request: Request): Promise<Response> {
    return this.#route((host) => host.fetch(request), async (node, send) => {
      // Without a body nothing is awaited here, so calls leave in the order they were made.
      const body = request.body === null ? requestBody(request, false) : await requestBody(request);
      const out = answer(await send(node, this.#body("fetch", body))) as ResponseBody;
      return responseFrom(out);
    });
  }

  connect(request: Request): Promise<Connection | Response> {
    return this.#route((host) => host.connect(request), async (node, send) => {
      const bridge = this.#reach.bridge;
      const conn = new Connection();
      bridge.held.expect(conn, this.id.name);
      let out: ConnectAnswer;
      try {
        out = answer(
          await send(
            node,
            this.#body("connect", {
              ...requestBody(request, false),
              sid: conn[SID],
              boot: this.#reach.boot(),
            }),
          ),
        ) as ConnectAnswer;
      } catch (error) {
        bridge.held.abandon(conn);
        throw error;
      }
      if (out.a === "full") {
        bridge.held.abandon(conn);
        throw new ObjectFullError(out.l);
      }
      if (out.a === "response") {
        bridge.held.abandon(conn);
        return responseFrom(out);
      }
      const auto: AutoResponse | null = out.ar === null
        ? null
        : Object.freeze({ request: out.ar[0], response: out.ar[1] });
      const where = { storage: this.runtime.storageName, hex: this.id.toString() };
      bridge.held.hold(conn, node, where, auto, out.pl);
      connectionInit(conn, { protocol: out.p, headers: out.h ?? undefined });
      return conn;
    });
  }

  call(method: string, args: readonly unknown[]): Promise<unknown> {
    return this.#route((host) => host.call(method, args), async (node, send) => {
      // The platform's clone first: the same DataCloneError as in one process.
      const cloned = structuredClone(args);
      return answer(await send(node, this.#body("call", { f: method, a: cloned })));
    });
  }

  alarm(info: AlarmInvocationInfo): Promise<void> {
    return this.#route((host) => host.alarm(info), async (node, send) => {
      answer(await send(node, this.#body("alarm", { x: { ...info } })));
    });
  }

  presence(): Promise<readonly PresenceEntry[]> {
    return this.#route((host) => host.presence(), async (node, send) => {
      return answer(await send(node, this.#body("presence", {}))) as PresenceEntry[];
    });
  }

  broadcast(payload: BroadcastPayload, options?: EndpointBroadcastOptions): Promise<number> {
    return this.#route((host) => host.broadcast(payload, options), async (node, send) => {
      return answer(await send(node, this.#body("broadcast", { p: payload, t: options?.tag })));
    }) as Promise<number>;
  }
}

/** The owner answered "not owner" (it ran nothing): re-resolve and send again. */
class NotOwner extends Error {}

function answer(reply: Reply): unknown {
  if (reply.status === NOT_OWNER) throw new NotOwner();
  if (reply.status === FAILED) throw errorFrom(reply.body);
  return reply.body;
}

/** A request as it travels. */
export interface RequestBody {
  readonly m: string;
  readonly u: string;
  readonly h: [string, string][];
  readonly b: Uint8Array<ArrayBuffer> | null;
}

/** A response as it travels. */
export interface ResponseBody {
  readonly st: number;
  readonly sx: string;
  readonly h: [string, string][];
  readonly b: Uint8Array<ArrayBuffer> | null;
}

/** The owner's answer to a connect. */
export type ConnectAnswer =
  | {
    a: "accept";
    p: string;
    h: [string, string][] | null;
    ar: [string, string] | null;
    pl: boolean;
  }
  | ({ a: "response" } & ResponseBody)
  | { a: "full"; l: number };

/** `request` as it travels, without its body. */
export function requestBody(request: Request, withBody: false): RequestBody;
/** `request` as it travels, its body read. */
export function requestBody(request: Request, withBody?: true): Promise<RequestBody>;
export function requestBody(
  request: Request,
  withBody = true,
): RequestBody | Promise<RequestBody> {
  const head = { m: request.method, u: request.url, h: [...request.headers], b: null };
  if (!withBody || request.body === null) return head;
  return request.arrayBuffer().then((bytes) => ({ ...head, b: new Uint8Array(bytes) }));
}

/** The request a {@linkcode RequestBody} stands for. */
export function requestFrom(body: RequestBody): Request {
  return new Request(body.u, { method: body.m, headers: body.h, body: body.b });
}

/** `response` as it travels. */
export async function responseBody(response: Response): Promise<ResponseBody> {
  const b = response.body === null ? null : new Uint8Array(await response.arrayBuffer());
  return { st: response.status, sx: response.statusText, h: [...response.headers], b };
}

/** The response a {@linkcode ResponseBody} stands for. */
export function responseFrom(body: ResponseBody): Response {
  const empty = body.st === 204 || body.st === 205 || body.st === 304;
  return new Response(empty ? null : body.b, {
    status: body.st,
    statusText: body.sx,
    headers: body.h,
  });
}
