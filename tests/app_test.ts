import assert from "node:assert/strict";
import {
  DurableObject,
  durableObject,
  type DurableObjectNamespace,
  onClose,
  onConnect,
  onMessage,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../mod.ts";
import { serveApp, UPGRADE_HEADERS } from "./_helpers.ts";
import { rawHttp } from "./_raw_client.ts";

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
  tags(): string[][] {
    return this.ctx.getWebSockets().map((ws) => this.ctx.getTags(ws));
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

Deno.test("a worker's stub.fetch(upgrade) reaches a decorated class's @onConnect, tags included, and a class with only @onMessage accepts", async () => {
  @durableObject({ name: "plain" })
  class Plain {
    @onMessage
    message(ws: WebSocket, message: string | ArrayBuffer) {
      ws.send(`plain:${message}`);
    }
  }
  await using s = await serveApp({
    objects: { ROOM: Room, PLAIN: Plain },
    worker: {
      fetch(
        request: Request,
        env: { ROOM: DurableObjectNamespace; PLAIN: DurableObjectNamespace },
      ) {
        const [, kind, name] = new URL(request.url).pathname.split("/");
        const namespace = kind === "plain" ? env.PLAIN : env.ROOM;
        return namespace.getByName(name ?? "lobby").fetch(request);
      },
    },
  });
  const refused = await fetch(s.url("/room/w"), { headers: UPGRADE_HEADERS });
  assert.equal(refused.status, 400);
  assert.equal(await refused.text(), "user required");
  const a = await s.connect("/room/w?user=a");
  const b = await s.connect("/room/w?user=b");
  a.socket.send("hi");
  assert.equal(await b.next(), "hi");
  assert.deepEqual(await s.app.env.ROOM.getByName("w").tags(), [["a"], ["b"]]);
  const p = await s.connect("/plain/w");
  p.socket.send("m");
  assert.equal(await p.next(), "plain:m");
  assert.deepEqual(s.exceptions, []);
});

// ---- @onConnect --------------------------------------------------------------------------------

const greeterCloses: Array<[number, string, boolean]> = [];

@durableObject({ name: "greeter" })
class Greeter {
  ctx: import("../mod.ts").DurableObjectState;
  constructor(ctx: import("../mod.ts").DurableObjectState) {
    this.ctx = ctx;
  }
  @onConnect
  connect(ws: WebSocket, request: Request) {
    const user = new URL(request.url).searchParams.get("user") ?? "anon";
    // To greet, accept first: sends are queued and written once the upgrade completes.
    this.ctx.acceptWebSocket(ws, [user]);
    ws.send(`welcome ${user}`);
    if (user === "both") return { tags: ["returned"] };
  }
  @onClose
  closed(_ws: WebSocket, code: number, reason: string, wasClean: boolean) {
    greeterCloses.push([code, reason, wasClean]);
  }
  open(): string[][] {
    return this.ctx.getWebSockets().map((ws) => this.ctx.getTags(ws));
  }
}

Deno.test("a send() in @onConnect greets the client first, once the upgrade completes", async () => {
  await using s = await serveApp({
    objects: { GREETER: Greeter },
    routes: [{ pattern: "/greet/:name", object: "GREETER" }],
  });
  const client = await s.connect("/greet/g?user=ada");
  assert.equal(await client.next(), "welcome ada");
  assert.deepEqual(await s.app.env.GREETER.getByName("g").open(), [["ada"]]);
});

Deno.test("@onConnect that calls acceptWebSocket itself and also returns { tags } is a reported TypeError: 500, nothing left registered", async () => {
  greeterCloses.length = 0;
  await using s = await serveApp({
    objects: { GREETER: Greeter },
    routes: [{ pattern: "/greet/:name", object: "GREETER" }],
  });
  const response = await rawHttp(s.port, "GET", "/greet/g?user=both", UPGRADE_HEADERS);
  assert.equal(response.status, 500);
  assert.equal(s.exceptions.length, 1);
  const error = s.exceptions[0]!.error as Error;
  assert.ok(error instanceof TypeError);
  assert.match(
    error.message,
    /pass them to ctx\.acceptWebSocket\(ws, tags\), or return \{ tags \} without accepting$/,
  );
  assert.equal(s.exceptions[0]!.context.operation, "onConnect");
  assert.deepEqual(await s.app.env.GREETER.getByName("g").open(), []);
  assert.deepEqual(greeterCloses, [[1006, "", false]]);
  assert.equal(s.app.stats().connections, 0);
});

// ---- options and start-up ----------------------------------------------------------------------

Deno.test("a name returned by a route function is used as it is, '%' included", async () => {
  await using s = await serveApp({
    objects: { GREETER: Greeter },
    routes: [{ pattern: "/pct/:x", object: "GREETER", name: () => "100%" }],
  });
  const client = await s.connect("/pct/a?user=pat");
  assert.equal(await client.next(), "welcome pat");
  assert.deepEqual(await s.app.env.GREETER.getByName("100%").open(), [["pat"]]);
});
