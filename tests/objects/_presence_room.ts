/** The presence room the presence tests share: a decorated class made per test, with its log. */
import {
  durableObject,
  type DurableObjectState,
  onConnect,
  onMessage,
  onPresence,
  type PresenceDiff,
  type PresenceOptions,
  type WebSocket,
} from "../../mod.ts";

/** A member's presence in these tests. */
export interface Member {
  name: string;
}

/** What a room class records. */
export interface RoomLog {
  constructed: number;
  diffs: PresenceDiff<Member>[];
}

/** The member message the tests' `presence.message` sends. */
export interface MemberMessage {
  type: "presence";
  users: string[];
  joins: string[];
  leaves: string[];
  updates: string[];
}

/** A `presence.message` that lists the names and what changed. */
export const memberMessage: PresenceOptions<unknown, Member>["message"] = (list, diff) =>
  JSON.stringify(
    {
      type: "presence",
      users: list.map((m) => m.value.name),
      joins: diff.joins.map((m) => m.value.name),
      leaves: diff.leaves.map((m) => m.value.name),
      updates: diff.updates.map((m) => m.value.name),
    } satisfies MemberMessage,
  );

/**
 * A room whose `@onConnect` sets the attachment `{ user: { name } }` from
 * `?name=`, with presence taken from `user`. Messages are commands:
 * `rename:<name>` (a new attachment), `set:<json>` (`ctx.setPresence`,
 * answering the error's name if it throws), `list`, `mine`, `id`, `bye`
 * (a server-side close). `handler` adds an `@onPresence` that logs diffs;
 * `message` adds the framework's member message.
 */
export function presenceRoom(options: { handler?: boolean; message?: boolean } = {}) {
  const log: RoomLog = { constructed: 0, diffs: [] };
  const presence: PresenceOptions<{ user: Member }, Member> = {
    from: "user",
    message: options.message ? memberMessage : undefined,
  };

  @durableObject({ name: "proom", presence })
  class PresenceRoom {
    ctx: DurableObjectState;
    constructor(ctx: DurableObjectState) {
      this.ctx = ctx;
      log.constructed++;
    }

    @onConnect
    connect(ws: WebSocket, request: Request): void {
      const name = new URL(request.url).searchParams.get("name");
      if (name !== null) ws.serializeAttachment({ user: { name }, secret: "not presence" });
    }

    @onMessage
    message(ws: WebSocket, text: string | ArrayBuffer): void {
      const [command, arg = ""] = String(text).split(/:(.*)/s);
      if (command === "rename") ws.serializeAttachment({ user: { name: arg } });
      else if (command === "set") {
        try {
          this.ctx.setPresence(ws, JSON.parse(arg));
          ws.send("set");
        } catch (error) {
          ws.send((error as Error).name);
        }
      } else if (command === "list") {
        ws.send(JSON.stringify(this.ctx.getPresence<Member>()));
      } else if (command === "mine") {
        ws.send(JSON.stringify(this.ctx.getPresence<Member>(ws)));
      } else if (command === "id") ws.send(this.ctx.getConnectionId(ws));
      else if (command === "bye") ws.close(4000, "bye");
    }
  }

  class PresenceRoomWithHandler extends PresenceRoom {
    @onPresence
    changed(diff: PresenceDiff<Member>): void {
      log.diffs.push(diff);
    }
  }
  return { PresenceRoom: options.handler ? PresenceRoomWithHandler : PresenceRoom, log };
}

/** `/room/:name` → `ROOM`. */
export const ROUTES = [{ pattern: "/room/:name", object: "ROOM" }];
