/** Builds the chat app; `main.ts` serves it, tests build it in-process. */
import { App, type Clock, type ExceptionHandler } from "@dormant/dormant";
import { ChatRoom } from "./chat_room.ts";
import { PAGE } from "./page.ts";

/** Options of {@linkcode createChatApp}. */
export interface ChatAppOptions {
  kv?: Deno.Kv;
  kvPath?: string;
  clock?: Clock;
  hibernateAfterMs?: number;
  historyTtlMs?: number;
  onException?: ExceptionHandler;
}

/** The chat app: `/` serves the page, `/rooms/:room/ws?name=NICK` joins a room. */
export function createChatApp(options: ChatAppOptions = {}) {
  return new App({
    objects: { ROOM: ChatRoom },
    env: { HISTORY_TTL_MS: options.historyTtlMs ?? 3_600_000 },
    routes: [{ pattern: "/rooms/:room/ws", object: "ROOM", name: "room" }],
    fallback: (request) => {
      const { pathname } = new URL(request.url);
      if (pathname === "/" && request.method === "GET") {
        return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
      }
      return new Response("Not Found", { status: 404 });
    },
    kv: options.kv,
    kvPath: options.kvPath,
    clock: options.clock,
    hibernateAfterMs: options.hibernateAfterMs,
    onException: options.onException,
  });
}
