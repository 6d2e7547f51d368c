import assert from "node:assert/strict";
import {
  DurableObject,
  durableObject,
  type DurableObjectState,
  type ObjectStats,
  onStart,
  type WebSocket,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";
import { hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import { serveApp, type Served, until } from "../_helpers.ts";

/** Shared with the objects through `env` (a nested object: `env` itself is copied by the app). */
interface Probe {
  log: string[];
  /** What `hold`/`wait` messages and the `slow` RPC wait for. */
  hold: PromiseWithResolvers<void> | null;
  /** When set, `@onStart` waits for it. */
  start: PromiseWithResolvers<void> | null;
}

interface Env {
  probe: Probe;
}

function newProbe(): Probe {
  return { log: [], hold: null, start: null };
}

interface Whoami {
  user: unknown;
  joined: string;
  seen: unknown;
  tags: string[];
  ts: number | null;
  auto: [string, string] | null;
  room: number;
}

const JOINED = new Date("2026-01-01T12:00:00Z");

@durableObject({ name: "hroom" })
class Room extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    env.probe.log.push(`construct(${ctx.getWebSockets().length})`);
  }

  @onStart
  async start(): Promise<void> {
    const gate = this.env.probe.start;
    if (gate) await gate.promise;
    this.env.probe.log.push("start");
  }

  fetch(request: Request): Response {
    const user = new URL(request.url).searchParams.get("user") ?? "anon";
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, [`user:${user}`, "room"]);
    server.serializeAttachment({ user, joined: JOINED, seen: new Map([[user, 1]]) });
    this.env.probe.log.push(`fetch(${user})`);
    return webSocketResponse(client);
  }

  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.env.probe.log.push(`message(${message})`);
    switch (message) {
      case "whoami": {
        const a = ws.deserializeAttachment() as { user: string; joined: unknown; seen: unknown };
        const auto = this.ctx.getWebSocketAutoResponse();
        const reply: Whoami = {
          user: a.user,
          joined: a.joined instanceof Date ? a.joined.toISOString() : "not a Date",
          seen: a.seen instanceof Map ? [...a.seen] : "not a Map",
          tags: this.ctx.getTags(ws),
          ts: this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? null,
          auto: auto && [auto.request, auto.response],
          room: this.ctx.getWebSockets("room").length,
        };
        return ws.send(JSON.stringify(reply));
      }
      case "auto":
        this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
        return ws.send("ok");
      case "hold":
        await this.env.probe.hold!.promise;
        return ws.send("held");
      case "wait":
        this.ctx.waitUntil(this.env.probe.hold!.promise);
        return ws.send("waiting");
      default:
        for (const peer of this.ctx.getWebSockets()) if (peer !== ws) peer.send(message);
    }
  }

  webSocketClose(_ws: WebSocket, code: number): void {
    this.env.probe.log.push(`close(${code})`);
  }

  /** RPC: what the current instance sees. */
  sockets(): number {
    this.env.probe.log.push("rpc(sockets)");
    return this.ctx.getWebSockets().length;
  }

  /** RPC that stays pending until `probe.hold` resolves. */
  async slow(): Promise<string> {
    await this.env.probe.hold!.promise;
    return "done";
  }
}

@durableObject({ name: "quick", hibernateAfterMs: 500 })
class QuickRoom extends Room {}

const ROUTES = [
  { pattern: "/room/:name", object: "ROOM" },
  { pattern: "/quick/:name", object: "QUICK" },
];

function serve(probe: Probe, options: { hibernateAfterMs?: number } = {}) {
  return serveApp({
    objects: { ROOM: Room, QUICK: QuickRoom },
    env: { probe },
    routes: ROUTES,
    ...options,
  });
}

type App = Served<{ ROOM: typeof Room; QUICK: typeof QuickRoom }>;

function statsOf(s: App, binding: string, name: string): ObjectStats {
  const hex = s.app.env[binding as "ROOM"].idFromName(name).toString();
  const found = s.app.stats().objects.find((o) => o.id === hex);
  assert.ok(found, `no stats for ${binding}/${name}`);
  return found;
}

function statusOf(s: App, binding: "ROOM" | "QUICK", name: string): string {
  return objectStatus(s.app, binding, s.app.env[binding].idFromName(name));
}

Deno.test("an idle object hibernates after exactly hibernateAfterMs of clock time and keeps its sockets open", async () => {
  const probe = newProbe();
  await using s = await serve(probe);
  const a = await s.connect("/room/lobby?user=a");
  const b = await s.connect("/room/lobby?user=b");
  assert.equal(statusOf(s, "ROOM", "lobby"), "active");
  assert.equal(s.app.stats().connections, 2);

  await s.clock.advance(9_999);
  assert.equal(statusOf(s, "ROOM", "lobby"), "active");
  assert.equal(statsOf(s, "ROOM", "lobby").hibernations, 0);

  await s.clock.advance(1);
  await until(() => statusOf(s, "ROOM", "lobby") === "hibernated", "hibernation");
  const stats = statsOf(s, "ROOM", "lobby");
  assert.equal(stats.hibernations, 1);
  assert.equal(stats.sockets, 2);
  assert.equal(s.app.stats().connections, 2);
  assert.equal(a.socket.readyState, WebSocket.OPEN);
  assert.equal(b.socket.readyState, WebSocket.OPEN);

  // Still connected for real: a message goes through (and wakes the object).
  a.socket.send("hello");
  assert.equal(await b.next(), "hello");
  assert.equal(statusOf(s, "ROOM", "lobby"), "active");
});

Deno.test("the app's hibernateAfterMs and a class's @durableObject({ hibernateAfterMs }) set the idle period; every event restarts it", async () => {
  const probe = newProbe();
  await using s = await serve(probe, { hibernateAfterMs: 2_000 });
  await s.connect("/room/r?user=a");
  const q = await s.connect("/quick/q?user=a");

  await s.clock.advance(499);
  assert.equal(statusOf(s, "QUICK", "q"), "active");
  await s.clock.advance(1);
  await until(() => statusOf(s, "QUICK", "q") === "hibernated", "QUICK hibernation");
  assert.equal(statusOf(s, "ROOM", "r"), "active");

  // At t=1,000: QUICK wakes (its 500 ms start again); a connect and a message to ROOM move its
  // deadline from t=2,000 to t=3,000.
  await s.clock.advance(500);
  q.socket.send("whoami");
  await q.next();
  const late = await s.connect("/room/r?user=b");
  late.socket.send("whoami");
  await late.next();
  await s.clock.advance(1_999);
  assert.equal(statusOf(s, "ROOM", "r"), "active");
  await s.clock.advance(1);
  await until(() => statusOf(s, "ROOM", "r") === "hibernated", "ROOM hibernation");
  assert.equal(statsOf(s, "QUICK", "q").hibernations, 2);
});

Deno.test("a message wakes a hibernated object: the constructor sees the sockets, @onStart runs before the event, attachments, tags and timestamps survive", async () => {
  const probe = newProbe();
  await using s = await serve(probe);
  const a = await s.connect("/room/lobby?user=a");
  const b = await s.connect("/room/lobby?user=b");
  a.socket.send("auto");
  assert.equal(await a.next(), "ok");
  const pingedAt = s.clock.now() + 1_234;
  await s.clock.advance(1_234);
  a.socket.send("ping");
  assert.equal(await a.next(), "pong");
  a.socket.send("whoami");
  const before = await a.nextJson<Whoami>();
  assert.deepEqual(before, {
    user: "a",
    joined: JOINED.toISOString(),
    seen: [["a", 1]],
    tags: ["user:a", "room"],
    ts: pingedAt,
    auto: ["ping", "pong"],
    room: 2,
  });
  assert.deepEqual(probe.log, [
    "construct(0)",
    "start",
    "fetch(a)",
    "fetch(b)",
    "message(auto)",
    "message(whoami)",
  ]);

  await hibernateNow(s.app, "ROOM", s.app.env.ROOM.idFromName("lobby"));
  assert.equal(statusOf(s, "ROOM", "lobby"), "hibernated");
  probe.log.length = 0;

  a.socket.send("whoami");
  assert.deepEqual(await a.nextJson<Whoami>(), before);
  assert.deepEqual(probe.log, ["construct(2)", "start", "message(whoami)"]);
  b.socket.send("whoami");
  assert.deepEqual(await b.nextJson<Whoami>(), {
    ...before,
    user: "b",
    seen: [["b", 1]],
    tags: ["user:b", "room"],
    ts: null,
  });

  // A second hibernation and wake behave the same.
  await hibernateNow(s.app, "ROOM", s.app.env.ROOM.idFromName("lobby"));
  probe.log.length = 0;
  b.socket.send("hi");
  assert.equal(await a.next(), "hi");
  assert.deepEqual(probe.log, ["construct(2)", "start", "message(hi)"]);
  const stats = statsOf(s, "ROOM", "lobby");
  assert.equal(stats.wakes, 3);
  assert.equal(stats.hibernations, 2);
});

Deno.test("a close wakes a hibernated object and is delivered after the constructor and @onStart", async () => {
  const probe = newProbe();
  await using s = await serve(probe);
  const a = await s.connect("/room/lobby?user=a");
  await s.connect("/room/lobby?user=b");
  await hibernateNow(s.app, "ROOM", s.app.env.ROOM.idFromName("lobby"));
  probe.log.length = 0;

  await a.close(4000, "bye");
  await until(() => probe.log.includes("close(4000)"), "webSocketClose");
  // The closing socket already left getWebSockets() when the new instance was built.
  assert.deepEqual(probe.log, ["construct(1)", "start", "close(4000)"]);
  assert.equal(statusOf(s, "ROOM", "lobby"), "active");
  assert.equal(s.app.stats().connections, 1);
});

Deno.test("an RPC call wakes a hibernated object and sees its sockets", async () => {
  const probe = newProbe();
  await using s = await serve(probe);
  await s.connect("/room/lobby?user=a");
  const stub = s.app.env.ROOM.getByName("lobby");
  await hibernateNow(s.app, "ROOM", stub.id);
  probe.log.length = 0;

  assert.equal(await stub.sockets(), 1);
  assert.deepEqual(probe.log, ["construct(1)", "start", "rpc(sockets)"]);
  assert.equal(statusOf(s, "ROOM", "lobby"), "active");
});

Deno.test("an auto-response while hibernated neither constructs nor wakes the object and updates the timestamp", async () => {
  const probe = newProbe();
  await using s = await serve(probe);
  const a = await s.connect("/room/lobby?user=a");
  a.socket.send("auto");
  assert.equal(await a.next(), "ok");
  const id = s.app.env.ROOM.idFromName("lobby");
  await hibernateNow(s.app, "ROOM", id);
  probe.log.length = 0;
  const wakes = statsOf(s, "ROOM", "lobby").wakes;
  const events = statsOf(s, "ROOM", "lobby").events;

  await s.clock.advance(60_000);
  const pingedAt = s.clock.now();
  for (let i = 0; i < 3; i++) {
    a.socket.send("ping");
    assert.equal(await a.next(), "pong");
  }
  assert.deepEqual(probe.log, []);
  assert.equal(objectStatus(s.app, "ROOM", id), "hibernated");
  const stats = statsOf(s, "ROOM", "lobby");
  assert.equal(stats.status, "hibernated");
  assert.equal(stats.wakes, wakes);
  assert.equal(stats.events, events);

  // The match is exact and case-sensitive: anything else is a message and wakes it.
  await s.clock.advance(5);
  a.socket.send("whoami");
  const me = await a.nextJson<Whoami>();
  assert.equal(me.ts, pingedAt);
  assert.deepEqual(probe.log, ["construct(1)", "start", "message(whoami)"]);
});

Deno.test("app.stats() reports status, blockers and counters per object", async () => {
  const probe = newProbe();
  await using s = await serve(probe);
  const a = await s.connect("/room/lobby?user=a");
  let stats = statsOf(s, "ROOM", "lobby");
  assert.equal(stats.namespace, "ROOM");
  assert.equal(stats.name, "lobby");
  assert.equal(stats.status, "active");
  assert.deepEqual(stats.blockers, []);
  assert.equal(stats.sockets, 1);
  assert.equal(stats.wakes, 1);
  assert.equal(stats.hibernations, 0);
  assert.equal(stats.events, 1); // the connect (fetch)

  // A running async handler: "event".
  probe.hold = Promise.withResolvers();
  a.socket.send("hold");
  await until(() => statsOf(s, "ROOM", "lobby").blockers.includes("event"), "event blocker");
  assert.deepEqual(statsOf(s, "ROOM", "lobby").blockers, ["event"]);
  probe.hold.resolve();
  assert.equal(await a.next(), "held");
  await until(() => statsOf(s, "ROOM", "lobby").blockers.length === 0, "idle");

  // A pending RPC: "request".
  probe.hold = Promise.withResolvers();
  const slow = s.app.env.ROOM.getByName("lobby").slow();
  await until(() => statsOf(s, "ROOM", "lobby").blockers.includes("request"), "request blocker");
  assert.deepEqual(statsOf(s, "ROOM", "lobby").blockers, ["request"]);
  probe.hold.resolve();
  assert.equal(await slow, "done");

  // A pending waitUntil: "waitUntil".
  probe.hold = Promise.withResolvers();
  a.socket.send("wait");
  assert.equal(await a.next(), "waiting");
  assert.deepEqual(statsOf(s, "ROOM", "lobby").blockers, ["waitUntil"]);
  probe.hold.resolve();
  await until(() => statsOf(s, "ROOM", "lobby").blockers.length === 0, "idle");

  stats = statsOf(s, "ROOM", "lobby");
  assert.equal(stats.events, 4); // fetch, hold, slow(), wait

  // Hibernation and a wake through a slow @onStart: "waking" with "starting".
  await hibernateNow(s.app, "ROOM", s.app.env.ROOM.idFromName("lobby"));
  stats = statsOf(s, "ROOM", "lobby");
  assert.equal(stats.status, "hibernated");
  assert.equal(stats.hibernations, 1);
  assert.ok(stats.kvCommits >= 1, "the hibernation flush is counted on the object");
  probe.start = Promise.withResolvers();
  a.socket.send("whoami");
  await until(() => statsOf(s, "ROOM", "lobby").status === "waking", "waking");
  assert.ok(statsOf(s, "ROOM", "lobby").blockers.includes("starting"));
  assert.ok(!probe.log.includes("message(whoami)"), "no event before @onStart finished");
  probe.start.resolve();
  probe.start = null;
  await a.nextJson();
  stats = statsOf(s, "ROOM", "lobby");
  assert.equal(stats.status, "active");
  assert.equal(stats.wakes, 2);
  assert.equal(stats.events, 5);
});

Deno.test("hibernateNow() on a busy object throws naming the blockers; objectStatus() reports every state", async () => {
  const probe = newProbe();
  await using s = await serve(probe);
  const id = s.app.env.ROOM.idFromName("lobby");
  assert.equal(objectStatus(s.app, "ROOM", id), "hibernated"); // never used: not in memory
  const a = await s.connect("/room/lobby?user=a");
  assert.equal(objectStatus(s.app, "ROOM", id), "active");

  probe.hold = Promise.withResolvers();
  a.socket.send("wait");
  assert.equal(await a.next(), "waiting");
  const slow = s.app.env.ROOM.get(id).slow();
  await until(() => statsOf(s, "ROOM", "lobby").blockers.includes("request"), "request blocker");
  await assert.rejects(hibernateNow(s.app, "ROOM", id), (error: Error) => {
    assert.match(error.message, /busy/);
    assert.match(error.message, /request/);
    assert.match(error.message, /waitUntil/);
    return true;
  });
  assert.equal(objectStatus(s.app, "ROOM", id), "active");
  probe.hold.resolve();
  assert.equal(await slow, "done");
  await until(() => statsOf(s, "ROOM", "lobby").blockers.length === 0, "idle");
  await hibernateNow(s.app, "ROOM", id);
  assert.equal(objectStatus(s.app, "ROOM", id), "hibernated");
  // Hibernating a hibernated object is a no-op.
  await hibernateNow(s.app, "ROOM", id);
  assert.equal(statsOf(s, "ROOM", "lobby").hibernations, 1);
});

Deno.test("a pending waitUntil or a running handler keeps an object awake; the idle period starts when it ends", async () => {
  const probe = newProbe();
  await using s = await serve(probe);
  const a = await s.connect("/room/lobby?user=a");
  probe.hold = Promise.withResolvers();
  a.socket.send("wait");
  assert.equal(await a.next(), "waiting");
  await s.clock.advance(60_000);
  assert.equal(statusOf(s, "ROOM", "lobby"), "active");
  probe.hold.resolve();
  await until(() => statsOf(s, "ROOM", "lobby").blockers.length === 0, "waitUntil settled");
  await s.clock.advance(9_999);
  assert.equal(statusOf(s, "ROOM", "lobby"), "active");
  await s.clock.advance(1);
  await until(() => statusOf(s, "ROOM", "lobby") === "hibernated", "hibernation after waitUntil");

  probe.hold = Promise.withResolvers();
  a.socket.send("hold");
  await until(() => statsOf(s, "ROOM", "lobby").blockers.includes("event"), "event");
  await s.clock.advance(60_000);
  assert.equal(statusOf(s, "ROOM", "lobby"), "active");
  probe.hold.resolve();
  assert.equal(await a.next(), "held");
  await s.clock.advance(9_999);
  assert.equal(statusOf(s, "ROOM", "lobby"), "active");
  await s.clock.advance(1);
  await until(() => statusOf(s, "ROOM", "lobby") === "hibernated", "hibernation after the handler");
});
