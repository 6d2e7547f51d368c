/**
 * WebSocket upgrade checks and the only call to `Deno.upgradeWebSocket`
 * (injectable through `new App({ upgrade })`).
 *
 * @module
 */

import { wantsUpgrade } from "../wants_upgrade.ts";

/** Upgrades a request; `Deno.upgradeWebSocket` by default. */
export type Upgrader = (
  request: Request,
  options: Deno.UpgradeWebSocketOptions,
) => { socket: globalThis.WebSocket; response: Response };

/** The runtime's upgrade. */
export const denoUpgrade: Upgrader = (request, options) => Deno.upgradeWebSocket(request, options);

const KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * `null` when the request is a well-formed WebSocket upgrade, else the
 * response to send: 426 (with `Upgrade: websocket`) when it is not an
 * upgrade at all, 400 when a `Sec-WebSocket-*` header or the method is wrong.
 */
export function checkUpgrade(
  request: Request,
  upgrade: boolean = wantsUpgrade(request),
): Response | null {
  if (!upgrade) {
    return new Response("Expected a WebSocket upgrade", {
      status: 426,
      headers: { upgrade: "websocket", connection: "Upgrade" },
    });
  }
  if (request.method !== "GET") {
    return new Response(`WebSocket upgrade needs GET, got ${request.method}`, { status: 400 });
  }
  const connection = request.headers.get("connection")?.toLowerCase() ?? "";
  if (!connection.split(",").some((token) => token.trim() === "upgrade")) {
    return new Response("WebSocket upgrade needs 'Connection: Upgrade'", { status: 400 });
  }
  const key = request.headers.get("sec-websocket-key");
  if (key === null || !KEY.test(key)) {
    return new Response("Missing or malformed Sec-WebSocket-Key", { status: 400 });
  }
  if (request.headers.get("sec-websocket-version") !== "13") {
    return new Response("Unsupported Sec-WebSocket-Version: expected 13", {
      status: 400,
      headers: { "sec-websocket-version": "13" },
    });
  }
  return null;
}
