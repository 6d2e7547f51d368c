/** Builds the chat app; `main.ts` serves it, tests build it in-process. */
import {
  App,
  type Clock,
  type ClusterOptions,
  type DurableObjectNamespace,
  type ExceptionHandler,
} from "@dormant/dormant";
import { ChatRoom, MAX_TEXT } from "./chat_room.ts";
import { PAGE } from "./page.ts";

/** Options of {@linkcode createChatApp}. */
export interface ChatAppOptions {
  kv?: Deno.Kv;
  kvPath?: string;
  clock?: Clock;
  hibernateAfterMs?: number;
  historyTtlMs?: number;
  onException?: ExceptionHandler;
  /** The transport between the nodes and the lease TTL (default: BroadcastChannel, 10 s). */
  cluster?: ClusterOptions;
}

const ANNOUNCE = /^\/rooms\/([^/]+)\/announce$/;

// The package's own client module, read once (a file: URL locally, https: from JSR).
let clientJs: Promise<string> | undefined;
async function clientModule(): Promise<Response> {
  clientJs ??= fetch(import.meta.resolve("@dormant/dormant/client")).then((r) => r.text());
  return new Response(await clientJs, {
    headers: { "content-type": "text/javascript; charset=utf-8" },
  });
}

/**
 * The chat app: `/` serves the page (and `/client.js` the reconnecting
 * client it imports), `/rooms/:room/ws?name=NICK` joins a room with a
 * resumable session, and `POST /rooms/:room/announce` (the body is the text) sends an
 * announcement to everyone in the room without waking it.
 */
export function createChatApp(options: ChatAppOptions = {}) {
  const app: App<{ ROOM: typeof ChatRoom }> = new App({
    objects: { ROOM: ChatRoom },
    env: { HISTORY_TTL_MS: options.historyTtlMs ?? 3_600_000 },
    routes: [{ pattern: "/rooms/:room/ws", object: "ROOM", name: "room", resumable: true }],
    fallback: (request) => {
      const { pathname } = new URL(request.url);
      const announce = ANNOUNCE.exec(pathname);
      if (announce !== null && request.method === "POST") {
        return announceTo(app.env.ROOM, announce[1]!, request);
      }
      if (pathname === "/client.js" && request.method === "GET") return clientModule();
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
    cluster: options.cluster,
  });
  return app;
}

/** Sends `{"type":"announcement","at":…,"text":…}` to the room's members; the room stays hibernated. */
async function announceTo(
  rooms: DurableObjectNamespace,
  room: string,
  request: Request,
): Promise<Response> {
  const text = await request.text();
  const length = [...text].length;
  if (length < 1 || length > MAX_TEXT) {
    const code = length < 1 ? "message_empty" : "message_too_long";
    return Response.json({ type: "error", code }, { status: 400 });
  }
  const event = JSON.stringify({ type: "announcement", at: Date.now(), text });
  const sent = await rooms.broadcast(rooms.idFromName(decodeURIComponent(room)), event, {
    tag: "member",
  });
  return Response.json({ sent });
}
