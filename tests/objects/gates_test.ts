import assert from "node:assert/strict";
import {
  DurableObject,
  durableObject,
  type DurableObjectState,
  onConnect,
  type WebSocket,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { interceptKv } from "../_intercept_kv.ts";

/** A KV whose commits (and, optionally, reads) wait for the test to release them. */
function controlledKv(real: Deno.Kv) {
  const state = {
    holdCommits: false,
    holdReads: false,
    failCommits: false,
    pending: [] as Array<() => void>,
  };
  const wait = () => new Promise<void>((resolve) => state.pending.push(resolve));
  const release = () => {
    for (const resolve of state.pending.splice(0)) resolve();
  };
  const kv = interceptKv(real, {
    async commit(commit) {
      if (state.holdCommits) await wait();
      if (state.failCommits) throw new Error("injected commit failure");
      return commit();
    },
    async read(_method, _args, read) {
      if (state.holdReads) await wait();
      return read();
    },
  });
  return { kv, state, release };
}

let constructed = 0;

class Store extends DurableObject {
  constructor(ctx: ConstructorParameters<typeof DurableObject>[0], env: unknown) {
    super(ctx, env);
    constructed++;
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }
  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const text = String(message);
    if (text.startsWith("put:")) {
      this.ctx.storage.put("k", text); // not awaited: the output gate covers it
      ws.send(`stored ${text}`);
    } else if (text.startsWith("read:")) {
      const value = await this.ctx.storage.get("k");
      ws.send(`read ${String(value)} for ${text}`);
    } else ws.send(`echo ${text}`);
  }
}

@durableObject({ name: "ungated", outputGate: false })
class Ungated extends Store {}

const ROUTES = [{ pattern: "/s/:name", object: "S" }, { pattern: "/u/:name", object: "U" }];

Deno.test("output gate: a message sent after a write reaches the client only once the write is durable", async () => {
  const real = await Deno.openKv(":memory:");
  const { kv, state, release } = controlledKv(real);
  try {
    await using s = await serveApp({ objects: { S: Store, U: Ungated }, routes: ROUTES, kv });
    const client = await s.connect("/s/a");
    state.holdCommits = true;
    client.socket.send("put:1");
    client.socket.send("ping"); // answered by the registry, which the gate does not hold
    assert.equal(await client.next(), "pong", "the reply to put:1 was held behind its write");
    await until(() => state.pending.length > 0, "the commit to start");
    assert.equal(client.buffered, 0, "still held while the commit waits");
    state.holdCommits = false;
    release();
    assert.equal(await client.next(), "stored put:1");
  } finally {
    real.close();
  }
});

Deno.test("output gate off (@durableObject({ outputGate: false })): the message goes out while the write is pending", async () => {
  const real = await Deno.openKv(":memory:");
  const { kv, state, release } = controlledKv(real);
  try {
    await using s = await serveApp({ objects: { S: Store, U: Ungated }, routes: ROUTES, kv });
    const client = await s.connect("/u/a");
    state.holdCommits = true;
    client.socket.send("put:1");
    assert.equal(await client.next(), "stored put:1");
    await until(() => state.pending.length > 0, "the commit to start");
    state.holdCommits = false;
    release();
  } finally {
    real.close();
  }
});

Deno.test("output gate: a failed write is reported, its held message is never sent, the socket closes 1011 and the instance is reset", async () => {
  const real = await Deno.openKv(":memory:");
  const { kv, state, release } = controlledKv(real);
  try {
    await using s = await serveApp({ objects: { S: Store, U: Ungated }, routes: ROUTES, kv });
    const client = await s.connect("/s/fail");
    const other = await s.connect("/s/fail");
    other.socket.send("hello");
    assert.equal(await other.next(), "echo hello");
    const before = constructed;
    state.holdCommits = true;
    state.failCommits = true;
    client.socket.send("put:lost");
    await until(() => state.pending.length > 0, "the commit to start");
    release();
    const closed = await client.closed;
    assert.equal(closed.code, 1011);
    assert.equal(client.buffered, 0, "the reply that depended on the lost write never arrived");
    await until(
      () => s.exceptions.some((e) => e.context.operation === "storage write"),
      "the report",
    );
    assert.match(
      String(s.exceptions.find((e) => e.context.operation === "storage write")!.error),
      /injected/,
    );
    // The process is fine and the next event builds a fresh instance.
    state.holdCommits = false;
    state.failCommits = false;
    other.socket.send("again");
    assert.equal(await other.next(), "echo again");
    assert.equal(constructed, before + 1);
  } finally {
    real.close();
  }
});

Deno.test("input gate: while a handler awaits its own storage read, the next message waits; then it runs after the handler continued", async () => {
  const real = await Deno.openKv(":memory:");
  const { kv, state, release } = controlledKv(real);
  try {
    await using s = await serveApp({ objects: { S: Store, U: Ungated }, routes: ROUTES, kv });
    const client = await s.connect("/s/in");
    client.socket.send("put:v");
    assert.equal(await client.next(), "stored put:v");
    state.holdReads = true;
    client.socket.send("read:1");
    await until(() => state.pending.length > 0, "the read to start");
    client.socket.send("second");
    client.socket.send("ping");
    assert.equal(await client.next(), "pong", "both messages arrived at the server");
    assert.equal(client.buffered, 0, "'second' was not delivered while the read was pending");
    state.holdReads = false;
    release();
    assert.equal(await client.next(), "read put:v for read:1");
    assert.equal(await client.next(), "echo second");
  } finally {
    real.close();
  }
});

// ---- messages sent before the upgrade completes ----------------------------------------------

/** Answers "ping" without the object, for a round trip that no gate holds. */
class Pong extends DurableObject {
  constructor(ctx: ConstructorParameters<typeof DurableObject>[0], env: unknown) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }
}

/** fetch() accepts, writes without awaiting and sends "hello" before the upgrade. */
class EarlyFetch extends Pong {
  fetch(): Response {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    this.ctx.storage.put("joined", true); // not awaited: "hello" depends on it
    server.send("hello");
    return webSocketResponse(client);
  }
}

/** The same from @onConnect (decorated). */
@durableObject({ name: "early-connect" })
class EarlyConnect extends Pong {
  @onConnect
  connect(ws: WebSocket): void {
    this.ctx.acceptWebSocket(ws);
    this.ctx.storage.put("joined", true);
    ws.send("hello");
  }
}

const EARLY = {
  objects: { F: EarlyFetch, C: EarlyConnect },
  routes: [{ pattern: "/f/:name", object: "F" }, { pattern: "/c/:name", object: "C" }],
};

for (const [how, path] of [["fetch()", "/f/a"], ["@onConnect", "/c/a"]] as const) {
  Deno.test(`output gate: a message sent in ${how} before the upgrade waits for the pending write`, async () => {
    const real = await Deno.openKv(":memory:");
    const { kv, state, release } = controlledKv(real);
    try {
      await using s = await serveApp({ ...EARLY, kv });
      state.holdCommits = true;
      const client = await s.connect(path);
      try {
        await until(() => state.pending.length > 0, "the commit to start");
        client.socket.send("ping"); // a round trip: "hello" was written before the answer
        assert.equal(await client.next(), "pong");
        assert.equal(client.buffered, 0, "held while the write is pending");
      } finally {
        state.holdCommits = false;
        release();
      }
      assert.equal(await client.next(), "hello");
    } finally {
      real.close();
    }
  });

  Deno.test(`output gate: when the write behind a message sent in ${how} fails, the client never gets it and the socket closes 1011`, async () => {
    const real = await Deno.openKv(":memory:");
    const { kv, state, release } = controlledKv(real);
    try {
      await using s = await serveApp({ ...EARLY, kv });
      state.holdCommits = true;
      state.failCommits = true;
      const client = await s.connect(path);
      try {
        await until(() => state.pending.length > 0, "the commit to start");
      } finally {
        state.holdCommits = false;
        release();
      }
      let closed: CloseEvent | null = null;
      client.closed.then((event) => closed = event);
      await until(() => closed !== null, "the socket to close");
      assert.equal(closed!.code, 1011);
      assert.equal(client.buffered, 0, "the message that depended on the lost write never arrived");
      await until(
        () => s.exceptions.some((e) => e.context.operation === "storage write"),
        "the report",
      );
    } finally {
      real.close();
    }
  });
}

// ---- blockConcurrencyWhile in a constructor --------------------------------------------------

let failInit = true;

class FailingInit extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    // Cloudflare's idiom: a constructor cannot await, so the promise is not awaited.
    ctx.blockConcurrencyWhile(() => {
      if (failInit) {
        failInit = false;
        throw new Error("init failed");
      }
      return Promise.resolve();
    });
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(`echo ${message}`);
  }
}

Deno.test("a failing blockConcurrencyWhile() nobody awaits is reported, resets the object and does not crash", async () => {
  failInit = true;
  await using s = await serveApp({
    objects: { INIT: FailingInit },
    routes: [{ pattern: "/i/:name", object: "INIT" }],
  });
  const client = await s.connect("/i/a");
  client.socket.send("hi");
  assert.equal(await client.next(), "echo hi");
  assert.deepEqual(
    s.exceptions.map((e) => [String(e.error), e.context.operation]),
    [["Error: init failed", "blockConcurrencyWhile"]],
  );
});

/** Plain HTTP and RPC that write without awaiting: their results go through the output gate. */
class Writer extends DurableObject {
  static readonly storageName = "writer";
  fetch(_request: Request): Response {
    this.ctx.storage.put("k", "from fetch"); // not awaited
    return new Response("written");
  }
  write(value: string): string {
    this.ctx.storage.put("k", value); // not awaited
    return `wrote ${value}`;
  }
}

Deno.test("output gate: an HTTP response and an RPC result wait until the write before them is durable; a failed write fails them", async () => {
  const real = await Deno.openKv(":memory:");
  const { kv, state, release } = controlledKv(real);
  try {
    await using s = await serveApp({
      objects: { W: Writer },
      routes: [{ pattern: "/w/:name", object: "W", websocket: false }],
      kv,
    });
    try {
      const stub = s.app.env.W.getByName("a");
      await stub.write("warm-up"); // the app and the object are started
      state.holdCommits = true;
      let answered = false;
      const response = fetch(s.url("/w/a")).then((r) => {
        answered = true;
        return r;
      });
      let returned = false;
      const result = stub.write("held").then((value) => {
        returned = true;
        return value;
      });
      await until(() => state.pending.length > 0, "a commit held");
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
      assert.equal(answered, false, "the response waits for the write");
      assert.equal(returned, false, "the RPC result waits for the write");
      state.holdCommits = false;
      release();
      const r = await response;
      assert.equal(r.status, 200);
      assert.equal(await r.text(), "written");
      assert.equal(await result, "wrote held");

      state.failCommits = true;
      await assert.rejects(stub.write("lost"), /injected commit failure/);
      const failed = await fetch(s.url("/w/b"));
      assert.equal(failed.status, 500);
      await failed.body?.cancel();
    } finally {
      // A failed assertion must not leave a commit held, or the app could not shut down.
      state.holdCommits = state.failCommits = false;
      release();
    }
  } finally {
    real.close();
  }
});
