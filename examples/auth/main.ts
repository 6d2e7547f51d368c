/**
 * Token-protected rooms. `onBeforeConnect` checks a bearer token before any
 * object is constructed or woken: from the `Authorization: Bearer <token>`
 * header, or from `?token=<token>` (browsers cannot set headers on a
 * WebSocket). The token is compared in constant time and never logged: the
 * access log prints the path without its query string, and nothing prints
 * headers.
 *
 *   AUTH_TOKEN=change-me deno run --allow-net --allow-env examples/auth/main.ts
 *
 * Then, in a browser console: `new WebSocket("ws://localhost:8000/rooms/lobby?token=change-me")`.
 *
 * Environment: AUTH_TOKEN (required), DORMANT_HOSTNAME (default 0.0.0.0),
 * PORT (default 8000; 0 = any), DORMANT_KV_PATH (default ":memory:").
 *
 * A token in the query string is also in `request.url` and `ws.url` inside
 * the object: do not log those either. Prefer the header where the client can
 * set one, or a short-lived ticket instead of a long-lived secret.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { App, DurableObject, type WebSocket } from "@dormant/dormant";

/** A room: every message goes to everyone in it. */
export class Room extends DurableObject {
  /** The stable storage name: ids and KV keys use it, so the binding key can be renamed. */
  static readonly storageName = "room";

  /** Broadcasts the message to every socket in the room. */
  webSocketMessage(_ws: WebSocket, message: string | ArrayBuffer): void {
    for (const peer of this.ctx.getWebSockets()) peer.send(message);
  }
}

/** Options of {@linkcode createAuthApp}. */
export interface AuthAppOptions {
  /** The token clients must present. */
  readonly token: string;
  /** A KV path (default `":memory:"`). */
  readonly kvPath?: string;
  /** A KV handle (tests). */
  readonly kv?: Deno.Kv;
  /** Where access-log lines go. @default console.log */
  readonly log?: (line: string) => void;
}

/** The token a request presents, from the `Authorization` header or else `?token=`. */
export function presentedToken(request: Request): string | null {
  const header = request.headers.get("authorization");
  if (header !== null) return /^Bearer +(\S+)$/i.exec(header)?.[1] ?? null;
  return new URL(request.url).searchParams.get("token");
}

/** Compares two tokens in constant time (hashes first, so lengths do not leak either). */
export function sameToken(a: string, b: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** The app: rooms at `/rooms/:name`, open only to holders of the token. */
export function createAuthApp(options: AuthAppOptions): App<{ ROOM: typeof Room }> {
  if (!options.token) throw new TypeError("Cannot create the app as the token is empty");
  const log = options.log ?? console.log;
  return new App({
    objects: { ROOM: Room },
    routes: [{ pattern: "/rooms/:name", object: "ROOM" }],
    kv: options.kv,
    kvPath: options.kvPath,
    onBeforeConnect(request) {
      // The pathname only: the query string may carry the token.
      const path = new URL(request.url).pathname;
      const token = presentedToken(request);
      if (token === null || !sameToken(token, options.token)) {
        log(
          JSON.stringify({
            msg: "refused",
            path,
            reason: token === null ? "no token" : "wrong token",
          }),
        );
        return new Response("Unauthorized", {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="rooms"' },
        });
      }
      log(JSON.stringify({ msg: "connect", path }));
    },
  });
}

if (import.meta.main) {
  const token = Deno.env.get("AUTH_TOKEN");
  if (!token) {
    console.error(
      "Cannot start as AUTH_TOKEN is not set: set it to the token clients must present",
    );
    Deno.exit(1);
  }
  const app = createAuthApp({ token, kvPath: Deno.env.get("DORMANT_KV_PATH") || ":memory:" });
  await app.serve({
    hostname: Deno.env.get("DORMANT_HOSTNAME") || "0.0.0.0",
    port: Number(Deno.env.get("PORT") ?? 8000),
    onListen: ({ port }) => console.log(`auth listening ${port} pid ${Deno.pid}`),
  });
}
