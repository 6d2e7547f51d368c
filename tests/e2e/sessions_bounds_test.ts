import assert from "node:assert/strict";
import {
  DurableObject,
  durableObject,
  type DurableObjectState,
  onClose,
  onMessage,
  type SessionOptions,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { connect } from "../../src/client/connect.js";
import { hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { TcpRelay } from "../_tcp_relay.ts";

const closes: Array<{ code: number; name: string }> = [];

@durableObject({ name: "broom", resumable: true })
class Room {
  constructor(readonly ctx: DurableObjectState) {}

  @onMessage
  message(ws: WebSocket, message: string | ArrayBuffer): void {
    if (message === "who") return ws.send(String(this.ctx.getWebSockets().length));
    for (const socket of this.ctx.getWebSockets()) socket.send(message);
  }

  @onClose
  closed(_ws: WebSocket, code: number): void {
    closes.push({ code, name: this.ctx.id.name ?? "" });
  }
}

/** Ann behind a relay, Ben direct, both with the reconnecting client, in room `name`. */
async function room(name: string, sessions?: SessionOptions, routeResumable?: boolean) {
  const served = await serveApp({
    objects: { ROOM: Room },
    routes: [{ pattern: "/rooms/:name", object: "ROOM", resumable: routeResumable }],
    sessions,
  });
  const relay = new TcpRelay(served.port);
  const client = (port: number) => {
    const ws = connect(`ws://127.0.0.1:${port}/rooms/${name}`, { minDelayMs: 20, maxDelayMs: 60 });
    const received: string[] = [];
    const opens: (string | undefined)[] = [];
    ws.addEventListener("message", (event) => received.push(String(event.data)));
    ws.addEventListener("open", (event) => opens.push(event.code));
    return { ws, received, opens };
  };
  const ann = client(relay.port);
  const ben = client(served.port);
  await until(() => ann.ws.status === "open" && ben.ws.status === "open", "both open");
  return {
    served,
    relay,
    ann,
    ben,
    /** Cuts Ann's connection; resolves once the server saw it drop. */
    async away() {
      await relay.cut();
      await until(() => served.app.stats().connections === 1, "ann's connection to drop");
    },
    async say(...texts: string[]) {
      const start = ben.received.length;
      for (const text of texts) ben.ws.send(text);
      await until(() => ben.received.length === start + texts.length, "ben's messages");
    },
    async [Symbol.asyncDispose]() {
      ann.ws.close();
      ben.ws.close();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await relay.close();
      await served[Symbol.asyncDispose]();
    },
  };
}

Deno.test("a session resumes across hibernation: messages sent while the object slept and the client was away arrive", async () => {
  await using r = await room("sleepy");
  const id = r.served.app.env.ROOM.idFromName("sleepy");
  await r.away();
  await hibernateNow(r.served.app, "ROOM", id);
  assert.equal(objectStatus(r.served.app, "ROOM", id), "hibernated");
  await r.say("one", "two");
  await r.served.app.env.ROOM.broadcast(id, "from outside");
  await hibernateNow(r.served.app, "ROOM", id);
  r.relay.restore();
  await until(() => r.ann.received.length === 3, "ann's replay");
  assert.deepEqual(r.ann.received, ["one", "two", "from outside"]);
  assert.deepEqual(r.ann.opens, ["new", "resumed"]);
});

Deno.test("a detached session is listed by getWebSockets() and webSocketClose(1006) fires once when its resume window ends; resuming later starts fresh", async () => {
  closes.length = 0;
  await using r = await room("window", { resumeWindowMs: 60_000 });
  await r.away();
  r.ben.ws.send("who");
  await until(() => r.ben.received.length === 1, "count");
  assert.equal(r.ben.received[0], "2");
  await r.served.clock.advance(59_000);
  assert.deepEqual(closes, []);
  await r.served.clock.advance(1_000);
  await until(() => closes.length === 1, "webSocketClose");
  await r.served.clock.advance(120_000);
  assert.deepEqual(closes, [{ code: 1006, name: "window" }]);
  r.relay.restore();
  await until(() => r.ann.opens.length === 2, "ann back");
  assert.deepEqual(r.ann.opens, ["new", "unknown"]);
  r.ben.ws.send("who");
  await until(() => r.ben.received.length === 2, "count"); // "who" is answered, not broadcast
  assert.equal(r.ben.received.at(-1), "2");
});

Deno.test("past the log's count bound the client is told too_old and starts fresh; the old session gets webSocketClose(1006)", async () => {
  closes.length = 0;
  await using r = await room("count", { maxMessages: 8 });
  await r.away();
  await r.say(...Array.from({ length: 20 }, (_, i) => `m${i}`));
  r.relay.restore();
  await until(() => r.ann.opens.length === 2, "ann back");
  assert.deepEqual(r.ann.opens, ["new", "too_old"]);
  assert.deepEqual(r.ann.received, []);
  assert.deepEqual(closes, [{ code: 1006, name: "count" }]);
  await r.say("live");
  await until(() => r.ann.received.length === 1, "live");
  assert.deepEqual(r.ann.received, ["live"]);
});

Deno.test("within the count bound a resume gets the last messages (the log keeps at least 7/8 of maxMessages)", async () => {
  await using r = await room("count-ok", { maxMessages: 16 });
  await r.say(...Array.from({ length: 40 }, (_, i) => `old${i}`));
  await until(() => r.ann.received.length === 40, "ann had them");
  await r.away();
  const missed = Array.from({ length: 14 }, (_, i) => `m${i}`);
  await r.say(...missed);
  r.relay.restore();
  await until(() => r.ann.received.length === 54, "ann's replay");
  assert.deepEqual(r.ann.received.slice(40), missed);
  assert.deepEqual(r.ann.opens, ["new", "resumed"]);
});

Deno.test("past the log's byte bound the client is told too_old", async () => {
  await using r = await room("bytes", { maxBytes: 2_000 });
  await r.away();
  await r.say(...Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(400, ".")));
  r.relay.restore();
  await until(() => r.ann.opens.length === 2, "ann back");
  assert.deepEqual(r.ann.opens, ["new", "too_old"]);
});

Deno.test("past the log's age bound the client is told too_old", async () => {
  await using r = await room("age", { maxAgeMs: 10_000, resumeWindowMs: 600_000 });
  await r.away();
  await r.say("old");
  await r.served.clock.advance(20_000);
  await r.say("new"); // a commit trims what is older than the bound
  r.relay.restore();
  await until(() => r.ann.opens.length === 2, "ann back");
  assert.deepEqual(r.ann.opens, ["new", "too_old"]);
});

Deno.test("a route with resumable: false keeps plain sockets: the client is told unsupported and reconnects without replay", async () => {
  await using r = await room("plain", undefined, false);
  assert.deepEqual(r.ann.opens, ["unsupported"]);
  assert.equal(r.ann.ws.protocol, "");
  assert.equal(r.ann.ws.session, null);
  await r.away();
  await r.say("lost");
  r.relay.restore();
  await until(() => r.ann.opens.length === 2, "ann back");
  await r.say("seen");
  await until(() => r.ann.received.length === 1, "live");
  assert.deepEqual(r.ann.received, ["seen"]);
});

Deno.test("a plain WebSocket that asks for no session on a resumable route gets plain frames (partysocket-style clients keep working)", async () => {
  await using r = await room("mixed");
  const plain = new WebSocket(`ws://127.0.0.1:${r.served.port}/rooms/mixed`);
  const got: string[] = [];
  plain.onmessage = (event) => got.push(String(event.data));
  await new Promise((resolve) => (plain.onopen = resolve));
  assert.equal(plain.protocol, "");
  await r.say("hi");
  await until(() => got.length === 1, "plain message");
  assert.deepEqual(got, ["hi"]);
  const closed = new Promise((resolve) => (plain.onclose = resolve));
  plain.close();
  await closed;
});

Deno.test("the protocol with a plain WebSocket: hello, counting, and a resume of a still-attached session closes the old connection with 4409", async () => {
  await using r = await room("raw");
  const url = `ws://127.0.0.1:${r.served.port}/rooms/raw`;
  const first = new WebSocket(url, ["dormant.session.v1"]);
  const frames: string[] = [];
  first.onmessage = (event) => frames.push(String(event.data));
  await until(() => frames.length === 1, "hello");
  assert.equal(first.protocol, "dormant.session.v1");
  const hello = JSON.parse(frames[0]!);
  assert.deepEqual({ ...hello, token: typeof hello.token }, {
    dormant: "session",
    code: "new",
    token: "string",
    seq: 0,
  });
  await r.say("a", "b", "c");
  await until(() => frames.length === 4, "three messages");
  const closed = new Promise<CloseEvent>((resolve) => (first.onclose = resolve));
  const second = new WebSocket(url, ["dormant.session.v1", `dormant.resume.${hello.token}.1`]);
  const again: string[] = [];
  second.onmessage = (event) => again.push(String(event.data));
  assert.equal((await closed).code, 4409);
  await until(() => again.length === 3, "hello and the two missed");
  assert.deepEqual(JSON.parse(again[0]!), {
    dormant: "session",
    code: "resumed",
    token: hello.token,
    seq: 1,
  });
  assert.deepEqual(again.slice(1), ["b", "c"]);
  const done = new Promise((resolve) => (second.onclose = resolve));
  second.close();
  await done;
});

/** A Cloudflare-style class: sessions with `static resumable = true`, sockets from fetch(). */
class CfRoom extends DurableObject {
  static resumable = true;

  fetch(_request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server!);
    server!.send("welcome"); // before the upgrade: logged as message 1
    return webSocketResponse(client!);
  }

  webSocketMessage(_ws: WebSocket, message: string | ArrayBuffer): void {
    for (const ws of this.ctx.getWebSockets()) ws.send(message);
  }
}

Deno.test("a Cloudflare-style class with static resumable = true gives sessions to the sockets its fetch() returns; what it sent before the upgrade is message 1", async () => {
  await using served = await serveApp({
    objects: { CF: CfRoom },
    routes: [{ pattern: "/cf/:name", object: "CF" }],
  });
  const relay = new TcpRelay(served.port);
  const got: string[] = [];
  const opens: (string | undefined)[] = [];
  const ann = connect(`ws://127.0.0.1:${relay.port}/cf/x`, { minDelayMs: 20 });
  ann.onmessage = (event) => got.push(String(event.data));
  ann.onopen = (event) => opens.push(event.code);
  const ben = connect(`ws://127.0.0.1:${served.port}/cf/x`);
  try {
    await until(() => got.length === 1 && ben.status === "open", "welcome");
    assert.equal(ann.session?.seq, 1);
    await relay.cut();
    await until(() => served.app.stats().connections === 1, "ann away");
    ben.send("missed");
    relay.restore();
    await until(() => got.length === 2, "replay");
    assert.deepEqual(got, ["welcome", "missed"]);
    assert.deepEqual(opens, ["new", "resumed"]);
  } finally {
    ann.close();
    ben.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await relay.close();
  }
});
