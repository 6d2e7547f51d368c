/**
 * One chat room = one durable object. Nicknames live in the socket
 * attachment, the last 100 messages in `ctx.storage`, and a room that stays
 * empty for `HISTORY_TTL_MS` forgets its history through an alarm.
 *
 * Protocol: the client sends `{"type":"message","text":"hi"}`; the room sends
 * JSON events (`history`, `joined`, `message`, `left`, `error`, and
 * `announcement`, posted with `POST /rooms/:room/announce` without waking the room). The bare text
 * `ping` is the keep-alive, answered `pong` without waking the room: chat
 * lines are framed as JSON, so no text a person types is taken for it.
 */
import {
  DurableObject,
  durableObject,
  type DurableObjectState,
  onAlarm,
  onClose,
  onConnect,
  onMessage,
  onStart,
  type WebSocket,
  WebSocketRequestResponsePair,
} from "@dormant/dormant";

/** What the room reads from `env`. */
export interface ChatEnv {
  /** How long an empty room keeps its history, in ms. */
  readonly HISTORY_TTL_MS: number;
}

/** A chat line as stored and sent. */
export interface ChatLine {
  from: string;
  text: string;
}

/** Longest nickname, in characters. */
export const MAX_NAME = 32;
/** Longest message, in characters. */
export const MAX_TEXT = 2_000;
/** Messages kept per room. */
export const HISTORY = 100;

// Message keys sort by sequence number: "msg:" + 12-digit zero-padded counter.
const PREFIX = "msg:";
const key = (seq: number) => PREFIX + String(seq).padStart(12, "0");

@durableObject({ name: "chat-room" })
export class ChatRoom extends DurableObject<ChatEnv> {
  // Nicknames decoded once per instance, not per message.
  #names = new WeakMap<WebSocket, string>();
  #seq = 0;

  constructor(ctx: DurableObjectState, env: ChatEnv) {
    super(ctx, env);
    // Answered by the framework without waking the room.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  @onStart
  async start(): Promise<void> {
    const last = await this.ctx.storage.list({ prefix: PREFIX, reverse: true, limit: 1 });
    for (const k of last.keys()) this.#seq = Number(k.slice(PREFIX.length));
  }

  @onConnect
  async connect(ws: WebSocket, request: Request): Promise<Response | void> {
    const name = new URL(request.url).searchParams.get("name") ?? "";
    const length = [...name].length;
    if (length < 1 || length > MAX_NAME) {
      return Response.json(
        { type: "error", code: "invalid_name", message: `name must be 1-${MAX_NAME} characters` },
        { status: 400 },
      );
    }
    const stored = await this.ctx.storage.list<ChatLine>({
      prefix: PREFIX,
      reverse: true,
      limit: HISTORY,
    });
    ws.serializeAttachment({ name });
    this.ctx.acceptWebSocket(ws, ["member"]);
    // Queued until the upgrade completes, and sent before anything else.
    ws.send(JSON.stringify({ type: "history", messages: [...stored.values()].reverse() }));
    this.#broadcast({ type: "joined", name });
    await this.ctx.storage.deleteAlarm();
  }

  @onMessage
  message(ws: WebSocket, message: string | ArrayBuffer): void {
    if (typeof message !== "string") return; // binary frames are ignored
    const text = chatText(message);
    if (text === null) {
      ws.send(JSON.stringify({ type: "error", code: "bad_message" }));
      return;
    }
    const length = [...text].length;
    if (length < 1 || length > MAX_TEXT) {
      const code = length < 1 ? "message_empty" : "message_too_long";
      ws.send(JSON.stringify({ type: "error", code }));
      return;
    }
    const line: ChatLine = { from: this.#nameOf(ws), text };
    const seq = ++this.#seq;
    // Not awaited together: both writes go out in one atomic commit.
    this.ctx.storage.put(key(seq), line);
    if (seq > HISTORY) this.ctx.storage.delete(key(seq - HISTORY));
    this.#broadcast({ type: "message", ...line });
  }

  @onClose
  async close(ws: WebSocket): Promise<void> {
    this.#broadcast({ type: "left", name: this.#nameOf(ws) });
    if (this.ctx.getWebSockets().length === 0) {
      await this.ctx.storage.setAlarm(Date.now() + this.env.HISTORY_TTL_MS);
    }
  }

  @onAlarm
  async expire(): Promise<void> {
    if (this.ctx.getWebSockets().length > 0) return;
    await this.ctx.storage.deleteAll();
    this.#seq = 0;
  }

  #nameOf(ws: WebSocket): string {
    let name = this.#names.get(ws);
    if (name === undefined) {
      name = (ws.deserializeAttachment() as { name: string } | null)?.name ?? "?";
      this.#names.set(ws, name);
    }
    return name;
  }

  #broadcast(event: object): void {
    this.ctx.broadcast(JSON.stringify(event)); // encoded once for every member
  }
}

/** The text of a `{"type":"message","text":"..."}` frame, or `null` for anything else. */
function chatText(frame: string): string | null {
  try {
    const parsed: unknown = JSON.parse(frame);
    if (typeof parsed !== "object" || parsed === null) return null;
    const { type, text } = parsed as { type?: unknown; text?: unknown };
    return type === "message" && typeof text === "string" ? text : null;
  } catch {
    return null;
  }
}
