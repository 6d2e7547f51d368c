// No accepted server end is ever orphaned: wherever it cannot be bound to a
// real upgrade, it leaves getWebSockets() at once, the object gets
// webSocketClose(ws, 1006, "", false) and onException gets the fix.

import assert from "node:assert/strict";
import {
  App,
  DurableObject,
  type DurableObjectNamespace,
  type DurableObjectState,
  type ExceptionContext,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { ManualClock } from "../../src/testing/mod.ts";
import { serveApp, until, UPGRADE_HEADERS } from "../_helpers.ts";
import { rawHttp } from "../_raw_client.ts";

interface Env {
  ROOMS: DurableObjectNamespace<Room>;
  closes: Array<[number, string, boolean]>;
}

/** Accepts in fetch(); `?bare` answers Cloudflare's way, which Deno cannot send. */
class Room extends DurableObject<Env> {
  fetch(request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server!);
    if (new URL(request.url).searchParams.has("bare")) {
      return new Response(null, { status: 101, webSocket: client } as ResponseInit);
    }
    return webSocketResponse(client!);
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
    if (message === "accept another") {
      this.ctx.acceptWebSocket(new WebSocketPair()[1]);
      ws.send(`listed ${this.ctx.getWebSockets().length}`);
    } else ws.send(`open ${this.ctx.getWebSockets().length}`);
  }
  webSocketClose(_ws: WebSocket, code: number, reason: string, wasClean: boolean) {
    this.env.closes.push([code, reason, wasClean]);
  }
  open(): number {
    return this.ctx.getWebSockets().length;
  }
}

/** Calls the room's fetch from places no upgrade can follow. */
class Relay extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
  }
  async relay(): Promise<number> {
    const response = await this.env.ROOMS.getByName("r").fetch(upgradeRequest());
    return response.status;
  }
  async arm(at: number): Promise<void> {
    await this.ctx.storage.setAlarm(at);
  }
  async alarm(): Promise<void> {
    await this.env.ROOMS.getByName("r").fetch(upgradeRequest());
  }
}

function upgradeRequest(query = ""): Request {
  return new Request(`http://localhost/rooms/r${query}`, { headers: UPGRADE_HEADERS });
}

async function bareApp() {
  const closes: Env["closes"] = [];
  const exceptions: Array<{ error: unknown; context: ExceptionContext }> = [];
  const kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const app = new App({
    objects: { ROOMS: Room, RELAY: Relay },
    env: { closes },
    kv,
    clock,
    onException: (error, context) => exceptions.push({ error, context }),
  });
  return {
    app,
    clock,
    closes,
    exceptions,
    async [Symbol.asyncDispose]() {
      await app.close();
      kv.close();
    },
  };
}

Deno.test("a stub.fetch() answered inside an RPC method closes the accepted socket at once and reports where to forward upgrades", async () => {
  await using s = await bareApp();
  assert.equal(await s.app.env.RELAY.getByName("a").relay(), 101);
  // Closed before the RPC's caller continued.
  assert.deepEqual(s.closes, [[1006, "", false]]);
  assert.equal(await s.app.env.ROOMS.getByName("r").open(), 0);
  assert.equal(s.exceptions.length, 1);
  assert.deepEqual(s.exceptions[0]!.context.namespace, "ROOMS");
  assert.match(
    (s.exceptions[0]!.error as Error).message,
    /^Cannot upgrade with the response of ROOMS\.fetch\(\): stub\.fetch\(\) was called from RELAY\.relay\(\), which cannot pass a WebSocket on.*new App\(\{ worker \}\)/,
  );
});

Deno.test("a stub.fetch() answered inside an alarm closes the accepted socket at once and reports the fix", async () => {
  await using s = await bareApp();
  await s.app.env.RELAY.getByName("a").arm(s.clock.now() + 1_000);
  await s.clock.advance(1_000);
  await until(() => s.closes.length === 1, "webSocketClose of the socket accepted for the alarm");
  assert.deepEqual(s.closes, [[1006, "", false]]);
  assert.equal(await s.app.env.ROOMS.getByName("r").open(), 0);
  assert.equal(s.exceptions.length, 1);
  assert.match(
    (s.exceptions[0]!.error as Error).message,
    /stub\.fetch\(\) was called from RELAY\.alarm\(\)/,
  );
});

Deno.test("a stub.fetch() made outside any request closes the accepted socket before the caller continues", async () => {
  await using s = await bareApp();
  const response = await s.app.env.ROOMS.getByName("r").fetch(upgradeRequest());
  assert.equal(response.status, 101);
  assert.deepEqual(s.closes, [[1006, "", false]]);
  assert.equal(await s.app.env.ROOMS.getByName("r").open(), 0);
  assert.match((s.exceptions[0]!.error as Error).message, /was called from code outside a request/);
});

Deno.test("a fetch() returning new Response(null, { status: 101, webSocket }) answers 500, closes the socket and reports webSocketResponse(client)", async () => {
  const closes: Env["closes"] = [];
  await using s = await serveApp({
    objects: { ROOMS: Room },
    env: { closes },
    routes: [{ pattern: "/rooms/:name", object: "ROOMS" }],
  });
  const response = await rawHttp(s.port, "GET", "/rooms/r?bare", UPGRADE_HEADERS);
  assert.equal(response.status, 500);
  await until(() => closes.length === 1, "webSocketClose");
  assert.deepEqual(closes, [[1006, "", false]]);
  assert.equal(await s.app.env.ROOMS.getByName("r").open(), 0);
  assert.equal(s.exceptions.length, 1);
  assert.match(
    (s.exceptions[0]!.error as Error).message,
    /: return webSocketResponse\(client\) instead of new Response\(null, \{ status: 101, webSocket \}\)$/,
  );
  // The same through a worker that passes the object's answer on: one report, 500.
  s.exceptions.length = 0;
  closes.length = 0;
  await using w = await serveApp({
    objects: { ROOMS: Room },
    env: { closes },
    worker: {
      fetch: (request: Request, env: Env) => env.ROOMS.getByName("w").fetch(request),
    },
  });
  assert.equal((await rawHttp(w.port, "GET", "/?bare", UPGRADE_HEADERS)).status, 500);
  await until(() => closes.length === 1, "webSocketClose");
  assert.equal(w.exceptions.length, 1);
  assert.match((w.exceptions[0]!.error as Error).message, /instead of new Response\(null/);
});

Deno.test("acceptWebSocket() in a message handler closes that socket at once and reports the fix", async () => {
  const closes: Env["closes"] = [];
  await using s = await serveApp({
    objects: { ROOMS: Room },
    env: { closes },
    routes: [{ pattern: "/rooms/:name", object: "ROOMS" }],
  });
  const client = await s.connect("/rooms/r");
  client.socket.send("accept another");
  assert.equal(await client.next(), "listed 2"); // listed until the handler returns
  await until(() => closes.length === 1, "webSocketClose of the unbound socket");
  assert.deepEqual(closes, [[1006, "", false]]);
  client.socket.send("count");
  assert.equal(await client.next(), "open 1");
  assert.equal(s.exceptions.length, 1);
  assert.match(
    (s.exceptions[0]!.error as Error).message,
    /^Cannot keep a WebSocket accepted outside ROOMS's fetch\(\).*Accept the server end in fetch\(\) and return webSocketResponse\(client\)$/,
  );
});

Deno.test("webSocketResponse() answering a plain request gets 426, the socket is closed and the fix reported (no empty 200)", async () => {
  const closes: Env["closes"] = [];
  await using s = await serveApp({
    objects: { ROOMS: Room },
    env: { closes },
    routes: [{ pattern: "/rooms/:name", object: "ROOMS", websocket: false }],
  });
  const response = await fetch(s.url("/rooms/plain"));
  assert.equal(response.status, 426);
  await response.body?.cancel();
  await until(() => closes.length === 1, "webSocketClose");
  assert.deepEqual(closes, [[1006, "", false]]);
  assert.equal(await s.app.env.ROOMS.getByName("plain").open(), 0);
  assert.equal(s.exceptions.length, 1);
  assert.match(
    (s.exceptions[0]!.error as Error).message,
    /not a WebSocket upgrade.*check request\.headers\.get\("Upgrade"\) before accepting$/,
  );
});
