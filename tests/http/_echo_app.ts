/** An echo object that counts its constructions, served on a name route and an id route. */
import {
  DurableObject,
  type DurableObjectState,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { serveApp } from "../_helpers.ts";

export interface Env {
  readonly counts: { constructed: number };
}

/** Accepts every connection, echoes, and counts its constructions. */
export class Echo extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    env.counts.constructed++;
  }
  fetch(_request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server!);
    return webSocketResponse(client!);
  }
  webSocketMessage(ws: import("../../mod.ts").WebSocket, message: string | ArrayBuffer): void {
    ws.send(message);
  }
}

export type Options = Omit<Parameters<typeof serveApp<{ E: typeof Echo }>>[0], "objects" | "env">;

export async function serveEcho(options: Options = {}) {
  const counts = { constructed: 0 };
  const s = await serveApp({
    objects: { E: Echo },
    env: { counts },
    routes: [{ pattern: "/e/:name", object: "E" }, { pattern: "/o/:id", object: "E", id: "id" }],
    ...options,
  });
  return Object.assign(s, { counts });
}
