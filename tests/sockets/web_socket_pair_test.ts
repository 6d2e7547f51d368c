// The WebSocketPair ends, and a server end between accept and upgrade (open, listed,
// tagged, queueing sends), through a served app, real clients and an injected upgrade
// that can fail.

import assert from "node:assert/strict";
import {
  DurableObject,
  type DurableObjectState,
  type Upgrader,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { serveApp, until, UPGRADE_HEADERS } from "../_helpers.ts";

const ROUTES = [{ pattern: "/room/:name", object: "ROOM" }];

interface Seen {
  ctx: DurableObjectState;
  /** What fetch() observed right after acceptWebSocket, before the upgrade. */
  inFetch: Array<{ readyState: number; listed: boolean; tagged: boolean }>;
  /** After close() in fetch(): readyState and whether still listed. */
  afterClose: Array<{ readyState: number; listed: boolean }>;
  accepted: WebSocket[];
  closes: Array<{ ws: WebSocket; code: number; reason: string; wasClean: boolean }>;
}

/** fetch() accepts, sends `queued:<n>` twice and, with `?close`, closes before returning. */
function earlySender() {
  const seen: Seen = {
    ctx: undefined as unknown as DurableObjectState,
    inFetch: [],
    afterClose: [],
    accepted: [],
    closes: [],
  };
  class Room extends DurableObject {
    constructor(ctx: DurableObjectState, env: unknown) {
      super(ctx, env);
      seen.ctx = ctx;
    }
    fetch(request: Request): Response {
      const pair = new WebSocketPair();
      const server = pair[1];
      this.ctx.acceptWebSocket(server, ["early"]);
      const n = seen.accepted.push(server);
      server.send(`queued:${n}:a`);
      server.send(new Uint8Array([n, 1, 2]));
      server.send(`queued:${n}:b`);
      seen.inFetch.push({
        readyState: server.readyState,
        listed: this.ctx.getWebSockets().includes(server),
        tagged: this.ctx.getWebSockets("early").includes(server),
      });
      if (new URL(request.url).searchParams.has("close")) {
        server.close(4000, "early close");
        seen.afterClose.push({
          readyState: server.readyState,
          listed: this.ctx.getWebSockets().includes(server),
        });
      }
      return webSocketResponse(pair[0]);
    }
    webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
      ws.send(`echo:${message}`);
    }
    webSocketClose(ws: WebSocket, code: number, reason: string, wasClean: boolean) {
      seen.closes.push({ ws, code, reason, wasClean });
    }
  }
  return { Room, seen };
}

Deno.test("send() in fetch() right after acceptWebSocket reaches the client first, in order, once upgraded", async () => {
  const { Room } = earlySender();
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  const client = await s.connect("/room/a");
  client.socket.send("hello");
  assert.equal(await client.next(), "queued:1:a");
  const binary = await client.next();
  assert.ok(binary instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(binary)], [1, 1, 2]);
  assert.equal(await client.next(), "queued:1:b");
  assert.equal(await client.next(), "echo:hello");
});

Deno.test("between acceptWebSocket and the upgrade the socket has readyState 1 and getWebSockets lists it", async () => {
  const { Room, seen } = earlySender();
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  await s.connect("/room/a");
  assert.deepEqual(seen.inFetch, [{ readyState: 1, listed: true, tagged: true }]);
  assert.equal(seen.accepted[0]!.readyState, 1);
});

Deno.test("close() in fetch() before the upgrade is written after the queued sends and the socket leaves getWebSockets at once", async () => {
  const { Room, seen } = earlySender();
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  const client = await s.connect("/room/a?close");
  assert.deepEqual(seen.afterClose, [{ readyState: 2, listed: false }]);
  const event = await client.closed;
  assert.equal(event.code, 4000);
  assert.equal(event.reason, "early close");
  assert.equal(await client.next(), "queued:1:a");
  assert.ok((await client.next()) instanceof ArrayBuffer);
  assert.equal(await client.next(), "queued:1:b");
  assert.equal(client.buffered, 0);
  assert.deepEqual(seen.ctx.getWebSockets(), []);
});

Deno.test('a failing upgrade drops the queued sends, removes the socket and delivers webSocketClose(ws, 1006, "", false)', async () => {
  const { Room, seen } = earlySender();
  let failures = 1;
  const upgrade: Upgrader = (request, options) => {
    if (failures-- > 0) throw new Error("upgrade refused by the test");
    return Deno.upgradeWebSocket(request, options);
  };
  // One socket per object: the failed one must not keep the slot.
  await using s = await serveApp({
    objects: { ROOM: Room },
    routes: ROUTES,
    upgrade,
    maxSocketsPerObject: 1,
  });
  const refused = await fetch(s.url("/room/a"), { headers: UPGRADE_HEADERS });
  assert.equal(refused.status, 400);
  assert.equal(await refused.text(), "upgrade refused by the test");
  await until(() => seen.closes.length === 1, "webSocketClose");
  const failed = seen.accepted[0]!;
  assert.equal(seen.closes[0]!.ws, failed);
  assert.deepEqual(
    {
      code: seen.closes[0]!.code,
      reason: seen.closes[0]!.reason,
      wasClean: seen.closes[0]!.wasClean,
    },
    { code: 1006, reason: "", wasClean: false },
  );
  assert.equal(failed.readyState, 3);
  assert.deepEqual(seen.ctx.getWebSockets(), []);
  assert.deepEqual(seen.ctx.getWebSockets("early"), []);
  assert.equal(s.exceptions.length, 1);
  assert.equal(s.exceptions[0]!.context.operation, "upgrade");
  assert.equal(s.app.stats().connections, 0);
  // The next upgrade works; its client sees only its own queue.
  const client = await s.connect("/room/a");
  assert.equal(await client.next(), "queued:2:a");
  assert.ok((await client.next()) instanceof ArrayBuffer);
  assert.equal(await client.next(), "queued:2:b");
  assert.deepEqual(seen.ctx.getWebSockets(), [seen.accepted[1]]);
  assert.equal(seen.closes.length, 1);
});

Deno.test("new WebSocketPair() holds the client end at 0 and the server end at 1, in Object.values order", () => {
  const pair = new WebSocketPair();
  const [client, server] = Object.values(pair);
  assert.equal(client, pair[0]);
  assert.equal(server, pair[1]);
  assert.notEqual(client, server);
  assert.equal(server!.readyState, 0);
});

Deno.test("the server end of a pair cannot send or close before acceptWebSocket", () => {
  const server = new WebSocketPair()[1];
  assert.throws(() => server.send("x"), TypeError);
  assert.throws(() => server.close(1000), TypeError);
  assert.equal(server.readyState, 0);
});

Deno.test("the client end of a pair only goes into webSocketResponse()", () => {
  const pair = new WebSocketPair();
  assert.throws(() => pair[0].send("x"), TypeError);
  assert.throws(() => pair[0].close(), TypeError);
  assert.throws(() => pair[0].serializeAttachment(1), TypeError);
  assert.throws(() => webSocketResponse(pair[1]), TypeError);
  assert.throws(() => webSocketResponse({} as WebSocket), TypeError);
  assert.ok(webSocketResponse(pair[0]) instanceof Response);
});
