/**
 * The owner's side of requests from other nodes: a fetch, an RPC, an alarm,
 * a broadcast or a connect for an object this node owns runs on its local
 * host exactly as a local call would. A request for an object this node
 * does not own is answered "not owner", and the caller re-resolves.
 *
 * @module
 */

import { ObjectFullError } from "../errors.ts";
import { bare101Error, endGateway, isBare101, runGateway } from "../objects/binding_scope.ts";
import type { HostTable } from "../objects/host_table.ts";
import type { ObjectHost } from "../objects/object_host.ts";
import { ObjectId } from "../objects/object_id.ts";
import type { Connection } from "../sockets/connection.ts";
import { PLAIN } from "../sockets/connection_internals.ts";
import { upgradeTarget } from "../sockets/web_socket_pair.ts";
import type { AlarmInvocationInfo } from "../types.ts";
import {
  type ConnectAnswer,
  type RequestBody,
  requestFrom,
  type ResponseBody,
  responseBody,
} from "./cluster_directory.ts";
import { errorBody, type Reply } from "./cluster_node.ts";
import type { Placement } from "./placement.ts";
import type { SocketBridge } from "./socket_bridge.ts";
import { type ResumeBody, serveResume } from "./takeover.ts";
import { FAILED, NOT_OWNER, OK } from "./wire.ts";

/** Every request names its object: kind, storage name, id and (when known) name. */
interface Addressed {
  readonly k: "fetch" | "connect" | "call" | "alarm" | "broadcast" | "presence" | "resume";
  readonly s: string;
  readonly i: string;
  readonly n: string | undefined;
}

/** What serving needs: the tables by storage name, the placement and the bridge. */
export interface OwnerParts {
  readonly tables: () => Iterable<HostTable>;
  placement(): Promise<Placement>;
  readonly bridge: SocketBridge;
  /** The app's KV (socket records are read from it to resume a socket). */
  kv(): Deno.Kv;
  /** The per-object socket cap. */
  readonly maxSockets: number;
  /** Whether this node is shutting down. */
  readonly draining?: () => boolean;
}

/** Serves one request from node `from`. */
export async function serveRequest(parts: OwnerParts, from: string, raw: unknown): Promise<Reply> {
  const body = raw as Addressed & Record<string, unknown>;
  let table: HostTable | undefined;
  for (const t of parts.tables()) if (t.runtime.storageName === body.s) table = t;
  if (table === undefined) {
    return {
      status: FAILED,
      body: errorBody(
        new TypeError(
          `Cannot reach "${body.s}" objects on this node: no class has that storage name`,
        ),
      ),
    };
  }
  const placement = await parts.placement();
  let where: Awaited<ReturnType<Placement["locate"]>>;
  try {
    where = await placement.locate(body.s, body.i);
  } catch (error) {
    // A node shutting down claims nothing (it just released its objects): "not owner" makes the
    // caller resolve again and claim the object itself, instead of failing the request.
    if (parts.draining?.()) return { status: NOT_OWNER, body: null };
    throw error;
  }
  if (!where.local) return { status: NOT_OWNER, body: null };
  const host = table.host(new ObjectId(body.i, body.n));
  switch (body.k) {
    case "fetch": {
      const response = await host.fetch(requestFrom(body as unknown as RequestBody));
      if (response.status === 101) {
        throw new TypeError(
          "Cannot forward a WebSocket upgrade through stub.fetch() to an object on another node: route the upgrade to the object",
        );
      }
      return { status: OK, body: await responseBody(response) };
    }
    case "call":
      return { status: OK, body: await host.call(body.f as string, body.a as unknown[]) };
    case "alarm":
      await host.alarm(body.x as AlarmInvocationInfo);
      return { status: OK, body: null };
    case "broadcast":
      return {
        status: OK,
        body: await host.broadcast(body.p as string | ArrayBuffer, {
          tag: body.t as string | undefined,
        }),
      };
    case "presence":
      return { status: OK, body: await host.presence() };
    case "connect":
      return { status: OK, body: await serveConnect(parts.bridge, host, from, body) };
    case "resume": {
      const resume = body as unknown as ResumeBody;
      const answer = await serveResume(
        parts.kv(),
        parts.bridge,
        host,
        from,
        resume,
        parts.maxSockets,
      );
      return { status: OK, body: answer };
    }
  }
}

/**
 * A connect from a holder: the object's `@onConnect`, `fetch` or plain
 * accept runs as for a local upgrade; the accepted connection is bound to a
 * remote socket held by `from`.
 */
function serveConnect(
  bridge: SocketBridge,
  host: ObjectHost,
  from: string,
  body: Record<string, unknown>,
): Promise<ConnectAnswer> {
  const request = requestFrom(body as unknown as RequestBody);
  return runGateway(async (scope): Promise<ConnectAnswer> => {
    try {
      const result = await host.connect(request);
      let server: Connection;
      let protocol = "";
      let headers: [string, string][] | null = null;
      if (result instanceof Response) {
        const target = upgradeTarget(result);
        if (target === undefined) {
          if (isBare101(result)) {
            host.report(bare101Error(), "fetch");
            return { a: "response", ...internalError() };
          }
          return { a: "response", ...(await responseBody(result)) };
        }
        server = target.server;
        if (scope.take(server) === null) {
          host.report(
            new TypeError(
              "Cannot upgrade as the server end was not accepted: call ctx.acceptWebSocket(server) before returning webSocketResponse(client)",
            ),
            "fetch",
          );
          return { a: "response", ...internalError() };
        }
        protocol = target.init.protocol ?? "";
        if (target.init.headers !== undefined) headers = [...new Headers(target.init.headers)];
      } else {
        scope.take(result);
        server = result;
      }
      bridge.bindRemote(server, from, body.sid as string, body.boot as string, {
        storage: host.runtime.storageName,
        hex: host.hex,
        url: request.url,
        protocol,
      });
      const auto = host.settings.autoResponse;
      return {
        a: "accept",
        p: protocol,
        h: headers,
        ar: auto === null ? null : [auto.request, auto.response],
        pl: server[PLAIN],
      };
    } catch (error) {
      if (error instanceof ObjectFullError) return { a: "full", l: error.limit };
      host.report(error, host.runtime.handlers.connect ? "onConnect" : "fetch");
      return { a: "response", ...internalError() };
    } finally {
      endGateway(scope);
    }
  });
}

function internalError(): ResponseBody {
  return {
    st: 500,
    sx: "",
    h: [["content-type", "text/plain;charset=UTF-8"]] as [string, string][],
    b: new TextEncoder().encode("Internal Server Error"),
  };
}
