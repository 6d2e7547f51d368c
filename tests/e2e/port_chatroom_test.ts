// The ChatRoom of Cloudflare's "WebSocket Hibernation" guide, ported as the
// a port should be: its code is the guide's, in the guide's order, and only
// two things changed —
//   1. the imports (on Cloudflare `DurableObject` comes from
//      "cloudflare:workers", and `WebSocket`, `WebSocketPair` and
//      `WebSocketRequestResponsePair` are globals);
//   2. `new Response(null, { status: 101, webSocket: client })` became
//      `webSocketResponse(client)`.
// The guide's snippets that stand outside a method (tags, attachment,
// auto-response) sit where a Cloudflare user puts them: in `fetch`, after
// the accept. `Env` is what wrangler generates on Cloudflare.
// deno-lint-ignore-file require-await no-unused-vars

import {
  DurableObject,
  type DurableObjectNamespace,
  type WebSocket,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";
// Test-only imports.
import assert from "node:assert/strict";
import { hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";

interface Env {
  CHAT: DurableObjectNamespace<ChatRoom>;
}

export class ChatRoom extends DurableObject<Env> {
  async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade") === "websocket") {
      const pair = new WebSocketPair();
      const [client, server] = Object.values(pair);

      // Accept with hibernation support
      // Accept with tags (max 10 tags, 256 chars each)
      this.ctx.acceptWebSocket(server, ["room:123", "user:456"]);

      // Save attachment (max 2048 bytes, structured clone)
      server.serializeAttachment({
        userId: "123",
        username: "Alice",
        joinedAt: Date.now(),
      });

      // Set auto-response for ping/pong
      this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));

      return webSocketResponse(client);
    }
    return new Response("Expected WebSocket", { status: 400 });
  }

  private broadcast(message: string, exclude?: WebSocket) {
    for (const ws of this.ctx.getWebSockets()) {
      if (ws !== exclude) {
        ws.send(message);
      }
    }
  }

  // Retrieve in message handler
  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
    const state = ws.deserializeAttachment();
    console.log(`Message from ${state.username}`);
    this.broadcast(message as string, ws); // Send to all except sender
  }

  async webSocketClose(
    ws: WebSocket,
    code: number,
    reason: string,
    wasClean: boolean,
  ): Promise<void> {
    // Called on disconnect
  }

  async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    // Called on error
  }
}

// ---- the test: everything below is test code, not part of the port ------------------------------

/** Reads what the ported class keeps, through RPC, without touching `ChatRoom` itself. */
class InspectedChatRoom extends ChatRoom {
  inspect(): Array<{ tags: string[]; attachment: unknown; pongAt: number | null }> {
    return this.ctx.getWebSockets("room:123").map((ws) => ({
      tags: this.ctx.getTags(ws),
      attachment: ws.deserializeAttachment(),
      pongAt: this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? null,
    }));
  }
  autoResponse(): [string, string] | null {
    const pair = this.ctx.getWebSocketAutoResponse();
    return pair && [pair.getRequest(), pair.getResponse()];
  }
}

/** Captures the class's `console.log` lines (its only way of showing the attachment it read). */
function captureLog(): { lines: string[]; [Symbol.dispose](): void } {
  const original = console.log;
  const lines: string[] = [];
  console.log = (...args: unknown[]) => void lines.push(args.join(" "));
  return { lines, [Symbol.dispose]: () => void (console.log = original) };
}

Deno.test("the ported Cloudflare ChatRoom broadcasts, keeps tags, attachments and auto-response across hibernation", async () => {
  using logged = captureLog();
  await using s = await serveApp({
    objects: { CHAT: InspectedChatRoom },
    routes: [{ pattern: "/chat/:name", object: "CHAT", websocket: false }],
  });
  const plain = await fetch(s.url("/chat/lobby"));
  assert.equal(plain.status, 400);
  assert.equal(await plain.text(), "Expected WebSocket");

  const joinedAt = Date.now();
  const alice = await s.connect("/chat/lobby");
  const bob = await s.connect("/chat/lobby");
  const carol = await s.connect("/chat/lobby");

  // Broadcast to everyone but the sender.
  alice.socket.send("hello");
  assert.equal(await bob.next(), "hello");
  assert.equal(await carol.next(), "hello");
  bob.socket.send("hi alice");
  assert.equal(await alice.next(), "hi alice");
  assert.equal(await carol.next(), "hi alice");
  assert.equal(alice.buffered + bob.buffered, 0, "the sender never gets its own message");
  assert.deepEqual(logged.lines, ["Message from Alice", "Message from Alice"]);

  // Auto-response, answered without the object.
  const stub = s.app.env.CHAT.getByName("lobby");
  await hibernateNow(s.app, "CHAT", stub.id);
  const pongAt = s.clock.now();
  carol.socket.send("ping");
  assert.equal(await carol.next(), "pong");
  assert.equal(objectStatus(s.app, "CHAT", stub.id), "hibernated");

  // The next message wakes it; the attachment is read back in the new instance.
  carol.socket.send("back");
  assert.equal(await alice.next(), "back");
  assert.equal(await bob.next(), "back");
  await until(() => logged.lines.length === 3, "the third log line");
  assert.equal(logged.lines[2], "Message from Alice");
  const sockets = await stub.inspect();
  assert.equal(sockets.length, 3);
  for (const [i, socket] of sockets.entries()) {
    assert.deepEqual(socket.tags, ["room:123", "user:456"]);
    const attachment = socket.attachment as { userId: string; username: string; joinedAt: number };
    assert.equal(attachment.userId, "123");
    assert.equal(attachment.username, "Alice");
    assert.ok(attachment.joinedAt >= joinedAt);
    assert.equal(socket.pongAt, i === 2 ? pongAt : null);
  }
  assert.deepEqual(await stub.autoResponse(), ["ping", "pong"]);

  await alice.close();
  await until(() => s.app.stats().connections === 2, "alice gone");
  assert.equal((await stub.inspect()).length, 2);
  assert.equal(s.exceptions.length, 0);
});
