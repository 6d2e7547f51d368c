/**
 * One chat room = one durable object. Nicknames live in the socket
 * attachment, the last 100 messages in `ctx.storage`, and a room that stays
 * empty for `HISTORY_TTL_MS` forgets its history through an alarm.
 *
 * Protocol (JSON text frames; `at` is the server's time in ms since the epoch):
 *
 * - client → room: `{"type":"message","text":"hi"}` (1 to 2,000 characters).
 * - room → the joining client, first: `{"type":"welcome","you":{"id","name"}}`,
 *   then `{"type":"history","messages":[line…]}` (the last 100 lines, oldest first).
 *   The route has resumable sessions: a client that resumes is not joining again,
 *   it gets what it missed instead (no welcome, no history, no joined/left).
 * - room → everyone: `{"type":"message",…line}` where a line is
 *   `{"seq","at","id","from","text"}` (`seq` grows by one per line, so a client that
 *   joins again skips lines it already shows); `{"type":"joined"|"left","at","user"}`;
 *   `{"type":"presence","users":[user…]}` on every join and leave (and so on join).
 * - `{"type":"announcement","at","text"}`: posted with `POST /rooms/:room/announce`,
 *   sent to every member without waking the room.
 * - `{"type":"error","code"}`: `bad_message`, `message_empty`, `message_too_long`.
 *
 * A user is `{"id","name"}`: `id` is a short tag derived from the connection id,
 * so two people with the same nickname are told apart. The bare text `ping` is
 * answered `pong` without waking the room: chat lines are framed as JSON, so no
 * text a person types is taken for it. (The page sends none: the server's own
 * pings keep its connection alive, and an auto-response is not a session message.)
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

/** Who is in the room: `id` tells apart two people with the same nickname. */
export interface ChatUser {
  id: string;
  name: string;
}

/** A chat line as stored and sent. */
export interface ChatLine {
  seq: number;
  at: number;
  id: string;
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

@durableObject({
  name: "chat-room",
  // The member list is the sockets' attachments, kept by the framework: every join and leave
  // sends it to the room without building an instance (a leave from a hibernated room included).
  presence: { from: (user) => user, message: (list) => presenceEvent(list.map((m) => m.value)) },
})
export class ChatRoom extends DurableObject<ChatEnv> {
  // Users decoded once per instance, not per message.
  #users = new WeakMap<WebSocket, ChatUser>();
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
    this.ctx.acceptWebSocket(ws, ["member"]);
    const user: ChatUser = { id: shortTag(this.ctx.getConnectionId(ws)), name };
    ws.serializeAttachment(user);
    // Queued until the upgrade completes, and sent before anything else.
    ws.send(JSON.stringify({ type: "welcome", you: user }));
    ws.send(JSON.stringify({ type: "history", messages: [...stored.values()].reverse() }));
    this.#broadcast({ type: "joined", at: Date.now(), user });
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
    const { id, name } = this.#userOf(ws);
    const seq = ++this.#seq;
    const line: ChatLine = { seq, at: Date.now(), id, from: name, text };
    // Not awaited together: both writes go out in one atomic commit.
    this.ctx.storage.put(key(seq), line);
    if (seq > HISTORY) this.ctx.storage.delete(key(seq - HISTORY));
    this.#broadcast({ type: "message", ...line });
  }

  @onClose
  async close(ws: WebSocket): Promise<void> {
    this.#broadcast({ type: "left", at: Date.now(), user: this.#userOf(ws) });
    if (this.ctx.getWebSockets().every((other) => other === ws)) {
      await this.ctx.storage.setAlarm(Date.now() + this.env.HISTORY_TTL_MS);
    }
  }

  @onAlarm
  async expire(): Promise<void> {
    if (this.ctx.getWebSockets().length > 0) return;
    await this.ctx.storage.deleteAll();
    this.#seq = 0;
  }

  #userOf(ws: WebSocket): ChatUser {
    let user = this.#users.get(ws);
    if (user === undefined) {
      user = ws.deserializeAttachment() as ChatUser | null ?? { id: "?", name: "?" };
      this.#users.set(ws, user);
    }
    return user;
  }

  #broadcast(event: object): void {
    this.ctx.broadcast(JSON.stringify(event)); // encoded once for every member
  }
}

/** The member-list event, `{"type":"presence","users":[…]}`: its one definition. */
export function presenceEvent(users: readonly unknown[]): string {
  return JSON.stringify({ type: "presence", users });
}

/** Four base-36 characters from a connection id (FNV-1a): short enough to show. */
function shortTag(connectionId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < connectionId.length; i++) {
    hash = Math.imul(hash ^ connectionId.charCodeAt(i), 0x01000193);
  }
  return ((hash >>> 0) % 36 ** 4).toString(36).padStart(4, "0");
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
