/**
 * Whether a request asks for a WebSocket: a leaf, read by the gateway and by
 * an object's host (an upgrade goes to `@onConnect`, plain HTTP to `fetch`).
 *
 * @module
 */

/** Whether the request asks for a WebSocket (`Upgrade: websocket`, any case). */
export function wantsUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}
