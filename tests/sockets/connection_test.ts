/**
 * The socket API objects call: Cloudflare's non-hibernatable `accept()` +
 * `addEventListener()` on a `WebSocketPair` server end, and `send()` after
 * the object's own `close()`. Real `Deno.serve`, real clients, real KV.
 */
import assert from "node:assert/strict";
import {
  App,
  DurableObject,
  type DurableObjectState,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { flushNow, hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import { serveApp, until, UPGRADE_HEADERS } from "../_helpers.ts";
import { RawClient } from "../_raw_client.ts";

interface Env {
  /** What the listeners saw, in order. */
  readonly log: unknown[];
}

const ROUTES = [{ pattern: "/p/:name", object: "P" }];

/**
 * `fetch` accepts with `accept()` (or, with `?both` / `?reverse`, with both APIs)
 * and echoes through listeners; `?throw` adds a listener that throws first.
 */
class Plain extends DurableObject<Env> {
  fetch(request: Request): Response {
    const url = new URL(request.url);
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    if (url.searchParams.has("both")) {
      this.ctx.acceptWebSocket(server);
      server.accept(); // a TypeError: the socket is hibernatable already
    }
    server.accept();
    server.accept(); // a second accept() is a no-op, as on Cloudflare
    if (url.searchParams.has("throw")) {
      server.addEventListener("message", (event) => {
        throw new Error(`listener failed on ${event.data}`);
      });
      server.addEventListener("message", async (event) => {
        await Promise.resolve();
        if (event.data === "reject") throw new Error("async listener rejected");
      });
    }
    server.addEventListener("message", (event) => {
      const data = event.data as string | ArrayBuffer;
      if (data === "attach") {
        server.serializeAttachment({ n: 1 });
        return server.send(`attached:${JSON.stringify(server.deserializeAttachment())}`);
      }
      server.send(typeof data === "string" ? `echo:${data}` : data);
    });
    if (url.searchParams.has("once")) {
      server.addEventListener("message", () => server.send("first only"), { once: true });
      const removed = () => server.send("removed listener ran");
      server.addEventListener("message", removed);
      server.removeEventListener("message", removed);
    }
    server.addEventListener("error", (event) => {
      this.env.log.push(["error", (event.error as Error).message, server.readyState]);
    });
    server.addEventListener("close", (event) => {
      this.env.log.push(["close", event.code, event.reason, event.wasClean, server.readyState]);
    });
    server.send("welcome");
    return webSocketResponse(client);
  }

  webSocketMessage(): void {
    this.env.log.push("webSocketMessage must not run for an accept()ed socket");
  }

  /** For stubs: how many sockets `getWebSockets()` lists. */
  listed(): number {
    return this.ctx.getWebSockets().length;
  }

  /** For stubs: both accept orders on a fresh pair; what each threw. */
  bothOrders(): string[] {
    const out: string[] = [];
    const first = new WebSocketPair()[1];
    first.accept();
    try {
      this.ctx.acceptWebSocket(first);
    } catch (error) {
      out.push(`${(error as Error).name}: ${(error as Error).message}`);
    }
    const second = new WebSocketPair()[1];
    this.ctx.acceptWebSocket(second);
    try {
      second.accept();
    } catch (error) {
      out.push(`${(error as Error).name}: ${(error as Error).message}`);
    }
    second.close();
    return out;
  }

  /** For stubs: what getTags() does on an accept()ed end. */
  tagsOfPlain(): unknown[] {
    const server = new WebSocketPair()[1];
    server.accept();
    try {
      return [this.ctx.getTags(server)];
    } catch (error) {
      return [(error as Error).name, (error as Error).message];
    }
  }

  /** For stubs: discards the instance (a failed `blockConcurrencyWhile` resets it). */
  async reset(): Promise<void> {
    await this.ctx.blockConcurrencyWhile(() => Promise.reject(new Error("reset by the test")))
      .catch(() => {});
  }
}

async function servePlain() {
  const log: unknown[] = [];
  const s = await serveApp({ objects: { P: Plain }, env: { log }, routes: ROUTES });
  return Object.assign(s, { log, stub: s.app.env.P.getByName("a") });
}

// ---- item: the non-hibernatable API ----------------------------------------------------------

Deno.test("accept() and addEventListener('message') on a pair's server end echo through a real socket", async () => {
  await using s = await servePlain();
  const client = await s.connect("/p/a");
  assert.equal(await client.next(), "welcome", "sent in fetch() before the upgrade");
  client.socket.send("hi");
  assert.equal(await client.next(), "echo:hi");
  client.socket.send(new Uint8Array([1, 2, 3]));
  assert.deepEqual([...new Uint8Array(await client.next() as ArrayBuffer)], [1, 2, 3]);
  assert.equal(await s.stub.listed(), 0, "getWebSockets() does not list an accept()ed socket");
  assert.deepEqual(s.log, []);
  assert.deepEqual(s.exceptions, []);
});

Deno.test("an object with an open accept()ed socket does not hibernate until the socket is gone", async () => {
  await using s = await servePlain();
  const id = s.stub.id;
  const client = await s.connect("/p/a");
  assert.equal(await client.next(), "welcome");
  await s.clock.advance(60_000);
  assert.equal(objectStatus(s.app, "P", id), "active");
  assert.deepEqual(s.app.stats().objects[0]!.blockers, ["non-hibernatable socket"]);
  await assert.rejects(hibernateNow(s.app, "P", id), /busy: non-hibernatable socket/);
  await client.close(1000);
  await until(() => s.app.stats().connections === 0, "the socket to be gone");
  assert.deepEqual(s.app.stats().objects[0]!.blockers, []);
  await hibernateNow(s.app, "P", id);
  assert.equal(objectStatus(s.app, "P", id), "hibernated");
});

Deno.test("a client Close reaches the close listener with its code, reason and wasClean", async () => {
  await using s = await servePlain();
  const client = await s.connect("/p/a");
  assert.equal(await client.next(), "welcome");
  await client.close(4000, "bye");
  await until(() => s.log.length === 1, "the close listener");
  assert.deepEqual(s.log, [["close", 4000, "bye", true, 3]]);
  assert.deepEqual(s.exceptions, []);
});

Deno.test("a protocol error reaches the error listener once, and no close event follows", async () => {
  await using s = await servePlain();
  await using client = await RawClient.connect(s.port, "/p/a");
  await client.send(3, "x"); // a reserved opcode
  await until(() => s.app.stats().connections === 0, "the socket to be gone");
  assert.equal(s.log.length, 1);
  assert.equal((s.log[0] as unknown[])[0], "error");
  assert.match((s.log[0] as string[])[1]!, /Invalid value/);
  assert.deepEqual(s.exceptions, []);
});

Deno.test("a { once: true } listener runs once and a removed listener never runs", async () => {
  await using s = await servePlain();
  const client = await s.connect("/p/a?once");
  assert.equal(await client.next(), "welcome");
  client.socket.send("a");
  assert.equal(await client.next(), "echo:a"); // listeners run in the order they were added
  assert.equal(await client.next(), "first only");
  client.socket.send("b");
  assert.equal(await client.next(), "echo:b");
  client.socket.send("c");
  assert.equal(await client.next(), "echo:c");
});

Deno.test("accept() after ctx.acceptWebSocket() is a TypeError: the upgrade fails with 500 and no socket stays listed", async () => {
  await using s = await servePlain();
  const response = await fetch(s.url("/p/a?both"), { headers: UPGRADE_HEADERS });
  await response.body?.cancel();
  assert.equal(response.status, 500);
  assert.equal(s.exceptions.length, 1);
  const error = s.exceptions[0]!.error as Error;
  assert.ok(error instanceof TypeError);
  assert.match(error.message, /^Can't accept\(\) WebSocket after enabling hibernation/);
  assert.equal(await s.stub.listed(), 0);
});

Deno.test("accept() and ctx.acceptWebSocket() on one end are a TypeError in either order; a second accept() is a no-op", async () => {
  await using s = await servePlain();
  const errors = await s.stub.bothOrders();
  assert.equal(errors.length, 2);
  assert.match(
    errors[0]!,
    /^TypeError: Cannot call acceptWebSocket\(\) on a WebSocket accepted with accept\(\)/,
  );
  assert.match(errors[1]!, /^TypeError: Can't accept\(\) WebSocket after enabling hibernation/);
  assert.equal(await s.stub.listed(), 0);
});

Deno.test("an accept()ed socket has no tags (getTags is a TypeError) and keeps its attachment in memory only", async () => {
  await using s = await servePlain();
  const [name, message] = await s.stub.tagsOfPlain();
  assert.equal(name, "TypeError");
  assert.match(message as string, /call acceptWebSocket\(\) first/);
  const client = await s.connect("/p/a");
  assert.equal(await client.next(), "welcome");
  client.socket.send("attach");
  assert.equal(await client.next(), 'attached:{"n":1}');
  assert.equal(s.app.stats().pendingWrites, 0);
  await flushNow(s.app);
  let records = 0;
  for await (const _ of s.kv.list({ prefix: ["dormant", "h"] })) records++;
  assert.equal(records, 0, "nothing about the socket was written to KV");
});

Deno.test("a listener that throws or rejects is reported to onException; the other listeners still run", async () => {
  await using s = await servePlain();
  const client = await s.connect("/p/a?throw");
  assert.equal(await client.next(), "welcome");
  client.socket.send("one");
  assert.equal(await client.next(), "echo:one");
  client.socket.send("reject");
  assert.equal(await client.next(), "echo:reject");
  await until(() => s.exceptions.length === 3, "three reports");
  assert.deepEqual(
    s.exceptions.map((e) => [e.context.operation, (e.error as Error).message]),
    [
      ["message listener", "listener failed on one"],
      ["message listener", "listener failed on reject"],
      ["message listener", "async listener rejected"],
    ],
  );
  client.socket.send("still open");
  assert.equal(await client.next(), "echo:still open");
});

Deno.test("a reset instance's accept()ed sockets are closed with 1011 and their listeners get nothing more", async () => {
  await using s = await servePlain();
  const client = await s.connect("/p/a");
  assert.equal(await client.next(), "welcome");
  await s.stub.reset();
  const closed = await client.closed;
  assert.equal(closed.code, 1011);
  assert.deepEqual(s.log, [], "no close event for a socket the framework terminated");
  assert.equal(s.exceptions.length, 1);
  assert.match(String(s.exceptions[0]!.error), /reset by the test/);
});

Deno.test("shutdown closes accept()ed sockets with 1001 like the others", async () => {
  await using s = await servePlain();
  const client = await s.connect("/p/a");
  assert.equal(await client.next(), "welcome");
  await s.app.shutdown({ timeoutMs: 2_000 });
  const closed = await client.closed;
  assert.equal(closed.code, 1001);
});

// ---- item: send() after close() --------------------------------------------------------------

/** Accepts hibernatable sockets; "close-then-send" closes and then sends. */
class Closer extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
  }
  fetch(request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    if (new URL(request.url).searchParams.has("early")) {
      server.close(4001, "early");
      this.env.log.push(attempt(() => server.send("after early close")));
    }
    return webSocketResponse(client);
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (message === "close-then-send") {
      ws.close(4000, "done");
      this.env.log.push(attempt(() => ws.send("after close")));
      this.env.log.push(attempt(() => ws.close(4002, "again")));
    }
  }
  webSocketClose(ws: WebSocket): void {
    // The client's Close reply arrived: send() still throws, the socket is closed.
    this.env.log.push(attempt(() => ws.send("after the reply")));
  }
}

/** What `fn` threw, as "Name: message", or "ok". */
function attempt(fn: () => void): string {
  try {
    fn();
    return "ok";
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}

Deno.test("send() after the object's own close() throws TypeError, also once the client replied; a second close() is a no-op", async () => {
  const log: unknown[] = [];
  await using s = await serveApp({
    objects: { C: Closer },
    env: { log },
    routes: [{ pattern: "/c/:name", object: "C" }],
  });
  const client = await s.connect("/c/a");
  client.socket.send("close-then-send");
  const closed = await client.closed;
  assert.equal(closed.code, 4000);
  assert.equal(client.buffered, 0, "nothing sent after the Close");
  await until(() => log.length === 3, "webSocketClose");
  const message = "TypeError: Can't call WebSocket send() after close().";
  assert.deepEqual(log, [message, "ok", message]);
  assert.deepEqual(s.exceptions, []);
});

Deno.test("send() after close() in fetch(), before the upgrade, throws TypeError too", async () => {
  const log: unknown[] = [];
  await using s = await serveApp({
    objects: { C: Closer },
    env: { log },
    routes: [{ pattern: "/c/:name", object: "C" }],
  });
  const client = await s.connect("/c/a?early");
  assert.equal((await client.closed).code, 4001);
  assert.equal(log[0], "TypeError: Can't call WebSocket send() after close().");
});

Deno.test("an accept()ed socket forwarded through the worker's stub.fetch() works, and one whose response the worker drops is closed and reported, never kept busy", async () => {
  const log: unknown[] = [];
  await using s = await serveApp({
    objects: { P: Plain },
    env: { log },
    worker: {
      async fetch(request: Request, env: { P: import("../../mod.ts").DurableObjectNamespace }) {
        const url = new URL(request.url);
        const response = await env.P.getByName(url.pathname.slice(1)).fetch(request);
        return url.searchParams.has("drop") ? new Response("dropped", { status: 403 }) : response;
      },
    },
  });
  const client = await s.connect("/w");
  assert.equal(await client.next(), "welcome");
  client.socket.send("hi");
  assert.equal(await client.next(), "echo:hi");
  const id = s.app.env.P.idFromName("w");
  assert.deepEqual(s.app.stats().objects.find((o) => o.id === id.toString())?.blockers, [
    "non-hibernatable socket",
  ]);

  const dropped = await fetch(s.url("/d?drop"), { headers: UPGRADE_HEADERS });
  assert.equal(dropped.status, 403);
  await dropped.body?.cancel();
  const d = s.app.env.P.idFromName("d");
  await until(() => log.some((entry) => Array.isArray(entry) && entry[0] === "close"));
  assert.deepEqual(log, [["close", 1006, "", false, 3]]);
  await until(() => s.exceptions.length > 0);
  assert.match(String(s.exceptions[0]?.error), /TypeError: .*closed \(webSocketClose 1006\)/);
  await hibernateNow(s.app, "P", d); // nothing keeps it busy
  assert.equal(objectStatus(s.app, "P", d), "hibernated");
});

// ---- what users can reach ----------------------------------------------------------------------

/** Every string-keyed property along the prototype chain of `value`, up to `Object.prototype`. */
function reachable(value: object): string[] {
  const names = new Set<string>();
  for (let o = value; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) names.add(name);
  }
  return [...names].sort();
}

const SOCKET_API = [
  "accept",
  "addEventListener",
  "bufferedAmount",
  "close",
  "constructor",
  "deserializeAttachment",
  "protocol",
  "readyState",
  "removeEventListener",
  "send",
  "serializeAttachment",
  "url",
];

class Surface extends DurableObject {
  static readonly storageName = "surface";
  ping(): number {
    return 1;
  }
  ctxKeys(): string[] {
    return reachable(this.ctx);
  }
}

Deno.test("nothing handed to users has an internal member: sockets, pair ends, the pair, ctx, stubs and namespaces show only their API", async () => {
  const pair = new WebSocketPair();
  const [client, server] = [pair[0], pair[1]];
  assert.deepEqual(reachable(server), SOCKET_API);
  assert.deepEqual(reachable(client), SOCKET_API);
  assert.deepEqual(reachable(pair), ["0", "1", "constructor"]);
  // Nor through the constructors (no static accessor such as a server-end lookup).
  for (const end of [client, server, pair]) {
    assert.deepEqual(Object.getOwnPropertyNames(end.constructor).sort(), [
      "length",
      "name",
      "prototype",
    ]);
  }
  await using app = new App({ objects: { SURFACE: Surface } });
  const namespace = app.env.SURFACE;
  assert.deepEqual(reachable(namespace), [
    "binding",
    "broadcast",
    "constructor",
    "get",
    "getByName",
    "idFromName",
    "idFromString",
    "newUniqueId",
    "presence",
    "storageName",
  ]);
  const stub = namespace.getByName("a");
  assert.equal(await stub.ping(), 1);
  // A stub is a proxy: its own names are id, name and fetch; any other name is an RPC method.
  assert.deepEqual(reachable(stub), ["fetch", "id", "name"]);
  assert.deepEqual(await stub.ctxKeys(), [
    "acceptWebSocket",
    "addTags",
    "blockConcurrencyWhile",
    "broadcast",
    "constructor",
    "getConnectionId",
    "getHibernatableWebSocketEventTimeout",
    "getPresence",
    "getTags",
    "getWebSocketAutoResponse",
    "getWebSocketAutoResponseTimestamp",
    "getWebSockets",
    "id",
    "removeTags",
    "setHibernatableWebSocketEventTimeout",
    "setPresence",
    "setTags",
    "setWebSocketAutoResponse",
    "storage",
    "waitUntil",
  ]);
});

Deno.test("deserializeAttachment<T>() returns the attachment typed as T without a cast, and is any without a type argument", async () => {
  interface Member {
    name: string;
    joined: Date;
  }
  const seen: string[] = [];
  class Typed extends DurableObject {
    fetch(): Response {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1]);
      pair[1].serializeAttachment({ name: "ann", joined: new Date(5) } satisfies Member);
      return webSocketResponse(pair[0]);
    }
    webSocketMessage(ws: WebSocket): void {
      const member = ws.deserializeAttachment<Member>();
      const name: string = member.name; // typed: no cast
      const joined: number = member.joined.getTime();
      // Cloudflare-ported code keeps compiling: the default is any.
      const ported: { name: number } = ws.deserializeAttachment();
      seen.push(`${name}@${joined}:${typeof ported.name}`);
      ws.send("ok");
    }
  }
  await using s = await serveApp({
    objects: { T: Typed },
    routes: [{ pattern: "/t/:name", object: "T" }],
  });
  const client = await s.connect("/t/a");
  client.socket.send("read");
  assert.equal(await client.next(), "ok");
  assert.deepEqual(seen, ["ann@5:string"]);
});
