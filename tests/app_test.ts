import assert from "node:assert/strict";
import {
  DurableObject,
  durableObject,
  onClose,
  onConnect,
  onMessage,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../mod.ts";
import { serveApp, UPGRADE_HEADERS } from "./_helpers.ts";

class Echo extends DurableObject {
  fetch(_request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return webSocketResponse(client);
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
    ws.send(message);
  }
}

Deno.test("App echoes text and binary through webSocketMessage()", async () => {
  await using s = await serveApp({
    objects: { ECHO: Echo },
    routes: [{ pattern: "/echo/:name", object: "ECHO" }],
  });
  const client = await s.connect("/echo/a");
  client.socket.send("hello");
  assert.equal(await client.next(), "hello");
  client.socket.send(new Uint8Array([1, 2, 3]));
  const binary = await client.next();
  assert.ok(binary instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(binary)], [1, 2, 3]);
});

@durableObject({ name: "room" })
class Room {
  ctx: import("../mod.ts").DurableObjectState;
  constructor(ctx: import("../mod.ts").DurableObjectState) {
    this.ctx = ctx;
  }
  @onConnect
  connect(_ws: WebSocket, request: Request) {
    const user = new URL(request.url).searchParams.get("user");
    if (!user) return new Response("user required", { status: 400 });
    return { tags: [user] };
  }
  @onMessage
  message(ws: WebSocket, message: string | ArrayBuffer) {
    for (const peer of this.ctx.getWebSockets()) if (peer !== ws) peer.send(message);
  }
  @onClose
  closed(_ws: WebSocket) {
    for (const peer of this.ctx.getWebSockets()) peer.send("left");
  }
}

Deno.test("decorated objects broadcast to other sockets and refuse from @onConnect", async () => {
  await using s = await serveApp({
    objects: { ROOM: Room },
    routes: [{ pattern: "/room/:name", object: "ROOM" }],
  });
  const refused = await fetch(s.url("/room/x"), {
    headers: UPGRADE_HEADERS,
  });
  assert.equal(refused.status, 400);
  assert.equal(await refused.text(), "user required");
  const a = await s.connect("/room/x?user=a");
  const b = await s.connect("/room/x?user=b");
  a.socket.send("hi");
  assert.equal(await b.next(), "hi");
  await a.close();
  assert.equal(await b.next(), "left");
});
