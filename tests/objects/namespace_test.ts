import assert from "node:assert/strict";
import {
  App,
  DurableObject,
  durableObject,
  type DurableObjectNamespace,
  type DurableObjectState,
  onRequest,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { interceptKv } from "../_intercept_kv.ts";

interface CallEnv {
  SECRET: string;
  log: string[];
  hold: PromiseWithResolvers<void> | null;
}

@durableObject({ name: "calls" })
class Calls extends DurableObject<CallEnv & { CALLS: unknown }> {
  items: number[] = [];
  constructor(ctx: DurableObjectState, env: CallEnv & { CALLS: unknown }) {
    super(ctx, env);
    env.log.push("construct");
  }
  secret(): string {
    return this.env.SECRET;
  }
  sameNamespace(): boolean {
    return this.env.CALLS === this.env.CALLS && typeof this.env.CALLS === "object";
  }
  mutate(input: { list: number[] }): { list: number[] } {
    input.list.push(99);
    return input;
  }
  push(n: number): number[] {
    this.items.push(n);
    return this.items;
  }
  giveFunction(): () => void {
    return () => {};
  }
  step(label: string): string {
    this.env.log.push(label);
    return label;
  }
  fail(): never {
    throw new RangeError("boom");
  }
  fetch(request: Request): Response {
    return new Response(`fetch ${new URL(request.url).pathname} ${request.method}`);
  }
}

Deno.test("app.env holds the user's values and one namespace per class; objects get both as env", async () => {
  const log: string[] = [];
  await using app = new App({
    objects: { CALLS: Calls },
    env: { SECRET: "s3cret", log, hold: null },
  });
  assert.equal(app.env.SECRET, "s3cret");
  assert.equal(app.env.CALLS, app.env.CALLS);
  assert.equal(typeof app.env.CALLS.idFromName, "function");
  const stub = app.env.CALLS.getByName("a");
  assert.equal(await stub.secret(), "s3cret");
  assert.equal(await stub.sameNamespace(), true);
  assert.ok(Object.isFrozen(app.env));
});

Deno.test("stubs structured-clone RPC arguments and results", async () => {
  await using app = new App({
    objects: { CALLS: Calls },
    env: { SECRET: "", log: [], hold: null },
  });
  const stub = app.env.CALLS.getByName("a");
  assert.equal(stub.name, "a");
  assert.ok(stub.id.equals(app.env.CALLS.idFromName("a")));

  const input = { list: [1, 2] };
  const output = await stub.mutate(input);
  assert.deepEqual(input, { list: [1, 2] }, "the caller's argument is untouched");
  assert.deepEqual(output, { list: [1, 2, 99] });
  assert.notEqual(output, input);

  const first = await stub.push(1);
  first.push(1_000); // mutating a result changes nothing inside the object
  assert.deepEqual(await stub.push(2), [1, 2]);

  await assert.rejects(
    stub.step((() => {}) as unknown as string),
    (error: unknown) => error instanceof DOMException && error.name === "DataCloneError",
  );
  await assert.rejects(
    stub.giveFunction(),
    (error: unknown) => error instanceof DOMException && error.name === "DataCloneError",
  );
  await assert.rejects(stub.fail(), RangeError);
  await assert.rejects(
    (stub as unknown as { missing(): Promise<void> }).missing(),
    /not a method/,
  );
  // Not thenable: awaiting a stub gives the stub.
  assert.equal(await stub, stub);
  assert.equal((stub as unknown as { webSocketMessage?: unknown }).webSocketMessage, undefined);
});

Deno.test("RPC calls made before the object is built run once it is, in call order", async () => {
  const env: CallEnv = { SECRET: "", log: [], hold: null };
  await using app = new App({ objects: { CALLS: Calls }, env });
  const stub = app.env.CALLS.getByName("a");
  // Three calls made while the object is not built yet run once, in order.
  const results = await Promise.all([stub.step("1"), stub.step("2"), stub.step("3")]);
  assert.deepEqual(results, ["1", "2", "3"]);
  assert.deepEqual(env.log, ["construct", "1", "2", "3"]);
});

/** Like Calls, but reads its probe through a nested env object (env is copied by the app). */
@durableObject({ name: "bcalls" })
class BlockCalls extends DurableObject<{ probe: CallEnv }> {
  constructor(ctx: DurableObjectState, env: { probe: CallEnv }) {
    super(ctx, env);
    env.probe.log.push("construct");
  }
  step(label: string): string {
    this.env.probe.log.push(label);
    return label;
  }
  async blocked(label: string): Promise<string> {
    await this.ctx.blockConcurrencyWhile(() => this.env.probe.hold!.promise);
    this.env.probe.log.push(label);
    return label;
  }
}

Deno.test("a call made during blockConcurrencyWhile waits until the block ends", async () => {
  const probe: CallEnv = { SECRET: "", log: [], hold: null };
  await using app = new App({ objects: { CALLS: BlockCalls }, env: { probe } });
  const stub = app.env.CALLS.getByName("a");
  await stub.step("warm");
  probe.hold = Promise.withResolvers();
  const blocked = stub.blocked("blocked");
  const after = stub.step("after");
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(probe.log, ["construct", "warm"], "nothing ran while blocked");
  probe.hold.resolve();
  assert.deepEqual(await Promise.all([blocked, after]), ["blocked", "after"]);
  assert.deepEqual(probe.log, ["construct", "warm", "blocked", "after"]);
});

Deno.test("an RPC call wakes a hibernated object; one instance per id even for concurrent stubs", async () => {
  const probe: CallEnv = { SECRET: "", log: [], hold: null };
  await using app = new App({ objects: { CALLS: BlockCalls }, env: { probe } });
  const id = app.env.CALLS.idFromName("a");
  const [x, y] = [app.env.CALLS.get(id), app.env.CALLS.getByName("a")];
  await Promise.all([x.step("x"), y.step("y")]);
  assert.equal(probe.log.filter((l) => l === "construct").length, 1);
  await hibernateNow(app, "CALLS", id);
  assert.equal(objectStatus(app, "CALLS", id), "hibernated");
  assert.equal(await y.step("again"), "again");
  assert.deepEqual(probe.log, ["construct", "x", "y", "construct", "again"]);
  assert.equal(objectStatus(app, "CALLS", id), "active");
});

@durableObject({ name: "web" })
class Web {
  @onRequest
  handle(request: Request): Response {
    return new Response(
      `onRequest ${request.method} ${new URL(request.url).pathname} ${request.headers.get("x-a")}`,
    );
  }
}

class NoFetch extends DurableObject {}

Deno.test("stub.fetch() reaches fetch() or @onRequest; without either it answers 501", async () => {
  await using app = new App({
    objects: { CALLS: Calls, WEB: Web, NONE: NoFetch },
    env: { SECRET: "", log: [], hold: null },
  });
  const calls = app.env.CALLS.getByName("a");
  assert.equal(
    await (await calls.fetch("http://do/path", { method: "POST", body: "x" })).text(),
    "fetch /path POST",
  );
  const web = app.env.WEB.getByName("a");
  const response = await web.fetch(new Request("http://do/w", { headers: { "x-a": "1" } }));
  assert.equal(await response.text(), "onRequest GET /w 1");
  const none = await app.env.NONE.getByName("a").fetch("http://do/");
  assert.equal(none.status, 501);
  await none.body?.cancel();
});

/** A ported class reachable through routes and stubs at once. */
class Hybrid extends DurableObject {
  fetch(request: Request): Response {
    if (request.headers.get("upgrade") !== "websocket") return new Response("plain");
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return webSocketResponse(client);
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(message);
  }
  count(): number {
    return this.ctx.getWebSockets().length;
  }
}

Deno.test("a stub and a routed WebSocket reach the same object", async () => {
  await using s = await serveApp({
    objects: { HYBRID: Hybrid },
    routes: [{ pattern: "/h/:name", object: "HYBRID" }],
  });
  await s.connect("/h/one");
  await s.connect("/h/one");
  assert.equal(await s.app.env.HYBRID.getByName("one").count(), 2);
  assert.equal(await s.app.env.HYBRID.getByName("two").count(), 0);
  assert.equal(await (await s.app.env.HYBRID.getByName("one").fetch("http://do/")).text(), "plain");
});

// ---- ctx.id.name ----------------------------------------------------------------------------------

Deno.test("ctx.id.name is set on every path that wakes an object made from a name: route, socket event after hibernation, stub fetch, RPC, alarm of a forgotten object", async () => {
  const seen: Array<[string, string | undefined]> = [];
  @durableObject({ name: "witness" })
  class Witness extends DurableObject {
    fetch(request: Request): Response {
      seen.push(["fetch", this.ctx.id.name]);
      if (request.headers.get("upgrade") !== "websocket") return new Response("ok");
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1]);
      return webSocketResponse(pair[0]);
    }
    webSocketMessage(ws: WebSocket): void {
      seen.push(["message", this.ctx.id.name]);
      ws.send("seen");
    }
    whoami(): string | null {
      seen.push(["rpc", this.ctx.id.name]);
      return this.ctx.id.name ?? null;
    }
    arm(at: number): Promise<void> {
      return this.ctx.storage.setAlarm(at);
    }
    alarm(): void {
      seen.push(["alarm", this.ctx.id.name]);
    }
  }
  await using s = await serveApp({
    objects: { ROOM: Witness },
    routes: [{ pattern: "/room/:name", object: "ROOM" }],
  });
  const id = s.app.env.ROOM.idFromName("a");
  const client = await s.connect("/room/a");
  await hibernateNow(s.app, "ROOM", id);
  client.socket.send("hello");
  assert.equal(await client.next(), "seen");
  assert.equal(await (await s.app.env.ROOM.getByName("a").fetch("http://do/")).text(), "ok");
  assert.equal(await s.app.env.ROOM.getByName("a").whoami(), "a");
  await s.app.env.ROOM.getByName("a").arm(s.clock.now() + 1_000);
  await client.close(1000);
  await until(() => s.app.stats().connections === 0, "the server socket to close");
  await until(() => s.app.stats().objects[0]?.blockers.length === 0, "webSocketClose to run");
  await hibernateNow(s.app, "ROOM", id);
  assert.equal(s.app.stats().objects.length, 0, "the object left memory");
  await s.clock.advance(1_000);
  await until(() => seen.length === 5, "the alarm");
  assert.deepEqual(seen, [
    ["fetch", "a"],
    ["message", "a"],
    ["fetch", "a"],
    ["rpc", "a"],
    ["alarm", "a"],
  ]);
  assert.deepEqual(s.exceptions, []);
});

Deno.test("ctx.id.name is undefined for a newUniqueId() object, and for a named one until it is reached by its name", async () => {
  @durableObject({ name: "who" })
  class Who extends DurableObject {
    whoami(): string | null {
      return this.ctx.id.name ?? null;
    }
  }
  await using app = new App({ objects: { WHO: Who } });
  const ns = app.env.WHO;
  assert.equal(await ns.get(ns.newUniqueId()).whoami(), null);
  const hex = ns.idFromName("b").toString();
  assert.equal(await ns.get(ns.idFromString(hex)).whoami(), null);
  assert.equal(await ns.getByName("b").whoami(), "b");
  assert.equal(await ns.get(ns.idFromString(hex)).whoami(), "b", "the object in memory keeps it");
});

// ---- broadcast without waking -------------------------------------------------------------------

/** A KV that counts reads (`get`, `getMany`, `list`) and commits. */
function countingKv(real: Deno.Kv) {
  const counts = { reads: 0, commits: 0 };
  const held: Array<() => void> = [];
  let holdCommits = false;
  const kv = interceptKv(real, {
    read(_method, _args, read) {
      counts.reads++;
      return read();
    },
    list() {
      counts.reads++;
    },
    async commit(commit) {
      counts.commits++;
      if (holdCommits) await new Promise<void>((resolve) => held.push(resolve));
      return commit();
    },
  });
  const hold = (on: boolean) => {
    holdCommits = on;
    if (!on) { for (const release of held.splice(0)) release(); }
  };
  return { kv, counts, held, hold };
}

/** A room that accepts with the `?tag=` values and an attachment, and has its own `broadcast` RPC method. */
function roomClass() {
  const state = { constructed: 0 };
  class Room extends DurableObject {
    static readonly storageName = "room";
    constructor(ctx: DurableObjectState, env: unknown) {
      super(ctx, env);
      state.constructed++;
    }
    fetch(request: Request): Response {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1], new URL(request.url).searchParams.getAll("tag"));
      pair[1].serializeAttachment({ joined: true }); // unloaded when hibernated: a wake must read it
      return webSocketResponse(pair[0]);
    }
    webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
      if (message === "put") {
        void this.ctx.storage.put("k", 1); // not awaited: the output gate holds what follows
        ws.send("stored");
      }
    }
    broadcast(text: string): string {
      return `the class's own broadcast: ${text}`;
    }
  }
  return { Room, state };
}

const ROOM_ROUTES = [{ pattern: "/room/:name", object: "ROOM" }];

/** The worker entry: `POST /announce/:room[?tag=]` broadcasts the body to the room. */
const announcer = {
  async fetch(request: Request, env: { ROOM: DurableObjectNamespace }): Promise<Response> {
    const url = new URL(request.url);
    const room = url.pathname.split("/")[2]!;
    const tag = url.searchParams.get("tag") ?? undefined;
    const sent = await env.ROOM.broadcast(env.ROOM.idFromName(room), await request.text(), { tag });
    return new Response(String(sent));
  },
};

Deno.test("an HTTP handler's broadcast reaches every open socket of a hibernated room without waking it: 0 constructor runs, 0 KV reads, no wake, no event", async () => {
  const real = await Deno.openKv(":memory:");
  const { kv, counts } = countingKv(real);
  const { Room, state } = roomClass();
  try {
    await using s = await serveApp({
      objects: { ROOM: Room },
      routes: ROOM_ROUTES,
      worker: announcer,
      kv,
    });
    const members = await s.connect("/room/a?tag=members");
    const guest = await s.connect("/room/a");
    const other = await s.connect("/room/b?tag=members");
    const id = s.app.env.ROOM.idFromName("a");
    await hibernateNow(s.app, "ROOM", id);
    await hibernateNow(s.app, "ROOM", s.app.env.ROOM.idFromName("b"));
    const stats = () => s.app.stats().objects.find((o) => o.id === id.toString())!;
    const before = { constructed: state.constructed, ...stats() };
    counts.reads = 0;
    counts.commits = 0;

    const response = await fetch(s.url("/announce/a"), { method: "POST", body: "notice" });
    assert.equal(await response.text(), "2");
    assert.equal(await members.next(), "notice");
    assert.equal(await guest.next(), "notice");
    const tagged = await fetch(s.url("/announce/a?tag=members"), { method: "POST", body: "only" });
    assert.equal(await tagged.text(), "1");
    assert.equal(await members.next(), "only");
    assert.equal(await s.app.env.ROOM.broadcast(id, new Uint8Array([1, 2, 3])), 2);
    assert.deepEqual([...new Uint8Array(await members.next() as ArrayBuffer)], [1, 2, 3]);
    assert.deepEqual([...new Uint8Array(await guest.next() as ArrayBuffer)], [1, 2, 3]);

    assert.equal(state.constructed, before.constructed, "no constructor ran");
    assert.equal(counts.reads, 0, "nothing was read from KV");
    assert.equal(counts.commits, 0, "nothing was written either");
    assert.equal(objectStatus(s.app, "ROOM", id), "hibernated");
    assert.equal(stats().wakes, before.wakes);
    assert.equal(stats().events, before.events);
    assert.equal(guest.buffered + members.buffered + other.buffered, 0, "room b got nothing");
  } finally {
    real.close();
  }
});

Deno.test("broadcast to an object without sockets resolves to 0 and builds no instance", async () => {
  const { Room, state } = roomClass();
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROOM_ROUTES });
  assert.equal(await s.app.env.ROOM.broadcast(s.app.env.ROOM.idFromName("empty"), "hello?"), 0);
  assert.equal(state.constructed, 0);
  assert.equal(objectStatus(s.app, "ROOM", s.app.env.ROOM.idFromName("empty")), "hibernated");
});

Deno.test("a broadcast from outside while the object's write is pending waits behind the message the object sent before it", async () => {
  const real = await Deno.openKv(":memory:");
  const { kv, held, hold } = countingKv(real);
  const { Room } = roomClass();
  try {
    await using s = await serveApp({ objects: { ROOM: Room }, routes: ROOM_ROUTES, kv });
    const writer = await s.connect("/room/a");
    const listener = await s.connect("/room/a");
    const id = s.app.env.ROOM.idFromName("a");
    hold(true);
    writer.socket.send("put");
    await until(() => held.length > 0, "the write to start");
    assert.equal(await s.app.env.ROOM.broadcast(id, "notice"), 2);
    hold(false);
    assert.equal(
      await writer.next(),
      "stored",
      "the object's own message, held by its write, first",
    );
    assert.equal(await writer.next(), "notice", "then the broadcast, held with it");
    assert.equal(await listener.next(), "notice");
  } finally {
    real.close();
  }
});

Deno.test("broadcast is a namespace method: a class's own broadcast method stays callable through the stub as RPC", async () => {
  const { Room } = roomClass();
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROOM_ROUTES });
  const stub = s.app.env.ROOM.getByName("a");
  assert.equal(await stub.broadcast("hi"), "the class's own broadcast: hi");
});

Deno.test("broadcast rejects with a TypeError for an id that is not an ObjectId, a message that is not text or bytes, or a tag that is not a string", async () => {
  const { Room } = roomClass();
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROOM_ROUTES });
  const ns = s.app.env.ROOM;
  const id = ns.idFromName("a");
  await assert.rejects(ns.broadcast("a" as never, "x"), TypeError);
  await assert.rejects(
    ns.broadcast(id, { text: "x" } as never),
    /must be a string, an ArrayBuffer/,
  );
  await assert.rejects(ns.broadcast(id, "x", { tag: 1 as never }), /tag must be a string/);
});
