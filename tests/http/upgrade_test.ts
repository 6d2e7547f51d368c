/**
 * The HTTP side of connecting: which requests the app refuses, with which
 * status and body, before any object is constructed; and `app.fetch` under a
 * plain `Deno.serve`. Requests are written by hand so every header is exact.
 */
import assert from "node:assert/strict";
import {
  App,
  DurableObject,
  type DurableObjectState,
  type RouteTarget,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { ManualClock } from "../../src/testing/mod.ts";
import { serveApp, until, UPGRADE_HEADERS as UPGRADE } from "../_helpers.ts";
import { RawClient, rawHttp, textOf } from "../_raw_client.ts";

interface Env {
  readonly counts: { constructed: number };
}

/** Accepts every connection, echoes, and counts its constructions. */
class Echo extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    env.counts.constructed++;
  }
  fetch(_request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server!);
    return webSocketResponse(client!);
  }
  webSocketMessage(ws: import("../../mod.ts").WebSocket, message: string | ArrayBuffer): void {
    ws.send(message);
  }
}

function without(name: keyof typeof UPGRADE): Record<string, string> {
  const headers: Record<string, string> = { ...UPGRADE };
  delete headers[name];
  return headers;
}

type Options = Omit<Parameters<typeof serveApp<{ E: typeof Echo }>>[0], "objects" | "env">;

async function serveEcho(options: Options = {}) {
  const counts = { constructed: 0 };
  const s = await serveApp({
    objects: { E: Echo },
    env: { counts },
    routes: [{ pattern: "/e/:name", object: "E" }, { pattern: "/o/:id", object: "E", id: "id" }],
    ...options,
  });
  return Object.assign(s, { counts });
}

Deno.test("a plain GET to a WebSocket route gets 426 with 'Upgrade: websocket'", async () => {
  await using s = await serveEcho();
  const response = await rawHttp(s.port, "GET", "/e/a", {});
  assert.equal(response.status, 426);
  assert.equal(response.headers.get("upgrade"), "websocket");
  assert.equal(response.body, "Expected a WebSocket upgrade");
  assert.equal(s.counts.constructed, 0);
});

const badRequests: Array<
  { name: string; method?: string; headers: Record<string, string>; body: string }
> = [
  {
    name: "a missing Sec-WebSocket-Key",
    headers: without("Sec-WebSocket-Key"),
    body: "Missing or malformed Sec-WebSocket-Key",
  },
  {
    name: "a Sec-WebSocket-Key that is not 16 bytes of base64",
    headers: { ...UPGRADE, "Sec-WebSocket-Key": "not-a-key" },
    body: "Missing or malformed Sec-WebSocket-Key",
  },
  {
    name: "Sec-WebSocket-Version 8",
    headers: { ...UPGRADE, "Sec-WebSocket-Version": "8" },
    body: "Unsupported Sec-WebSocket-Version: expected 13",
  },
  {
    name: "a missing Sec-WebSocket-Version",
    headers: without("Sec-WebSocket-Version"),
    body: "Unsupported Sec-WebSocket-Version: expected 13",
  },
  {
    name: "POST",
    method: "POST",
    headers: UPGRADE,
    body: "WebSocket upgrade needs GET, got POST",
  },
  {
    name: "a missing Connection header",
    headers: without("Connection"),
    body: "WebSocket upgrade needs 'Connection: Upgrade'",
  },
  {
    name: "'Connection: keep-alive' without Upgrade",
    headers: { ...UPGRADE, Connection: "keep-alive" },
    body: "WebSocket upgrade needs 'Connection: Upgrade'",
  },
];

for (const c of badRequests) {
  Deno.test(`an upgrade with ${c.name} gets 400 with a clear body and constructs no object`, async () => {
    await using s = await serveEcho();
    const response = await rawHttp(s.port, c.method ?? "GET", "/e/a", c.headers);
    assert.equal(response.status, 400);
    assert.equal(response.body, c.body);
    assert.equal(s.counts.constructed, 0);
  });
}

Deno.test("a POST upgrade with a Content-Length is refused by Deno's HTTP layer with an empty 400 before the app", async () => {
  await using s = await serveEcho();
  const response = await rawHttp(s.port, "POST", "/e/a", { ...UPGRADE, "Content-Length": "0" });
  assert.equal(response.status, 400);
  assert.equal(response.body, "");
  assert.equal(response.headers.get("connection"), "close");
  assert.equal(s.counts.constructed, 0);
});

Deno.test("an upgrade naming Upgrade among other Connection tokens is accepted", async () => {
  await using s = await serveEcho();
  const response = await rawHttp(s.port, "GET", "/e/a", {
    ...UPGRADE,
    Connection: "keep-alive, Upgrade",
  });
  assert.equal(response.status, 101);
  await until(() => s.app.stats().connections === 0, "the dropped socket gone");
});

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

Deno.test("allowedOrigins refuses a foreign Origin with 403 and admits a listed one or none", async () => {
  await using s = await serveEcho({ allowedOrigins: ["https://good.example"] });
  const foreign = await rawHttp(s.port, "GET", "/e/a", {
    ...UPGRADE,
    Origin: "https://evil.example",
  });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.body, "Origin not allowed");
  assert.equal(s.counts.constructed, 0);
  await using listed = await RawClient.connect(s.port, "/e/a", {
    headers: { Origin: "https://good.example" },
  });
  await using originless = await RawClient.connect(s.port, "/e/a");
  assert.equal(listed.status, 101);
  assert.equal(originless.status, 101);
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

Deno.test("maxConnectionsPerIp 1: a second connection from the same address gets 429 until the first is gone", async () => {
  await using s = await serveEcho({ maxConnectionsPerIp: 1 });
  const first = await RawClient.connect(s.port, "/e/a");
  const second = await rawHttp(s.port, "GET", "/e/b", UPGRADE);
  assert.equal(second.status, 429);
  assert.equal(second.body, "Too many connections from this address");
  await first.drop();
  await until(() => s.app.stats().connections === 0, "the first connection gone");
  await using third = await RawClient.connect(s.port, "/e/b");
  assert.equal(third.status, 101);
});

Deno.test("app.fetch passed to a plain Deno.serve keeps its app (bound property)", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const counts = { constructed: 0 };
    await using app = new App({
      objects: { E: Echo },
      env: { counts },
      routes: [{ pattern: "/e/:name", object: "E" }],
      clock: new ManualClock(),
      kv,
    });
    const { fetch } = app;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, fetch);
    try {
      const plain = await rawHttp(server.addr.port, "GET", "/e/a", {});
      assert.equal(plain.status, 426);
      const client = await RawClient.connect(server.addr.port, "/e/a");
      await client.text("through Deno.serve");
      assert.equal(textOf(await client.next()), "through Deno.serve");
      await client.close(1000);
      await client.rest();
      await client.drop();
      await until(() => app.stats().connections === 0, "the socket gone");
    } finally {
      await server.shutdown();
    }
  } finally {
    kv.close();
  }
});
