/**
 * The request path: routes and ids, `onBeforeConnect`, the Cloudflare worker
 * entry, and what happens to a socket an object accepted when its answer is
 * not an upgrade.
 */
import assert from "node:assert/strict";
import {
  App,
  DurableObject,
  type RouteTarget,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import { serveApp, until, UPGRADE_HEADERS } from "../_helpers.ts";
import { RawClient, rawHttp, textOf } from "../_raw_client.ts";
import { ChatRoom, chatWorker, serveChat } from "./_chat_worker.ts";
import { serveEcho } from "./_echo_app.ts";

const UPGRADE = UPGRADE_HEADERS;

Deno.test("an unknown route gets 404", async () => {
  await using s = await serveEcho();
  const response = await rawHttp(s.port, "GET", "/nowhere", UPGRADE);
  assert.equal(response.status, 404);
  assert.equal(response.body, "Not Found");
  assert.equal(s.counts.constructed, 0);
});

Deno.test("a malformed id on an id route gets 400 and a 64-hex id connects", async () => {
  await using s = await serveEcho();
  const bad = await rawHttp(s.port, "GET", "/o/xyz", UPGRADE);
  assert.equal(bad.status, 400);
  assert.match(bad.body, /64 lowercase hex characters: current value is "xyz"/);
  const upper = await rawHttp(s.port, "GET", `/o/${"A".repeat(64)}`, UPGRADE);
  assert.equal(upper.status, 400);
  assert.equal(s.counts.constructed, 0);
  const id = s.app.env.E.newUniqueId().toString();
  await using client = await RawClient.connect(s.port, `/o/${id}`);
  await client.text("hi");
  assert.equal(textOf(await client.next()), "hi");
  assert.equal(s.counts.constructed, 1);
});

Deno.test("onBeforeConnect returning a Response answers before any object is constructed", async () => {
  const seen: RouteTarget[] = [];
  await using s = await serveEcho({
    onBeforeConnect(request, target) {
      seen.push(target);
      if (new URL(request.url).searchParams.get("token") !== "ok") {
        return new Response("bad token", { status: 401 });
      }
    },
  });
  const refused = await rawHttp(s.port, "GET", "/e/room?token=no", UPGRADE);
  assert.equal(refused.status, 401);
  assert.equal(refused.body, "bad token");
  assert.equal(s.counts.constructed, 0);
  assert.equal(seen[0]!.namespace, "E");
  assert.equal(seen[0]!.name, "room");
  assert.equal(seen[0]!.id.toString(), s.app.env.E.idFromName("room").toString());
  await using client = await RawClient.connect(s.port, "/e/room?token=ok");
  assert.equal(client.status, 101);
  assert.equal(s.counts.constructed, 1);
});

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

// ---- handlers that accept and then fail ---------------------------------------------------------

interface PickyEnv {
  readonly closes: Array<[number, string, boolean]>;
  readonly gate: PromiseWithResolvers<void>;
}

/** Accepts the server end first, then obeys `?fail=throw|refuse` or `?wait`. */
class Picky extends DurableObject<PickyEnv> {
  async fetch(request: Request): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server!);
    const params = new URL(request.url).searchParams;
    if (params.has("wait")) await this.env.gate.promise;
    if (params.get("fail") === "throw") throw new Error("failed after accept");
    if (params.get("fail") === "refuse") {
      return new Response("refused after accept", { status: 403 });
    }
    return webSocketResponse(client!);
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
    ws.send(`${message} (${this.ctx.getWebSockets().length} open)`);
  }
  webSocketClose(_ws: WebSocket, code: number, reason: string, wasClean: boolean) {
    this.env.closes.push([code, reason, wasClean]);
  }
  open(): number {
    return this.ctx.getWebSockets().length;
  }
}

async function servePicky() {
  const closes: PickyEnv["closes"] = [];
  const gate = Promise.withResolvers<void>();
  const s = await serveApp({
    objects: { P: Picky },
    env: { closes, gate },
    routes: [{ pattern: "/p/:name", object: "P" }],
  });
  return Object.assign(s, { closes, gate });
}

Deno.test("a fetch() that accepts the server end and then throws or refuses leaves no socket behind: it gets webSocketClose 1006", async () => {
  await using s = await servePicky();
  const thrown = await rawHttp(s.port, "GET", "/p/a?fail=throw", UPGRADE);
  assert.equal(thrown.status, 500);
  const refused = await rawHttp(s.port, "GET", "/p/a?fail=refuse", UPGRADE);
  assert.equal(refused.status, 403);
  assert.equal(refused.body, "refused after accept");
  assert.deepEqual(s.closes, [[1006, "", false], [1006, "", false]]);
  assert.equal(await s.app.env.P.getByName("a").open(), 0);
  assert.equal(s.app.stats().objects[0]!.sockets, 0);
  // The throw is reported as it is; the refusal gets the fix for the closed socket.
  assert.equal(s.exceptions.length, 2);
  assert.equal((s.exceptions[0]!.error as Error).message, "failed after accept");
  assert.match(
    (s.exceptions[1]!.error as Error).message,
    /^Cannot keep the WebSocket accepted in P\.fetch\(\): it returned a 403 response, not webSocketResponse\(client\)/,
  );
  const client = await s.connect("/p/a");
  client.socket.send("hi");
  assert.equal(await client.next(), "hi (1 open)");
});

Deno.test("a failed connect does not take the accepted socket of a concurrent connect to the same object", async () => {
  await using s = await servePicky();
  const waiting = s.connect("/p/b?wait");
  await until(
    () => s.app.stats().objects[0]?.sockets === 1,
    "the waiting connect accepted its socket",
  );
  const refused = await rawHttp(s.port, "GET", "/p/b?fail=refuse", UPGRADE);
  assert.equal(refused.status, 403);
  // The refused connect's socket is closed at once; the waiting connect's stays.
  assert.deepEqual(s.closes, [[1006, "", false]]);
  assert.equal(s.app.stats().objects[0]!.sockets, 1);
  s.gate.resolve();
  const client = await waiting;
  client.socket.send("hi");
  assert.equal(await client.next(), "hi (1 open)");
  assert.deepEqual(s.closes, [[1006, "", false]]);
});
