/**
 * What the gateway answers by itself, before or instead of an object: the
 * 400 of a bad object name or id, the 503s of an object this node cannot
 * reach, the 500 of a failure, and the 1013 of a full object.
 *
 * @module
 */

import type { ObjectElsewhereError, OwnerUnavailableError } from "../errors.ts";
import type { DurableObjectNamespace } from "../objects/namespace.ts";
import type { ObjectId } from "../objects/object_id.ts";
import * as wire from "../sessions/resume_protocol.ts";
import type { RouteTarget } from "./hooks.ts";
import type { RouteMatch } from "./router.ts";
import type { Upgrader } from "./upgrade.ts";

/** The object a matched route names, or the 400 for a bad name or id. */
export function targetOf(
  namespace: DurableObjectNamespace<unknown>,
  match: RouteMatch,
): RouteTarget | Response {
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

/** 500: a handler failed (its error went to `onException`, not to the client). */
export function internalError(): Response {
  return new Response("Internal Server Error", { status: 500 });
}

/** 503 for an object whose owner this node cannot reach; the code tells clients to retry. */
export function unavailable(error: OwnerUnavailableError): Response {
  return new Response(`Service Unavailable: ${error.code}`, {
    status: 503,
    headers: { "retry-after": "1" },
  });
}

/** 503: another live node owns the object and nothing can route there (no transport). */
export function ownedElsewhere(error: ObjectElsewhereError): Response {
  return new Response(`Service Unavailable: ${error.message}`, {
    status: 503,
    headers: { "retry-after": "1", "x-dormant-error": error.code },
  });
}

/** Upgrades `request` and closes the socket at once with 1013 "Object is full". */
export function refuseFull(upgrade: Upgrader, request: Request): Response {
  const protocol = wire.selectProtocol(request, undefined) || undefined;
  const { socket, response } = upgrade(request, { protocol });
  socket.onopen = () => socket.close(1013, "Object is full");
  return response;
}
