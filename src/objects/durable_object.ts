import type { DurableObjectState } from "./object_state.ts";

/**
 * Optional base class, as on Cloudflare: keeps `ctx` and `env`. It declares
 * no handler members, so subclasses add `fetch`, `webSocketMessage`,
 * `webSocketClose`, `webSocketError` and `alarm` without `override`, and
 * type-check under `noImplicitOverride`.
 *
 * @typeParam Env The type of `env`.
 *
 * @example Port a Cloudflare class
 * ```ts
 * import { DurableObject, type WebSocket, WebSocketPair, webSocketResponse } from "@dormant/dormant";
 *
 * export class ChatRoom extends DurableObject {
 *   static readonly storageName = "chat-room";
 *   fetch(_request: Request): Response {
 *     const [client, server] = Object.values(new WebSocketPair());
 *     this.ctx.acceptWebSocket(server);
 *     return webSocketResponse(client);
 *   }
 *   webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
 *     for (const peer of this.ctx.getWebSockets()) if (peer !== ws) peer.send(message);
 *   }
 * }
 * ```
 */
export class DurableObject<Env = unknown> {
  /** The object's state: sockets, storage, settings. */
  protected readonly ctx: DurableObjectState;
  /** The app's `env`, with a namespace per registered class. */
  protected readonly env: Env;

  /**
   * Creates the instance.
   *
   * @param ctx The object's state.
   * @param env The app's environment.
   */
  constructor(ctx: DurableObjectState, env: Env) {
    this.ctx = ctx;
    this.env = env;
  }
}
