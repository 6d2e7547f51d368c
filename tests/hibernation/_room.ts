/** The object, routes and KV helpers the hibernation tests share. */
import {
  DurableObject,
  durableObject,
  type WebSocket,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";
import { parseHibernationKey } from "../../src/kv/keys.ts";

/** The storage name of {@linkcode Room}. */
export const STORAGE = "kroom";

@durableObject({ name: STORAGE })
/** Accepts with the `user` query as tag and an attachment; echoes; `auto`, `whoami`. */
export class Room extends DurableObject {
  fetch(request: Request): Response {
    const user = new URL(request.url).searchParams.get("user") ?? "anon";
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, [user]);
    server.serializeAttachment({ user, at: new Date(0), n: 1n });
    return webSocketResponse(client);
  }

  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (message === "auto") {
      this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
      return ws.send("ok");
    }
    if (message === "whoami") {
      const a = ws.deserializeAttachment() as { user: string; at: Date; n: bigint } | null;
      return ws.send(JSON.stringify(a && { user: a.user, at: a.at.getTime(), n: String(a.n) }));
    }
    ws.send(message);
  }

  /** RPC: sets (or clears) the per-object settings. */
  configure(on: boolean): void {
    this.ctx.setWebSocketAutoResponse(on ? new WebSocketRequestResponsePair("ping", "pong") : null);
    this.ctx.setHibernatableWebSocketEventTimeout(on ? 5_000 : null);
  }

  /** RPC: the per-object settings as this instance sees them. */
  settings(): { auto: [string, string] | null; timeout: number | null } {
    const auto = this.ctx.getWebSocketAutoResponse();
    return {
      auto: auto && [auto.request, auto.response],
      timeout: this.ctx.getHibernatableWebSocketEventTimeout(),
    };
  }
}

/** `/room/:name` → `ROOM`. */
export const ROUTES = [{ pattern: "/room/:name", object: "ROOM" }];

/** Every hibernation record in `kv`, as `kind` (`ws`/`ts`/`cfg`) with key and value. */
export async function records(
  kv: Deno.Kv,
): Promise<Array<{ kind: string; key: Deno.KvKey; value: unknown }>> {
  const out = [];
  for await (const entry of kv.list({ prefix: ["dormant", "h"] })) {
    out.push({
      kind: String(parseHibernationKey(entry.key).kind),
      key: entry.key,
      value: entry.value,
    });
  }
  return out;
}

/** How many records of `kind`. */
export function count(list: Array<{ kind: string }>, kind: string): number {
  return list.filter((r) => r.kind === kind).length;
}
