/** A Cloudflare chat room behind a Cloudflare worker, served with a direct route beside it. */
import {
  type AppOptions,
  DurableObject,
  type DurableObjectNamespace,
  type ExecutionContext,
  type ExportedHandler,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { serveApp } from "../_helpers.ts";

export interface ChatEnv {
  ROOMS: DurableObjectNamespace<ChatRoom>;
  closes: Array<[number, string, boolean]>;
  calls: string[];
}

/** A Cloudflare chat room, as written for Cloudflare (only its upgrade line differs). */
export class ChatRoom extends DurableObject<ChatEnv> {
  fetch(request: Request): Response {
    if (request.headers.get("Upgrade") !== "websocket") {
      return new Response("Expected WebSocket", { status: 426 });
    }
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server!);
    return webSocketResponse(client!);
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
    for (const peer of this.ctx.getWebSockets()) if (peer !== ws) peer.send(message);
  }
  webSocketClose(_ws: WebSocket, code: number, reason: string, wasClean: boolean) {
    this.env.closes.push([code, reason, wasClean]);
  }
  open(): number {
    return this.ctx.getWebSockets().length;
  }
}

/** A Cloudflare project's `export default`, passed as it is. */
export const chatWorker = {
  async fetch(request: Request, env: ChatEnv, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    env.calls.push(url.pathname);
    if (url.pathname === "/") return new Response("home");
    if (url.pathname === "/late") {
      ctx.waitUntil(Promise.reject(new Error("late failure")));
      return new Response("later");
    }
    const room = url.pathname.split("/")[2] ?? "lobby";
    const stub = env.ROOMS.get(env.ROOMS.idFromName(room));
    if (url.pathname.startsWith("/drop/")) {
      await stub.fetch(request); // the upgrade response is dropped
      return new Response("dropped", { status: 403 });
    }
    return stub.fetch(request);
  },
} satisfies ExportedHandler<ChatEnv>;

export async function serveChat(
  options: Pick<AppOptions<{ ROOMS: typeof ChatRoom }>, "allowedOrigins" | "maxConnections"> = {},
) {
  const env: Omit<ChatEnv, "ROOMS"> = { closes: [], calls: [] };
  const s = await serveApp({
    objects: { ROOMS: ChatRoom },
    env,
    worker: chatWorker,
    routes: [{ pattern: "/direct/:name", object: "ROOMS" }],
    ...options,
  });
  return Object.assign(s, env);
}
