// The state API (`ctx`): tags, sockets per object, getWebSockets(),
// attachments, auto-response and the event-timeout setting, each proven
// through a served app and real WebSocket clients.

import assert from "node:assert/strict";
import { serialize } from "node:v8";
import {
  DurableObject,
  type DurableObjectState,
  ObjectFullError,
  type WebSocket,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";
import { flushNow, hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import { hibernationRoot } from "../../src/kv/keys.ts";
import { readObjectRecords } from "../../src/hibernation/socket_records.ts";
import { serveApp, until } from "../_helpers.ts";

const ROUTES = [{ pattern: "/room/:name", object: "ROOM" }];

interface ProbeState {
  /** ctx of the most recently constructed instance. */
  ctx: DurableObjectState;
  /** ctx per object name, latest instance. */
  byName: Map<string, DurableObjectState>;
  constructed: number;
  /** Server ends accepted by the default fetch, in order. */
  accepted: WebSocket[];
}

interface Hooks {
  fetch?(ctx: DurableObjectState, request: Request, state: ProbeState): Response;
  message?(ctx: DurableObjectState, ws: WebSocket, message: string | ArrayBuffer): unknown;
  close?(
    ctx: DurableObjectState,
    ws: WebSocket,
    code: number,
    reason: string,
    wasClean: boolean,
  ): unknown;
}

/**
 * An object class whose default `fetch` accepts the server end with the tags
 * given as JSON in `?tags=`, and whose ctx the test can reach.
 */
function probe(hooks: Hooks = {}) {
  const state: ProbeState = {
    ctx: undefined as unknown as DurableObjectState,
    byName: new Map(),
    constructed: 0,
    accepted: [],
  };
  class Probe extends DurableObject {
    static readonly storageName = "probe";
    constructor(ctx: DurableObjectState, env: unknown) {
      super(ctx, env);
      state.ctx = ctx;
      state.byName.set(ctx.id.name ?? "", ctx);
      state.constructed++;
    }
    fetch(request: Request): Response {
      if (hooks.fetch) return hooks.fetch(this.ctx, request, state);
      const pair = new WebSocketPair();
      const tags = new URL(request.url).searchParams.get("tags");
      this.ctx.acceptWebSocket(pair[1], tags === null ? undefined : JSON.parse(tags));
      state.accepted.push(pair[1]);
      return webSocketResponse(pair[0]);
    }
    webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
      return hooks.message?.(this.ctx, ws, message);
    }
    webSocketClose(ws: WebSocket, code: number, reason: string, wasClean: boolean) {
      return hooks.close?.(this.ctx, ws, code, reason, wasClean);
    }
  }
  return { Probe, state };
}

function tagged(name: string, tags: unknown[]): string {
  return `/room/${name}?tags=${encodeURIComponent(JSON.stringify(tags))}`;
}

/** Runs `fn` and returns what it threw (fails when it did not throw). */
function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail("expected a throw");
}

/** The first tag of each socket: the tests name sockets by it. */
function names(ctx: DurableObjectState, list: readonly WebSocket[]): string[] {
  return list.map((ws) => ctx.getTags(ws)[0] ?? "?");
}

// ---- tags -----------------------------------------------------------------------------------------

Deno.test("acceptWebSocket keeps up to 10 distinct tags in the given order", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const tags = ["t9", "t8", "t7", "t6", "t5", "t4", "t3", "t2", "t1", "t0"];
  await s.connect(tagged("a", tags));
  assert.deepEqual(state.ctx.getTags(state.accepted[0]!), tags);
  for (const tag of tags) assert.deepEqual(state.ctx.getWebSockets(tag), [state.accepted[0]]);
});

Deno.test("acceptWebSocket with 11 distinct tags throws a RangeError naming the limit 10 and the count 11", async () => {
  const errors: unknown[] = [];
  const { Probe, state } = probe({
    fetch(ctx, _request, state) {
      const pair = new WebSocketPair();
      errors.push(
        caught(() => ctx.acceptWebSocket(pair[1], Array.from({ length: 11 }, (_, i) => `t${i}`))),
      );
      ctx.acceptWebSocket(pair[1], ["ok"]);
      state.accepted.push(pair[1]);
      return webSocketResponse(pair[0]);
    },
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof RangeError);
  assert.match(errors[0].message, /\b10\b/);
  assert.match(errors[0].message, /\b11\b/);
  assert.deepEqual(state.ctx.getTags(state.accepted[0]!), ["ok"]);
});

Deno.test('acceptWebSocket counts tag length in UTF-8 bytes: "é" × 128 fits, "é" × 129 throws a RangeError naming 256 and 258', async () => {
  const errors: unknown[] = [];
  const { Probe, state } = probe({
    fetch(ctx, _request, state) {
      const pair = new WebSocketPair();
      errors.push(caught(() => ctx.acceptWebSocket(pair[1], ["é".repeat(129)])));
      errors.push(caught(() => ctx.acceptWebSocket(pair[1], ["😀".repeat(65)])));
      errors.push(caught(() => ctx.acceptWebSocket(pair[1], ["x".repeat(257)])));
      ctx.acceptWebSocket(pair[1], ["é".repeat(128), "😀".repeat(64), "x".repeat(256)]);
      state.accepted.push(pair[1]);
      return webSocketResponse(pair[0]);
    },
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const [twoByte, fourByte, ascii] = errors;
  assert.ok(twoByte instanceof RangeError);
  assert.match(twoByte.message, /\b256\b/);
  assert.match(twoByte.message, /\b258\b/);
  assert.ok(fourByte instanceof RangeError);
  assert.match(fourByte.message, /\b260\b/);
  assert.ok(ascii instanceof RangeError);
  assert.match(ascii.message, /\b257\b/);
  assert.deepEqual(state.ctx.getTags(state.accepted[0]!), [
    "é".repeat(128),
    "😀".repeat(64),
    "x".repeat(256),
  ]);
});

Deno.test("acceptWebSocket drops duplicate tags, keeping the order of first occurrence", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["b", "a", "b", "c", "a"]));
  // 11 elements but 10 distinct, the duplicate early: accepted (as workerd).
  await s.connect(tagged("a", ["a", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]));
  assert.deepEqual(state.ctx.getTags(state.accepted[0]!), ["b", "a", "c"]);
  assert.deepEqual(state.ctx.getTags(state.accepted[1]!), [
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
  ]);
  assert.deepEqual(state.ctx.getWebSockets("b"), state.accepted);
});

Deno.test("acceptWebSocket with [] or without tags accepts a socket that has no tags", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", []));
  await s.connect("/room/a");
  assert.deepEqual(state.ctx.getTags(state.accepted[0]!), []);
  assert.deepEqual(state.ctx.getTags(state.accepted[1]!), []);
  assert.deepEqual(state.ctx.getWebSockets(), state.accepted);
});

Deno.test("acceptWebSocket converts tags with String() and rejects a Symbol tag with a TypeError", async () => {
  const errors: unknown[] = [];
  const { Probe, state } = probe({
    fetch(ctx, _request, state) {
      const pair = new WebSocketPair();
      errors.push(caught(() => ctx.acceptWebSocket(pair[1], [Symbol("s")] as unknown as string[])));
      ctx.acceptWebSocket(pair[1], [1, null, { toString: () => "custom" }] as unknown as string[]);
      state.accepted.push(pair[1]);
      return webSocketResponse(pair[0]);
    },
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  assert.ok(errors[0] instanceof TypeError);
  assert.deepEqual(state.ctx.getTags(state.accepted[0]!), ["1", "null", "custom"]);
});

Deno.test("acceptWebSocket rejects tags that are not an array with a TypeError", async () => {
  const notArrays: unknown[] = ["abc", { 0: "a", length: 1 }, new Set(["a"]), null, 5];
  const errors: unknown[] = [];
  const { Probe } = probe({
    fetch(ctx) {
      const pair = new WebSocketPair();
      for (const tags of notArrays) {
        errors.push(caught(() => ctx.acceptWebSocket(pair[1], tags as string[])));
      }
      ctx.acceptWebSocket(pair[1]);
      return webSocketResponse(pair[0]);
    },
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  assert.equal(errors.length, notArrays.length);
  for (const error of errors) assert.ok(error instanceof TypeError, String(error));
});

Deno.test("a rejected acceptWebSocket has no side effect: the socket stays unaccepted and can be accepted again", async () => {
  const seen: Array<Record<string, unknown>> = [];
  const { Probe, state } = probe({
    fetch(ctx, _request, state) {
      const pair = new WebSocketPair();
      const server = pair[1];
      caught(() =>
        ctx.acceptWebSocket(server, ["first", ...Array.from({ length: 10 }, (_, i) => `t${i}`)])
      );
      caught(() => ctx.acceptWebSocket(server, ["first", "é".repeat(129)]));
      seen.push({
        readyState: server.readyState,
        listed: ctx.getWebSockets().includes(server),
        firstTag: ctx.getWebSockets("first").length,
        getTags: caught(() => ctx.getTags(server)),
        send: caught(() => server.send("x")),
      });
      ctx.acceptWebSocket(server, ["ok"]);
      state.accepted.push(server);
      return webSocketResponse(pair[0]);
    },
    message: (_ctx, ws, message) => ws.send(`echo:${message}`),
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const client = await s.connect("/room/a");
  assert.equal(seen[0]!.readyState, 0);
  assert.equal(seen[0]!.listed, false);
  assert.equal(seen[0]!.firstTag, 0);
  assert.ok(seen[0]!.getTags instanceof TypeError);
  assert.ok(seen[0]!.send instanceof TypeError);
  assert.deepEqual(state.ctx.getTags(state.accepted[0]!), ["ok"]);
  assert.deepEqual(state.ctx.getWebSockets("first"), []);
  client.socket.send("hi");
  assert.equal(await client.next(), "echo:hi");
});

Deno.test("getTags returns the tags as a fresh array on each call", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["x", "y"]));
  const ws = state.accepted[0]!;
  const first = state.ctx.getTags(ws);
  const second = state.ctx.getTags(ws);
  assert.deepEqual(first, ["x", "y"]);
  assert.notEqual(first, second);
  first.push("z");
  first[0] = "changed";
  assert.deepEqual(state.ctx.getTags(ws), ["x", "y"]);
  assert.deepEqual(state.ctx.getWebSockets("x"), [ws]);
  assert.deepEqual(state.ctx.getWebSockets("z"), []);
});

Deno.test("getTags throws a TypeError for a socket accepted by another object or not accepted at all", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["x"]));
  await s.connect(tagged("b", ["y"]));
  const [fromA, fromB] = state.accepted;
  const ctxA = state.byName.get("a")!;
  const ctxB = state.byName.get("b")!;
  assert.notEqual(ctxA, ctxB);
  assert.deepEqual(ctxA.getTags(fromA!), ["x"]);
  assert.throws(() => ctxA.getTags(fromB!), TypeError);
  assert.throws(() => ctxB.getTags(fromA!), TypeError);
  assert.throws(() => ctxA.getTags(new WebSocketPair()[1]), TypeError);
  assert.throws(() => ctxA.getTags({} as WebSocket), TypeError);
});

// ---- sockets per object -----------------------------------------------------------------------------

Deno.test("beyond maxSocketsPerObject acceptWebSocket throws ObjectFullError and the client is closed with 1013", async () => {
  const errors: unknown[] = [];
  const { Probe, state } = probe({
    fetch(ctx, _request, state) {
      const pair = new WebSocketPair();
      try {
        ctx.acceptWebSocket(pair[1], [`n${state.accepted.length}`]);
      } catch (error) {
        errors.push({
          error,
          readyState: pair[1].readyState,
          listed: ctx.getWebSockets().includes(pair[1]),
        });
        throw error;
      }
      state.accepted.push(pair[1]);
      return webSocketResponse(pair[0]);
    },
    message: (_ctx, ws, message) => ws.send(`echo:${message}`),
  });
  await using s = await serveApp({
    objects: { ROOM: Probe },
    routes: ROUTES,
    maxSocketsPerObject: 3,
  });
  const clients = [
    await s.connect("/room/a"),
    await s.connect("/room/a"),
    await s.connect("/room/a"),
  ];
  const fourth = await s.connect("/room/a");
  assert.equal((await fourth.closed).code, 1013);
  assert.equal(errors.length, 1);
  const { error, readyState, listed } = errors[0] as {
    error: unknown;
    readyState: number;
    listed: boolean;
  };
  assert.ok(error instanceof ObjectFullError);
  assert.equal(error.limit, 3);
  assert.equal(error.code, "object_full");
  assert.match(error.message, /\b3\b/);
  assert.equal(readyState, 0);
  assert.equal(listed, false);
  // The three accepted sockets are untouched.
  assert.deepEqual(state.ctx.getWebSockets(), state.accepted);
  for (const [i, client] of clients.entries()) {
    client.socket.send(`m${i}`);
    assert.equal(await client.next(), `echo:m${i}`);
    assert.equal(client.socket.readyState, 1);
  }
  // Once one of them is gone, a new socket fits again.
  await clients[0]!.close();
  await until(() => s.app.stats().connections === 2, "the closed socket to be gone");
  const again = await s.connect("/room/a");
  again.socket.send("late");
  assert.equal(await again.next(), "echo:late");
  assert.equal(state.ctx.getWebSockets().length, 3);
});

// ---- getWebSockets ----------------------------------------------------------------------------------

Deno.test("getWebSockets lists sockets oldest accepted first, with and without a tag", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["A", "x"]));
  await s.connect(tagged("a", ["B", "x"]));
  await s.connect(tagged("a", ["C"]));
  await s.connect(tagged("a", ["D", "x"]));
  const ctx = state.ctx;
  assert.deepEqual(names(ctx, ctx.getWebSockets()), ["A", "B", "C", "D"]);
  assert.deepEqual(names(ctx, ctx.getWebSockets("x")), ["A", "B", "D"]);
  assert.deepEqual(ctx.getWebSockets(), state.accepted);
  assert.deepEqual(ctx.getWebSockets("unknown"), []);
});

Deno.test("getWebSockets drops a socket the server closed at once, with readyState 2", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect(tagged("a", ["A", "x"]));
  await s.connect(tagged("a", ["B", "x"]));
  const ctx = state.ctx;
  const ws = state.accepted[0]!;
  ws.close(4000, "bye");
  assert.equal(ws.readyState, 2);
  assert.deepEqual(names(ctx, ctx.getWebSockets()), ["B"]);
  assert.deepEqual(names(ctx, ctx.getWebSockets("x")), ["B"]);
  const event = await a.closed;
  assert.equal(event.code, 4000);
  assert.equal(event.reason, "bye");
});

Deno.test("getWebSockets drops a socket whose client closed before webSocketClose runs", async () => {
  const inClose: Array<{ listed: boolean; tagged: boolean; readyState: number; code: number }> = [];
  const { Probe, state } = probe({
    close(ctx, ws, code) {
      inClose.push({
        listed: ctx.getWebSockets().includes(ws),
        tagged: ctx.getWebSockets("x").includes(ws),
        readyState: ws.readyState,
        code,
      });
    },
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect(tagged("a", ["A", "x"]));
  await s.connect(tagged("a", ["B", "x"]));
  await a.close(4001, "client");
  await until(() => inClose.length === 1, "webSocketClose");
  assert.deepEqual(inClose, [{ listed: false, tagged: false, readyState: 3, code: 4001 }]);
  assert.deepEqual(names(state.ctx, state.ctx.getWebSockets()), ["B"]);
});

Deno.test("getWebSockets returns a frozen array", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["x"]));
  for (
    const list of [
      state.ctx.getWebSockets(),
      state.ctx.getWebSockets("x"),
      state.ctx.getWebSockets("none"),
    ]
  ) {
    assert.ok(Object.isFrozen(list));
    assert.throws(() => (list as WebSocket[]).push(state.accepted[0]!), TypeError);
  }
});

Deno.test("getWebSockets returns the same array until membership changes, then a new one", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["A", "x"]));
  const ctx = state.ctx;
  const all1 = ctx.getWebSockets();
  const x1 = ctx.getWebSockets("x");
  assert.equal(ctx.getWebSockets(), all1);
  assert.equal(ctx.getWebSockets("x"), x1);
  // A socket without tag x joins: the full list changes, the x list does not.
  const b = await s.connect(tagged("a", ["B", "y"]));
  const all2 = ctx.getWebSockets();
  assert.notEqual(all2, all1);
  assert.deepEqual(names(ctx, all1), ["A"]); // an earlier array is never changed
  assert.deepEqual(names(ctx, all2), ["A", "B"]);
  assert.equal(ctx.getWebSockets(), all2);
  assert.equal(ctx.getWebSockets("x"), x1);
  const y1 = ctx.getWebSockets("y");
  assert.equal(ctx.getWebSockets("y"), y1);
  // It leaves: new full and y lists, x still the same.
  await b.close();
  await until(() => ctx.getWebSockets() !== all2, "the socket to leave");
  assert.deepEqual(names(ctx, ctx.getWebSockets()), ["A"]);
  assert.notEqual(ctx.getWebSockets("y"), y1);
  assert.deepEqual(ctx.getWebSockets("y"), []);
  assert.equal(ctx.getWebSockets("x"), x1);
});

Deno.test("handlers, getWebSockets and acceptWebSocket see the same connection object, so ws !== sender works", async () => {
  const checks: boolean[] = [];
  const { Probe, state } = probe({
    message(ctx, ws, message) {
      checks.push(state.accepted.includes(ws), ctx.getWebSockets().includes(ws));
      for (const peer of ctx.getWebSockets()) {
        if (peer !== ws) peer.send(`from-peer:${message}`);
      }
      ws.send(`sent:${message}`);
    },
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect(tagged("a", ["A"]));
  const b = await s.connect(tagged("a", ["B"]));
  a.socket.send("hi");
  assert.equal(await a.next(), "sent:hi");
  assert.equal(await b.next(), "from-peer:hi");
  b.socket.send("yo");
  assert.equal(await b.next(), "sent:yo");
  assert.equal(await a.next(), "from-peer:yo");
  assert.deepEqual(checks, [true, true, true, true]);
  assert.equal(state.ctx.getWebSockets()[0], state.accepted[0]);
  assert.equal(state.ctx.getWebSockets("B")[0], state.accepted[1]);
});

Deno.test('getWebSockets(null) means the tag "null", getWebSockets(undefined) means every socket', async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["A"]));
  await s.connect(tagged("a", ["B", "null"]));
  const ctx = state.ctx;
  assert.deepEqual(names(ctx, ctx.getWebSockets(null as unknown as string)), ["B"]);
  assert.deepEqual(names(ctx, ctx.getWebSockets(undefined)), ["A", "B"]);
  assert.deepEqual(names(ctx, ctx.getWebSockets(1 as unknown as string)), []);
});

// ---- attachments ------------------------------------------------------------------------------------

Deno.test("attachments round-trip Map, Set, Date, typed arrays, BigInt and cycles", async () => {
  const { Probe, state } = probe({
    message(_ctx, ws) {
      const back = ws.deserializeAttachment() as Record<string, unknown>;
      ws.send(JSON.stringify({
        map: back.map instanceof Map ? [...back.map] : null,
        cycle: back.self === back,
      }));
    },
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const client = await s.connect("/room/a");
  const ws = state.accepted[0]!;
  const value: Record<string, unknown> = {
    map: new Map<unknown, unknown>([["k", 1], [2, { deep: [true] }]]),
    set: new Set(["a", "b"]),
    date: new Date(Date.UTC(2026, 4, 1)),
    bytes: new Uint8Array([1, 2, 255]),
    floats: new Float64Array([0.5, -1]),
    buffer: new Uint16Array([7, 8]).buffer,
    big: 2n ** 70n,
    nan: NaN,
    regexp: /a+b/gi,
  };
  value.self = value;
  ws.serializeAttachment(value);
  const back = ws.deserializeAttachment() as Record<string, unknown>;
  assert.ok(back.map instanceof Map);
  assert.deepEqual([...back.map], [["k", 1], [2, { deep: [true] }]]);
  assert.ok(back.set instanceof Set);
  assert.deepEqual([...back.set], ["a", "b"]);
  assert.ok(back.date instanceof Date);
  assert.equal(back.date.getTime(), Date.UTC(2026, 4, 1));
  assert.ok(back.bytes instanceof Uint8Array);
  assert.deepEqual([...back.bytes], [1, 2, 255]);
  assert.ok(back.floats instanceof Float64Array);
  assert.deepEqual([...back.floats], [0.5, -1]);
  assert.ok(back.buffer instanceof ArrayBuffer);
  assert.deepEqual([...new Uint16Array(back.buffer)], [7, 8]);
  assert.equal(back.big, 2n ** 70n);
  assert.ok(Number.isNaN(back.nan));
  assert.ok(back.regexp instanceof RegExp);
  assert.equal(String(back.regexp), "/a+b/gi");
  assert.equal(back.self, back);
  // The handler reads the same value back.
  client.socket.send("read");
  assert.deepEqual(await client.nextJson(), {
    map: [["k", 1], [2, { deep: [true] }]],
    cycle: true,
  });
});

Deno.test('serializeAttachment of a function or a symbol throws a DOMException named "DataCloneError"', async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ws = state.accepted[0]!;
  ws.serializeAttachment({ kept: 1 });
  for (
    const bad of [function f() {}, () => 1, Symbol("s"), { nested: { method() {} } }, {
      s: Symbol(),
    }]
  ) {
    const error = caught(() => ws.serializeAttachment(bad));
    assert.ok(error instanceof DOMException, String(error));
    assert.equal(error.name, "DataCloneError");
    assert.equal(error.code, 25);
  }
  assert.deepEqual(ws.deserializeAttachment(), { kept: 1 });
});

Deno.test("an attachment may take 16,384 serialized bytes: 16,379 ASCII characters fit, 16,380 throw a RangeError and keep the previous value", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ws = state.accepted[0]!;
  const fits = "x".repeat(16_379);
  assert.equal(serialize(fits).byteLength, 16_384);
  ws.serializeAttachment(fits);
  assert.equal(ws.deserializeAttachment(), fits);
  const error = caught(() => ws.serializeAttachment("y".repeat(16_380)));
  assert.ok(error instanceof RangeError);
  assert.match(error.message, /\b16384\b/);
  assert.match(error.message, /\b16385\b/);
  assert.equal(ws.deserializeAttachment(), fits);
  // The size is v8.serialize's length of the user value (two-byte strings count double).
  ws.serializeAttachment("é".repeat(100));
  const wide = "😀".repeat(4_095); // 8,190 UTF-16 units: one over
  assert.ok(serialize(wide).byteLength > 16_384);
  assert.throws(() => ws.serializeAttachment(wide), RangeError);
  assert.equal(ws.deserializeAttachment(), "é".repeat(100));
});

Deno.test("maxAttachmentBytes sets the attachment limit", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({
    objects: { ROOM: Probe },
    routes: ROUTES,
    maxAttachmentBytes: 100,
  });
  await s.connect("/room/a");
  const ws = state.accepted[0]!;
  const fits = { s: "x".repeat(100 - serialize({ s: "" }).byteLength) };
  assert.equal(serialize(fits).byteLength, 100);
  ws.serializeAttachment(fits);
  const over = { s: `${fits.s}x` };
  const error = caught(() => ws.serializeAttachment(over));
  assert.ok(error instanceof RangeError);
  assert.match(error.message, /\b100\b/);
  assert.match(error.message, /\b101\b/);
  assert.deepEqual(ws.deserializeAttachment(), fits);
});

Deno.test("deserializeAttachment returns null when unset and undefined when undefined was stored", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ws = state.accepted[0]!;
  assert.equal(ws.deserializeAttachment(), null);
  ws.serializeAttachment(undefined);
  assert.equal(ws.deserializeAttachment(), undefined);
  ws.serializeAttachment(null);
  assert.equal(ws.deserializeAttachment(), null);
  assert.throws(() => (ws.serializeAttachment as () => void)(), TypeError);
});

Deno.test("each deserializeAttachment returns a fresh copy and mutating the source after the call changes nothing", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ws = state.accepted[0]!;
  const source = { user: "ann", list: [1, 2], map: new Map([["k", "v"]]) };
  ws.serializeAttachment(source);
  source.user = "bob";
  source.list.push(3);
  source.map.set("k", "changed");
  const first = ws.deserializeAttachment() as typeof source;
  const second = ws.deserializeAttachment() as typeof source;
  assert.notEqual(first, second);
  assert.notEqual(first.list, second.list);
  assert.deepEqual(first, { user: "ann", list: [1, 2], map: new Map([["k", "v"]]) });
  first.list.push(9);
  first.map.clear();
  assert.deepEqual(ws.deserializeAttachment(), {
    user: "ann",
    list: [1, 2],
    map: new Map([["k", "v"]]),
  });
});

// ---- auto-response ------------------------------------------------------------------------------

/** An object that logs and echoes every message that reaches webSocketMessage. */
function echoProbe() {
  const reached: Array<string | ArrayBuffer> = [];
  const probed = probe({
    message(_ctx, ws, message) {
      reached.push(message);
      ws.send(
        typeof message === "string"
          ? `echo:${message}`
          : `binary:${new TextDecoder().decode(message)}`,
      );
    },
  });
  return { ...probed, reached };
}

Deno.test("the auto-response answers only an exact, case-sensitive text match, which never reaches webSocketMessage", async () => {
  const { Probe, state, reached } = echoProbe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const client = await s.connect("/room/a");
  state.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  client.socket.send("ping");
  assert.equal(await client.next(), "pong");
  client.socket.send(new TextEncoder().encode("ping"));
  assert.equal(await client.next(), "binary:ping");
  for (const near of ["PING", "ping ", " ping", "pin"]) {
    client.socket.send(near);
    assert.equal(await client.next(), `echo:${near}`);
  }
  client.socket.send("ping");
  assert.equal(await client.next(), "pong");
  assert.equal(reached.length, 5);
  assert.ok(reached[0] instanceof ArrayBuffer);
  assert.deepEqual(reached.slice(1), ["PING", "ping ", " ping", "pin"]);
});

Deno.test("setWebSocketAutoResponse limits request and response to 2,048 UTF-8 bytes, checks the request first and keeps the previous pair", async () => {
  const { Probe, state } = echoProbe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const client = await s.connect("/room/a");
  const ctx = state.ctx;
  ctx.setWebSocketAutoResponse(
    new WebSocketRequestResponsePair("a".repeat(2048), "é".repeat(1024)),
  );
  assert.equal(ctx.getWebSocketAutoResponse()!.request.length, 2048);
  ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  const request = caught(() =>
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("é".repeat(1025), "ok"))
  );
  assert.ok(request instanceof RangeError);
  assert.match(request.message, /request/i);
  assert.match(request.message, /\b2048\b/);
  assert.match(request.message, /\b2050\b/);
  const response = caught(() =>
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ok", "x".repeat(2049)))
  );
  assert.ok(response instanceof RangeError);
  assert.match(response.message, /response/i);
  assert.match(response.message, /\b2049\b/);
  const both = caught(() =>
    ctx.setWebSocketAutoResponse(
      new WebSocketRequestResponsePair("x".repeat(3000), "y".repeat(4000)),
    )
  );
  assert.ok(both instanceof RangeError);
  assert.match(both.message, /request/i);
  assert.match(both.message, /\b3000\b/);
  assert.doesNotMatch(both.message, /\b4000\b/);
  const kept = ctx.getWebSocketAutoResponse()!;
  assert.deepEqual([kept.request, kept.response], ["ping", "pong"]);
  client.socket.send("ping");
  assert.equal(await client.next(), "pong");
});

Deno.test("setWebSocketAutoResponse() with no argument, undefined or null clears it", async () => {
  const { Probe, state, reached } = echoProbe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const client = await s.connect("/room/a");
  const ctx = state.ctx;
  const set = () => ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  for (
    const clear of [
      () => ctx.setWebSocketAutoResponse(),
      () => ctx.setWebSocketAutoResponse(undefined),
      () => ctx.setWebSocketAutoResponse(null),
    ]
  ) {
    set();
    assert.notEqual(ctx.getWebSocketAutoResponse(), null);
    clear();
    assert.equal(ctx.getWebSocketAutoResponse(), null);
  }
  client.socket.send("ping");
  assert.equal(await client.next(), "echo:ping");
  assert.deepEqual(reached, ["ping"]);
});

Deno.test("setWebSocketAutoResponse rejects anything but a WebSocketRequestResponsePair with a TypeError", async () => {
  const { Probe, state } = echoProbe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ctx = state.ctx;
  ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  for (const bad of [{ request: "a", response: "b" }, "ping", ["ping", "pong"], 0]) {
    assert.throws(
      () => ctx.setWebSocketAutoResponse(bad as unknown as WebSocketRequestResponsePair),
      TypeError,
    );
  }
  assert.equal(ctx.getWebSocketAutoResponse()!.request, "ping");
});

Deno.test("getWebSocketAutoResponse returns a new pair on each call, or null when unset", async () => {
  const { Probe, state } = echoProbe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ctx = state.ctx;
  assert.equal(ctx.getWebSocketAutoResponse(), null);
  const given = new WebSocketRequestResponsePair("ping", "pong");
  ctx.setWebSocketAutoResponse(given);
  const first = ctx.getWebSocketAutoResponse()!;
  const second = ctx.getWebSocketAutoResponse()!;
  assert.ok(first instanceof WebSocketRequestResponsePair);
  assert.notEqual(first, given);
  assert.notEqual(first, second);
  assert.deepEqual([first.request, first.response, second.getRequest(), second.getResponse()], [
    "ping",
    "pong",
    "ping",
    "pong",
  ]);
});

Deno.test("getWebSocketAutoResponseTimestamp is null before a match and the clock time of the latest match after", async () => {
  const { Probe, state } = echoProbe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/a");
  await s.connect("/room/a");
  const [wsA, wsB] = state.accepted;
  const ctx = state.ctx;
  ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  assert.equal(ctx.getWebSocketAutoResponseTimestamp(wsA!), null);
  const start = s.clock.now();
  a.socket.send("ping");
  assert.equal(await a.next(), "pong");
  const first = ctx.getWebSocketAutoResponseTimestamp(wsA!);
  assert.ok(first instanceof Date);
  assert.equal(first.getTime(), start);
  assert.equal(ctx.getWebSocketAutoResponseTimestamp(wsB!), null);
  await s.clock.advance(5_000);
  a.socket.send("ping");
  assert.equal(await a.next(), "pong");
  assert.equal(ctx.getWebSocketAutoResponseTimestamp(wsA!)!.getTime(), start + 5_000);
  assert.equal(first.getTime(), start); // a returned Date is a copy
  // A message that does not match leaves it alone.
  await s.clock.advance(1_000);
  a.socket.send("other");
  assert.equal(await a.next(), "echo:other");
  assert.equal(ctx.getWebSocketAutoResponseTimestamp(wsA!)!.getTime(), start + 5_000);
});

Deno.test("a hibernated object's auto-response is answered without running its constructor", async () => {
  const { Probe, state, reached } = echoProbe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const client = await s.connect("/room/a");
  const id = state.ctx.id;
  state.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  await hibernateNow(s.app, "ROOM", id);
  assert.equal(objectStatus(s.app, "ROOM", id), "hibernated");
  client.socket.send("ping");
  assert.equal(await client.next(), "pong");
  assert.equal(state.constructed, 1);
  assert.equal(objectStatus(s.app, "ROOM", id), "hibernated");
  client.socket.send("wake");
  assert.equal(await client.next(), "echo:wake");
  assert.equal(state.constructed, 2);
  assert.deepEqual(reached, ["wake"]);
});

// ---- event timeout setting ---------------------------------------------------------------------------

Deno.test("the event timeout is null until set and reads back what was set", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ctx = state.ctx;
  assert.equal(ctx.getHibernatableWebSocketEventTimeout(), null);
  for (const ms of [1000, 5, 604_800_000]) {
    ctx.setHibernatableWebSocketEventTimeout(ms);
    assert.equal(ctx.getHibernatableWebSocketEventTimeout(), ms);
  }
});

Deno.test("setHibernatableWebSocketEventTimeout with 0, undefined, null or no argument clears it", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ctx = state.ctx;
  const clears = [
    () => ctx.setHibernatableWebSocketEventTimeout(0),
    () => ctx.setHibernatableWebSocketEventTimeout(undefined),
    () => ctx.setHibernatableWebSocketEventTimeout(null),
    () => ctx.setHibernatableWebSocketEventTimeout(),
  ];
  for (const clear of clears) {
    ctx.setHibernatableWebSocketEventTimeout(1000);
    clear();
    assert.equal(ctx.getHibernatableWebSocketEventTimeout(), null);
  }
});

Deno.test("setHibernatableWebSocketEventTimeout truncates 1500.7 to 1500", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ctx = state.ctx;
  ctx.setHibernatableWebSocketEventTimeout(1500.7);
  assert.equal(ctx.getHibernatableWebSocketEventTimeout(), 1500);
});

Deno.test("setHibernatableWebSocketEventTimeout with a bigint, a string or another non-number throws a TypeError naming the type and keeps the previous value", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ctx = state.ctx;
  ctx.setHibernatableWebSocketEventTimeout(2000);
  const cases: Array<[unknown, string]> = [
    [10n, "bigint"],
    ["2500", "string"],
    [true, "boolean"],
    [new Number(10), "object"],
    [Symbol("ms"), "symbol"],
  ];
  for (const [bad, type] of cases) {
    const error = caught(() => ctx.setHibernatableWebSocketEventTimeout(bad as number));
    assert.ok(error instanceof TypeError, `${type}: ${error}`);
    assert.match(error.message, new RegExp(`current type is ${type}$`));
    assert.match(error.message, /number of milliseconds/);
  }
  assert.equal(ctx.getHibernatableWebSocketEventTimeout(), 2000);
});

Deno.test("setHibernatableWebSocketEventTimeout above 604,800,000 ms throws a RangeError and keeps the previous value", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ctx = state.ctx;
  ctx.setHibernatableWebSocketEventTimeout(2000);
  for (const ms of [604_800_001, 4_294_967_295]) {
    const error = caught(() => ctx.setHibernatableWebSocketEventTimeout(ms));
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /\b604800000\b/);
    assert.match(error.message, new RegExp(`\\b${ms}\\b`));
  }
  assert.equal(ctx.getHibernatableWebSocketEventTimeout(), 2000);
});

Deno.test("setHibernatableWebSocketEventTimeout with a negative number or NaN throws a TypeError and keeps the previous value", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  const ctx = state.ctx;
  ctx.setHibernatableWebSocketEventTimeout(2000);
  for (const bad of [-1, -1000, NaN, Infinity]) {
    assert.throws(
      () => ctx.setHibernatableWebSocketEventTimeout(bad as number),
      TypeError,
      String(bad),
    );
  }
  assert.equal(ctx.getHibernatableWebSocketEventTimeout(), 2000);
});

// ---- mutable tags ------------------------------------------------------------------------------------

Deno.test("setTags replaces a socket's tags and getWebSockets(tag) and getTags reflect it at once", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["old", "both"]));
  const ws = state.accepted[0]!;
  const ctx = state.ctx;
  const before = ctx.getWebSockets("new");
  assert.deepEqual(ctx.setTags(ws, ["new", "both", "new"]), ["new", "both"]);
  assert.deepEqual(ctx.getTags(ws), ["new", "both"]);
  assert.deepEqual(ctx.getWebSockets("new"), [ws]);
  assert.notEqual(ctx.getWebSockets("new"), before);
  assert.deepEqual(ctx.getWebSockets("both"), [ws]);
  assert.deepEqual(ctx.getWebSockets("old"), []);
  assert.ok(Object.isFrozen(ctx.getWebSockets("new")));
  assert.deepEqual(ctx.setTags(ws, []), []);
  assert.deepEqual(ctx.getWebSockets("both"), []);
  assert.deepEqual(ctx.getWebSockets(), [ws]);
});

Deno.test("addTags appends new tags and removeTags drops the given ones, each returning the socket's tags", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["a", "b"]));
  const ws = state.accepted[0]!;
  const ctx = state.ctx;
  assert.deepEqual(ctx.addTags(ws, ["b", "c", 7 as unknown as string]), ["a", "b", "c", "7"]);
  assert.deepEqual(ctx.getWebSockets("7"), [ws]);
  assert.deepEqual(ctx.removeTags(ws, ["a", "7", "absent"]), ["b", "c"]);
  assert.deepEqual(ctx.getTags(ws), ["b", "c"]);
  assert.deepEqual(ctx.getWebSockets("a"), []);
  assert.deepEqual(ctx.getWebSockets("c"), [ws]);
});

Deno.test("getWebSockets(tag) lists sockets oldest accepted first also after a tag was added to an older socket", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["first"]));
  await s.connect(tagged("a", ["second", "x"]));
  await s.connect(tagged("a", ["third", "x"]));
  const [first, second, third] = state.accepted;
  assert.deepEqual(state.ctx.getWebSockets("x"), [second, third]);
  state.ctx.addTags(first!, ["x"]);
  assert.deepEqual(names(state.ctx, state.ctx.getWebSockets("x")), ["first", "second", "third"]);
  state.ctx.removeTags(second!, ["x"]);
  assert.deepEqual(names(state.ctx, state.ctx.getWebSockets("x")), ["first", "third"]);
});

Deno.test("setTags and addTags beyond 10 distinct tags throw a RangeError naming 10 and the count, and change nothing", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const nine = Array.from({ length: 9 }, (_, i) => `t${i}`);
  await s.connect(tagged("a", nine));
  const ws = state.accepted[0]!;
  const ctx = state.ctx;
  const eleven = Array.from({ length: 11 }, (_, i) => `n${i}`);
  for (
    const error of [
      caught(() => ctx.setTags(ws, eleven)),
      caught(() => ctx.addTags(ws, ["a", "b"])),
    ]
  ) {
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /\b10\b/);
    assert.match(error.message, /\b11\b/);
    assert.match(error.message, /^Cannot (set|add) tags/);
  }
  assert.deepEqual(ctx.getTags(ws), nine);
  assert.deepEqual(ctx.getWebSockets("n0"), []);
  assert.deepEqual(ctx.getWebSockets("a"), []);
  assert.deepEqual(ctx.addTags(ws, ["a"]), [...nine, "a"]);
});

Deno.test('setTags counts tag length in UTF-8 bytes: "é" × 129 throws a RangeError naming 256 and 258, and changes nothing', async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["x"]));
  const ws = state.accepted[0]!;
  const error = caught(() => state.ctx.setTags(ws, ["y", "é".repeat(129)]));
  assert.ok(error instanceof RangeError);
  assert.match(error.message, /\b256\b/);
  assert.match(error.message, /\b258\b/);
  assert.deepEqual(state.ctx.getTags(ws), ["x"]);
  assert.deepEqual(state.ctx.getWebSockets("y"), []);
  assert.deepEqual(state.ctx.setTags(ws, ["é".repeat(128)]), ["é".repeat(128)]);
});

Deno.test("setTags, addTags and removeTags throw a TypeError for tags that are not an array or hold a Symbol", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect(tagged("a", ["x"]));
  const ws = state.accepted[0]!;
  const ctx = state.ctx;
  const bad = [
    () => ctx.setTags(ws, "x" as unknown as string[]),
    () => ctx.addTags(ws, undefined as unknown as string[]),
    () => ctx.removeTags(ws, null as unknown as string[]),
    () => ctx.addTags(ws, [Symbol("s") as unknown as string]),
    () => ctx.removeTags(ws, [Symbol("s") as unknown as string]),
  ];
  for (const fn of bad) assert.ok(caught(fn) instanceof TypeError);
  assert.deepEqual(ctx.getTags(ws), ["x"]);
});

Deno.test("setTags, addTags and removeTags throw a TypeError for a socket accepted with accept(), by another object or not at all", async () => {
  const plain: WebSocket[] = [];
  const { Probe, state } = probe({
    fetch(ctx, request, state) {
      const pair = new WebSocketPair();
      if (new URL(request.url).searchParams.has("plain")) {
        pair[1].accept();
        plain.push(pair[1]);
      } else {
        ctx.acceptWebSocket(pair[1], ["x"]);
        state.accepted.push(pair[1]);
      }
      return webSocketResponse(pair[0]);
    },
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  await s.connect("/room/b");
  await s.connect("/room/a?plain");
  const ctxA = state.byName.get("a")!;
  const others = [state.accepted[1]!, plain[0]!, new WebSocketPair()[1], {} as WebSocket];
  for (const ws of others) {
    for (const fn of [ctxA.setTags, ctxA.addTags, ctxA.removeTags]) {
      const error = caught(() => fn.call(ctxA, ws, ["y"]));
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /acceptWebSocket/);
    }
  }
  assert.deepEqual(state.byName.get("b")!.getTags(state.accepted[1]!), ["x"]);
});

Deno.test("tag changes are written behind in the next flush, never one commit per change, and survive hibernation", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const client = await s.connect(tagged("a", ["start"]));
  const ws = state.accepted[0]!;
  const id = state.ctx.id;
  await flushNow(s.app);
  const commits = s.app.stats().kvCommits;
  for (let i = 0; i < 5; i++) state.ctx.setTags(ws, [`step${i}`]);
  state.ctx.addTags(ws, ["extra"]);
  assert.equal(s.app.stats().kvCommits, commits);
  await hibernateNow(s.app, "ROOM", id);
  await flushNow(s.app);
  const records = await readObjectRecords(
    s.kv,
    hibernationRoot(s.app.env.ROOM.storageName, id.toString()),
  );
  assert.deepEqual([...records.sockets.values()].map((r) => r.tags), [["step4", "extra"]]);
  assert.equal(objectStatus(s.app, "ROOM", id), "hibernated");
  client.socket.send("wake");
  await until(() => state.constructed === 2, "the object woke");
  assert.deepEqual(state.ctx.getTags(ws), ["step4", "extra"]);
  assert.deepEqual(state.ctx.getWebSockets("extra"), [ws]);
  assert.deepEqual(state.ctx.getWebSockets("start"), []);
});

Deno.test("tags set after a wake stay what getTags and getWebSockets(tag) see across the next hibernation and wake", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const client = await s.connect(tagged("a", ["start"]));
  const ws = state.accepted[0]!;
  const id = state.ctx.id;
  await hibernateNow(s.app, "ROOM", id);
  client.socket.send("wake");
  await until(() => state.constructed === 2, "the object woke");
  state.ctx.setTags(ws, ["later"]);
  await hibernateNow(s.app, "ROOM", id);
  client.socket.send("wake again");
  await until(() => state.constructed === 3, "the object woke again");
  assert.deepEqual(state.ctx.getTags(ws), ["later"]);
  assert.deepEqual(state.ctx.getWebSockets("later"), [ws]);
});

// ---- connection ids ----------------------------------------------------------------------------------

Deno.test("getConnectionId is one string per socket, the same across calls and hibernation, and distinct between sockets", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const client = await s.connect("/room/a");
  await s.connect("/room/a");
  const [first, second] = state.accepted;
  const id = state.ctx.getConnectionId(first!);
  assert.equal(typeof id, "string");
  assert.equal(state.ctx.getConnectionId(first!), id);
  assert.notEqual(state.ctx.getConnectionId(second!), id);
  await hibernateNow(s.app, "ROOM", state.ctx.id);
  client.socket.send("wake");
  await until(() => state.constructed === 2, "the object woke");
  assert.equal(state.ctx.getConnectionId(state.ctx.getWebSockets()[0]!), id);
});

Deno.test("getConnectionId throws a TypeError for a socket not accepted by this object", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  await s.connect("/room/a");
  await s.connect("/room/b");
  const ctxA = state.byName.get("a")!;
  assert.throws(() => ctxA.getConnectionId(state.accepted[1]!), TypeError);
  assert.throws(() => ctxA.getConnectionId(new WebSocketPair()[1]), TypeError);
  assert.throws(() => ctxA.getConnectionId({} as WebSocket), TypeError);
});

// ---- broadcast ---------------------------------------------------------------------------------------

Deno.test("ctx.broadcast sends to every open socket, or to those with the tag, and returns how many it reached", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect(tagged("r", ["red"]));
  const b = await s.connect(tagged("r", ["red", "blue"]));
  const c = await s.connect("/room/r");
  assert.equal(state.ctx.broadcast("all"), 3);
  for (const client of [a, b, c]) assert.equal(await client.next(), "all");
  assert.equal(state.ctx.broadcast("blue only", { tag: "blue" }), 1);
  assert.equal(await b.next(), "blue only");
  assert.equal(state.ctx.broadcast(new Uint8Array([7, 8]), { tag: "red" }), 2);
  for (const client of [a, b]) {
    assert.deepEqual([...new Uint8Array(await client.next() as ArrayBuffer)], [7, 8]);
  }
  assert.equal(state.ctx.broadcast("nobody", { tag: "green" }), 0);
  assert.equal(a.buffered + b.buffered + c.buffered, 0);
});

Deno.test("ctx.broadcast leaves out the socket, or the sockets, given as except: a sender reaches everyone else", async () => {
  const { Probe, state } = probe({
    message(ctx, ws, message) {
      ws.send(`reached ${ctx.broadcast(`said ${message}`, { except: ws })}`);
    },
  });
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/r");
  const b = await s.connect("/room/r");
  const c = await s.connect("/room/r");
  a.socket.send("hi");
  assert.equal(await a.next(), "reached 2");
  assert.equal(await b.next(), "said hi");
  assert.equal(await c.next(), "said hi");
  assert.equal(
    state.ctx.broadcast("to c", { except: [state.accepted[0]!, state.accepted[1]!] }),
    1,
  );
  assert.equal(await c.next(), "to c");
  assert.equal(a.buffered + b.buffered, 0);
});

Deno.test("ctx.broadcast throws a TypeError for a message that is not text or bytes, a tag that is not a string, or an except that is not a WebSocket, and sends nothing", async () => {
  const { Probe, state } = probe();
  await using s = await serveApp({ objects: { ROOM: Probe }, routes: ROUTES });
  const a = await s.connect("/room/r");
  assert.throws(() => state.ctx.broadcast(42 as never), /must be a string, an ArrayBuffer/);
  assert.throws(() => state.ctx.broadcast("x", { tag: 1 as never }), /tag must be a string/);
  assert.throws(
    () => state.ctx.broadcast("x", { except: {} as never }),
    /except must be a WebSocket or an array of WebSockets/,
  );
  assert.equal(state.ctx.broadcast("after"), 1);
  assert.equal(await a.next(), "after", "none of the refused broadcasts went out");
});
