// The probe object shared by the dispatch, event-queue and idle-timer tests.

import {
  DurableObject,
  type DurableObjectState,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";

export const ROUTES = [{ pattern: "/room/:name", object: "ROOM" }];

export interface ProbeState {
  /** ctx of the most recently constructed instance. */
  ctx: DurableObjectState;
  byName: Map<string, DurableObjectState>;
  constructed: number;
  /** Handler starts, in order: `"<socket tag>:<message>"` or `"close:<tag>"`. */
  log: string[];
}

export type MessageHook = (
  ctx: DurableObjectState,
  ws: WebSocket,
  message: string,
  state: ProbeState,
) => unknown;
export type CloseHook = (ctx: DurableObjectState, ws: WebSocket, code: number) => unknown;

/**
 * An object that accepts every socket with the tag in `?tag=`, logs each
 * handler start and hands messages to `onMessage`.
 */
export function probe(onMessage: MessageHook, onClose?: CloseHook) {
  const state: ProbeState = {
    ctx: undefined as unknown as DurableObjectState,
    byName: new Map(),
    constructed: 0,
    log: [],
  };
  class Probe extends DurableObject {
    static readonly storageName = "probe";
    constructor(ctx: DurableObjectState, env: unknown) {
      super(ctx, env);
      state.ctx = ctx;
      state.byName.set(ctx.id.name ?? "", ctx);
      state.constructed++;
    }
    fetch(request: Request): Response {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1], [new URL(request.url).searchParams.get("tag") ?? "?"]);
      return webSocketResponse(pair[0]);
    }
    webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
      const text = typeof message === "string" ? message : "<binary>";
      state.log.push(`${this.ctx.getTags(ws)[0]}:${text}`);
      return onMessage(this.ctx, ws, text, state);
    }
    webSocketClose(ws: WebSocket, code: number) {
      state.log.push(`close:${this.ctx.getTags(ws)[0]}`);
      return onClose?.(this.ctx, ws, code);
    }
  }
  return { Probe, state };
}
