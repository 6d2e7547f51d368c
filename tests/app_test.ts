import assert from "node:assert/strict";
import {
  App,
  type AppOptions,
  DurableObject,
  durableObject,
  type DurableObjectNamespace,
  type ExecutionContext,
  type ExportedHandler,
  onClose,
  onConnect,
  onMessage,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../mod.ts";
import { hibernateNow, objectStatus } from "../src/testing/mod.ts";
import { serveApp, until, UPGRADE_HEADERS } from "./_helpers.ts";
import { rawHttp } from "./_raw_client.ts";
import { interceptKv } from "./_intercept_kv.ts";

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

// ---- the Cloudflare worker entry ---------------------------------------------------------------

interface ChatEnv {
  ROOMS: DurableObjectNamespace<ChatRoom>;
  closes: Array<[number, string, boolean]>;
  calls: string[];
}

/** A Cloudflare chat room, as written for Cloudflare (only its upgrade line differs). */
class ChatRoom extends DurableObject<ChatEnv> {
  fetch(request: Request): Response {
    if (request.headers.get("Upgrade") !== "websocket") {
      return new Response("Expected WebSocket", { status: 426 });
    }
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server!);
    return webSocketResponse(client!);
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
    for (const peer of this.ctx.getWebSockets()) if (peer !== ws) peer.send(message);
  }
  webSocketClose(_ws: WebSocket, code: number, reason: string, wasClean: boolean) {
    this.env.closes.push([code, reason, wasClean]);
  }
  open(): number {
    return this.ctx.getWebSockets().length;
  }
}

/** A Cloudflare project's `export default`, passed as it is. */
const chatWorker = {
  async fetch(request: Request, env: ChatEnv, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    env.calls.push(url.pathname);
    if (url.pathname === "/") return new Response("home");
    if (url.pathname === "/late") {
      ctx.waitUntil(Promise.reject(new Error("late failure")));
      return new Response("later");
    }
    const room = url.pathname.split("/")[2] ?? "lobby";
    const stub = env.ROOMS.get(env.ROOMS.idFromName(room));
    if (url.pathname.startsWith("/drop/")) {
      await stub.fetch(request); // the upgrade response is dropped
      return new Response("dropped", { status: 403 });
    }
    return stub.fetch(request);
  },
} satisfies ExportedHandler<ChatEnv>;

async function serveChat(
  options: Pick<AppOptions<{ ROOMS: typeof ChatRoom }>, "allowedOrigins" | "maxConnections"> = {},
) {
  const env: Omit<ChatEnv, "ROOMS"> = { closes: [], calls: [] };
  const s = await serveApp({
    objects: { ROOMS: ChatRoom },
    env,
    worker: chatWorker,
    routes: [{ pattern: "/direct/:name", object: "ROOMS" }],
    ...options,
  });
  return Object.assign(s, env);
}

Deno.test("a worker's stub.fetch(request) upgrades the original request: two clients chat through it, and routes keep working beside it", async () => {
  await using s = await serveChat();
  const a = await s.connect("/rooms/lobby");
  const b = await s.connect("/rooms/lobby");
  a.socket.send("hi from a");
  assert.equal(await b.next(), "hi from a");
  b.socket.send(new Uint8Array([7]));
  assert.deepEqual([...new Uint8Array(await a.next() as ArrayBuffer)], [7]);
  const direct = await s.connect("/direct/lobby"); // a route, beside the worker
  direct.socket.send("via route");
  assert.equal(await a.next(), "via route");
  assert.equal(await b.next(), "via route");
  assert.equal(await (await fetch(s.url("/"))).text(), "home");
  const plain = await fetch(s.url("/rooms/lobby"));
  assert.equal(plain.status, 426);
  await plain.body?.cancel();
  assert.equal(await s.app.env.ROOMS.getByName("lobby").open(), 3);
  assert.deepEqual(s.calls, ["/rooms/lobby", "/rooms/lobby", "/", "/rooms/lobby"]);
  assert.deepEqual(s.exceptions, []);
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

Deno.test("a socket upgraded through the worker stays open through hibernation and the next message wakes the object", async () => {
  await using s = await serveChat();
  const a = await s.connect("/rooms/quiet");
  const b = await s.connect("/rooms/quiet");
  const id = s.app.env.ROOMS.idFromName("quiet");
  await hibernateNow(s.app, "ROOMS", id);
  assert.equal(objectStatus(s.app, "ROOMS", id), "hibernated");
  a.socket.send("after hibernation");
  assert.equal(await b.next(), "after hibernation");
  assert.equal(s.app.stats().objects[0]!.wakes, 2);
  assert.deepEqual(s.exceptions, []);
});

Deno.test("upgrades that reach the worker get the routes' checks before it runs: bad headers 400, foreign origin 403, over the cap 503", async () => {
  await using s = await serveChat({ allowedOrigins: ["https://ok.example"], maxConnections: 1 });
  const bad = await rawHttp(s.port, "GET", "/rooms/x", {
    ...UPGRADE_HEADERS,
    "Sec-WebSocket-Version": "12",
  });
  assert.equal(bad.status, 400);
  const foreign = await rawHttp(s.port, "GET", "/rooms/x", {
    ...UPGRADE_HEADERS,
    Origin: "https://evil.example",
  });
  assert.equal(foreign.status, 403);
  await s.connect("/rooms/x");
  const full = await rawHttp(s.port, "GET", "/rooms/x", UPGRADE_HEADERS);
  assert.equal(full.status, 503);
  assert.deepEqual(s.calls, ["/rooms/x"]);
  assert.equal(s.app.stats().connections, 1);
});

Deno.test("while the app shuts down, requests for the worker get 503 without running it", async () => {
  const calls: string[] = [];
  await using app = new App({
    objects: { ROOMS: ChatRoom },
    env: { closes: [], calls },
    worker: chatWorker,
  });
  await app.ready();
  await app.shutdown();
  const response = await app.fetch(
    new Request("http://localhost/rooms/x", { headers: UPGRADE_HEADERS }),
  );
  assert.equal(response.status, 503);
  await response.body?.cancel();
  assert.deepEqual(calls, []);
});

Deno.test("a worker that drops the response of stub.fetch() gets its answer sent, and the accepted socket is closed at once with the fix reported", async () => {
  await using s = await serveChat();
  const dropped = await rawHttp(s.port, "GET", "/drop/d", UPGRADE_HEADERS);
  assert.equal(dropped.status, 403);
  assert.equal(dropped.body, "dropped");
  assert.deepEqual(s.closes, [[1006, "", false]]);
  assert.equal(await s.app.env.ROOMS.getByName("d").open(), 0);
  assert.equal(s.app.stats().connections, 0);
  assert.equal(s.exceptions.length, 1);
  assert.match(
    (s.exceptions[0]!.error as Error).message,
    /^Cannot upgrade with the WebSocket accepted in ROOMS\.fetch\(\).*return stub\.fetch\(request\)/,
  );
});

Deno.test("the worker's ctx.waitUntil() rejection reaches onException", async () => {
  await using s = await serveChat();
  assert.equal(await (await fetch(s.url("/late"))).text(), "later");
  await until(() => s.exceptions.length === 1, "the waitUntil rejection");
  assert.equal((s.exceptions[0]!.error as Error).message, "late failure");
  assert.deepEqual(s.exceptions[0]!.context, { namespace: "*", operation: "waitUntil" });
});

Deno.test("new App() refuses a worker without fetch, and a worker together with fallback, with a TypeError", () => {
  assert.throws(
    () => new App({ objects: {}, worker: {} as ExportedHandler }),
    { name: "TypeError", message: /worker has no fetch method/ },
  );
  assert.throws(
    () =>
      new App({
        objects: {},
        worker: { fetch: () => new Response("w") },
        fallback: () => new Response("f"),
      }),
    { name: "TypeError", message: /both worker and fallback/ },
  );
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

Deno.test("maxSocketsPerObject above 32768 is a RangeError naming the limit and the value", () => {
  assert.throws(() => new App({ objects: {}, maxSocketsPerObject: 40_000 }), {
    name: "RangeError",
    message: /maxSocketsPerObject exceeds 32768 .*: current value is 40000$/,
  });
  new App({ objects: {}, maxSocketsPerObject: 32_768 }); // the limit itself is fine
});

Deno.test("a name returned by a route function is used as it is, '%' included", async () => {
  await using s = await serveApp({
    objects: { GREETER: Greeter },
    routes: [{ pattern: "/pct/:x", object: "GREETER", name: () => "100%" }],
  });
  const client = await s.connect("/pct/a?user=pat");
  assert.equal(await client.next(), "welcome pat");
  assert.deepEqual(await s.app.env.GREETER.getByName("100%").open(), [["pat"]]);
});

Deno.test("a failed app start is not cached: the next call starts the app again", async () => {
  const real = await Deno.openKv(":memory:");
  let failures = 1;
  const kv = interceptKv(real, {
    commit(commit) {
      if (failures-- > 0) return Promise.reject(new Error("injected KV outage"));
      return commit();
    },
  });
  try {
    await using app = new App({ objects: { ROOMS: ChatRoom }, env: { closes: [], calls: [] }, kv });
    await assert.rejects(app.ready(), { message: "injected KV outage" });
    const response = await app.fetch(new Request("http://localhost/"));
    assert.equal(await response.text(), "Not Found"); // started this time
    assert.equal(await app.env.ROOMS.getByName("a").open(), 0);
  } finally {
    real.close();
  }
});
