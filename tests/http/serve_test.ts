/**
 * `app.serve()` under load and on the way down: the connection
 * cap answers 503 and frees its slot when a socket leaves; graceful shutdown
 * lets running handlers finish, flushes KV write-behind, closes sockets with
 * 1001 (1012 on restart) and answers new requests with 503, within 5 s; a
 * served process exits 0 on SIGINT.
 *
 * Rerun: `deno test -A tests/http/serve_test.ts` (`SERVE_REPORT=1` prints the timings).
 */
import assert from "node:assert/strict";
import { App, DurableObject, type WebSocket, WebSocketRequestResponsePair } from "../../mod.ts";
import { ManualClock, type TestClient, testClient } from "../../src/testing/mod.ts";
import { serveApp, startServerProcess, until, UPGRADE_HEADERS as UPGRADE } from "../_helpers.ts";
import { rawHttp } from "../_raw_client.ts";

const REPORT = Deno.env.get("SERVE_REPORT") === "1";

interface Env {
  /** Resolved when a "slow" handler has started. */
  readonly slowStarted: PromiseWithResolvers<void>;
}

/** Echoes; `"slow"` awaits 100 ms of real time, records it in the attachment, then answers. */
class Echo extends DurableObject<Env> {
  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
    if (message === "slow") {
      this.env.slowStarted.resolve();
      await new Promise((resolve) => setTimeout(resolve, 100));
      ws.serializeAttachment({ finished: true });
      // A per-object setting changed by the running handler: shutdown must persist it.
      this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
      ws.send("done");
      return;
    }
    ws.send(message);
  }
}

const ROUTES = [{ pattern: "/echo/:name", object: "ECHO" }];

Deno.test("maxConnections 5: the 6th upgrade gets 503, the five still echo, and a slot frees when one closes", async () => {
  await using s = await serveApp({
    objects: { ECHO: Echo },
    env: { slowStarted: Promise.withResolvers<void>() },
    routes: ROUTES,
    maxConnections: 5,
  });
  const clients: TestClient[] = [];
  for (let i = 0; i < 5; i++) clients.push(await s.connect(`/echo/room${i % 2}`));
  assert.equal(s.app.stats().connections, 5);
  const sixth = await rawHttp(s.port, "GET", "/echo/room0", UPGRADE);
  assert.equal(sixth.status, 503);
  assert.equal(sixth.headers.get("retry-after"), "1");
  assert.equal(sixth.body, "Too many connections");
  for (const [i, client] of clients.entries()) {
    client.socket.send(`still ${i}`);
    assert.equal(await client.next(), `still ${i}`);
  }
  await clients[0]!.close();
  await until(() => s.app.stats().connections === 4, "the closed socket released its slot");
  const next = await s.connect("/echo/room0");
  next.socket.send("admitted");
  assert.equal(await next.next(), "admitted");
  assert.equal((await rawHttp(s.port, "GET", "/echo/room1", UPGRADE)).status, 503);
});

Deno.test("maxConnections 3 holds against 8 concurrent upgrades while an async onBeforeConnect is pending", async () => {
  await using s = await serveApp({
    objects: { ECHO: Echo },
    env: { slowStarted: Promise.withResolvers<void>() },
    routes: ROUTES,
    maxConnections: 3,
    // An auth lookup that takes real I/O time: every upgrade is in flight at once.
    onBeforeConnect: async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
    },
  });
  const answers = await Promise.all(
    Array.from({ length: 8 }, (_, i) => rawHttp(s.port, "GET", `/echo/r${i}`, UPGRADE)),
  );
  assert.deepEqual(answers.map((a) => a.status).sort(), [101, 101, 101, 503, 503, 503, 503, 503]);
  await until(() => s.app.stats().connections === 0, "the raw connections closed");
});

/** A served app with its own listener (not `serveApp`, so the test drives `server.shutdown()`). */
async function serveOwn() {
  const kv = await Deno.openKv(":memory:");
  const slowStarted = Promise.withResolvers<void>();
  const exceptions: unknown[] = [];
  const app = new App({
    objects: { ECHO: Echo },
    env: { slowStarted },
    routes: ROUTES,
    kv,
    // A manual clock that is never advanced: nothing is flushed before shutdown.
    clock: new ManualClock(),
    onException: (error) => exceptions.push(error),
  });
  const server = await app.serve({
    hostname: "127.0.0.1",
    port: 0,
    handleSignals: false,
    onListen: () => {},
  });
  const port = server.addr.port;
  return {
    app,
    kv,
    server,
    port,
    slowStarted,
    exceptions,
    connect: (name: string) => testClient(`ws://127.0.0.1:${port}/echo/${name}`),
  };
}

async function socketRecords(
  kv: Deno.Kv,
): Promise<Array<{ t: string[]; a: Uint8Array | null; c: number }>> {
  const out = [];
  for await (
    const entry of kv.list<{ t: string[]; a: Uint8Array | null; c: number }>({
      prefix: ["dormant", "h"],
    })
  ) {
    if (entry.key[4] === "ws") out.push(entry.value);
  }
  return out;
}

for (const restart of [false, true]) {
  const code = restart ? 1012 : 1001;
  Deno.test(`server.shutdown(${restart ? "{ restart: true }" : ""}) lets a running handler finish, flushes settings to KV, answers 503 meanwhile and closes sockets with ${code} within 5 s`, async () => {
    const s = await serveOwn();
    try {
      const a = await s.connect("a");
      const b = await s.connect("b");
      a.socket.send("slow");
      await s.slowStarted.promise;
      assert.equal(
        s.app.stats().pendingWrites,
        2,
        "both socket records wait in the write-behind buffer",
      );
      assert.equal((await socketRecords(s.kv)).length, 0);

      const started = performance.now();
      const shutdown = s.server.shutdown({ restart });
      // New requests while shutting down: 503, upgrade or not.
      const upgrade = await rawHttp(s.port, "GET", "/echo/c", UPGRADE);
      assert.equal(upgrade.status, 503);
      assert.equal(upgrade.headers.get("retry-after"), "1");
      const plain = await fetch(`http://127.0.0.1:${s.port}/echo/c`);
      assert.equal(plain.status, 503);
      await plain.body?.cancel();

      await shutdown;
      await s.server.finished;
      const elapsed = performance.now() - started;
      assert.equal(await a.next(), "done", "the running handler finished and its message went out");
      const [closedA, closedB] = await Promise.all([a.closed, b.closed]);
      assert.equal(closedA.code, code);
      assert.equal(closedB.code, code);
      assert.equal(closedA.reason, restart ? "Server restarting" : "Server shutting down");
      assert.ok(elapsed < 5_000, `shutdown took ${elapsed} ms`);
      if (REPORT) {
        console.log(
          JSON.stringify({ case: `shutdown restart=${restart}`, ms: Math.round(elapsed) }),
        );
      }

      // Settings are flushed; records of the sockets being closed are not written at all
      // (they would be stale at once: the next start deletes them).
      assert.deepEqual(await socketRecords(s.kv), []);
      const configs = [];
      for await (const entry of s.kv.list({ prefix: ["dormant", "h"] })) {
        if (entry.key[4] === "cfg") configs.push(entry.value);
      }
      assert.deepEqual(configs, [{ ar: ["ping", "pong"], et: 0 }]);
      assert.deepEqual(s.exceptions, []);
    } finally {
      s.kv.close();
    }
  });
}

Deno.test("server.shutdown() does not wait for the handler longer than shutdownTimeoutMs", async () => {
  const kv = await Deno.openKv(":memory:");
  const never = Promise.withResolvers<void>();
  class Stuck extends DurableObject {
    async webSocketMessage(ws: WebSocket) {
      ws.send("started");
      await never.promise;
    }
  }
  try {
    const app = new App({
      objects: { S: Stuck },
      routes: [{ pattern: "/s/:name", object: "S" }],
      kv,
    });
    const server = await app.serve({
      hostname: "127.0.0.1",
      port: 0,
      handleSignals: false,
      onListen: () => {},
      shutdownTimeoutMs: 200,
    });
    const client = await testClient(`ws://127.0.0.1:${server.addr.port}/s/x`);
    client.socket.send("go");
    assert.equal(await client.next(), "started");
    const started = performance.now();
    await server.shutdown();
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 5_000);
    if (REPORT) {
      console.log(JSON.stringify({ case: "shutdown, stuck handler", ms: Math.round(elapsed) }));
    }
    assert.equal((await client.closed).code, 1001);
  } finally {
    never.resolve();
    kv.close();
  }
});

// ---- a real process and SIGINT ----------------------------------------------------------------

const FIXTURE = new URL("./fixtures/echo_server.ts", import.meta.url).pathname;

Deno.test("a served process lets a running handler finish, closes with 1001 and exits 0 on SIGINT within 5 s", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FIXTURE],
    env: { SLOW_MS: "300" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/listening (\d+)/.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`fixture exited before listening: ${seen}`);
    seen += value;
  }
  const drained = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  const port = Number(/listening (\d+)/.exec(seen)![1]);
  const client = await testClient(`ws://127.0.0.1:${port}/echo/a`);
  client.socket.send("slow");
  // Events are dispatched once the previous handler's synchronous part returned:
  // this echo proves the slow handler is running.
  client.socket.send("x");
  assert.equal(await client.next(), "x");
  const started = performance.now();
  child.kill("SIGINT");
  assert.equal(await client.next(), "done");
  const closed = await client.closed;
  const status = await child.status;
  await drained;
  const errors = await stderr;
  assert.equal(closed.code, 1001);
  assert.equal(status.code, 0, errors);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 5_000);
  if (REPORT) console.log(JSON.stringify({ case: "SIGINT to exit", ms: Math.round(elapsed) }));
});

// ---- the other ways to serve: `deno serve` and `Deno.serve(app.fetch)` -------------------------

const ROOM_SERVER = new URL("./fixtures/room_server.ts", import.meta.url).pathname;
const ROOM_EXPORT = new URL("./fixtures/room_server_default_export.ts", import.meta.url).pathname;

/** Object settings the app wrote to the KV file. */
async function settingsIn(path: string): Promise<unknown[]> {
  const kv = await Deno.openKv(path);
  try {
    const out = [];
    for await (const entry of kv.list({ prefix: ["dormant", "h"] })) {
      if (entry.key[4] === "cfg") out.push(entry.value);
    }
    return out;
  } finally {
    kv.close();
  }
}

const WAYS = [
  {
    how: "deno serve of { fetch: app.fetch }",
    signal: "SIGINT",
    args: (kv: string) =>
      ["serve", "--allow-read", "--allow-write", "--host", "127.0.0.1"]
        .concat(["--port", "0", ROOM_EXPORT, kv]),
    // Deno's own signal listener closes open sockets (1001) at once: the reply is lost.
    reply: [],
  },
  {
    how: "deno run of Deno.serve(app.fetch)",
    signal: "SIGTERM",
    args: (kv: string) =>
      ["run", "--allow-net", "--allow-read", "--allow-write", ROOM_SERVER]
        .concat(["Deno.serve", kv]),
    reply: ["done"],
  },
] as const;

for (const { how, signal, args, reply } of WAYS) {
  Deno.test(
    `${how} shuts down on ${signal}: the running handler finishes (its reply ${
      reply.length ? "arrives" : "is lost"
    }), its setting reaches KV, the socket gets 1001, and the process exits 0 within 5 s`,
    async () => {
      const dir = await Deno.makeTempDir();
      try {
        const kvPath = `${dir}/app.sqlite3`;
        const server = await startServerProcess(args(kvPath));
        const client = await testClient(`ws://127.0.0.1:${server.port}/rooms/a`);
        client.socket.send("slow");
        client.socket.send("x"); // dispatched once the slow handler's synchronous part returned
        assert.equal(await client.next(), "x");
        const started = performance.now();
        server.child.kill(signal);
        const closed = await client.closed;
        const status = await server.status;
        const elapsed = performance.now() - started;
        const [stdout, stderr] = await Promise.all([server.stdout, server.stderr]);
        const received = [];
        while (client.buffered > 0) received.push(await client.next());
        assert.deepEqual(received, reply);
        assert.equal(closed.code, 1001);
        assert.equal(status.code, 0, stderr);
        assert.ok(elapsed < 5_000, `exit took ${elapsed} ms`);
        assert.equal(stdout, "", "nothing reported to onException");
        // The handler finished and the setting it changed was written at shutdown
        // (the write-behind window is one minute in the fixture).
        assert.deepEqual(await settingsIn(kvPath), [{ ar: ["ping", "pong"], et: 0 }]);
        if (REPORT) {
          console.log(JSON.stringify({ case: `${how} ${signal}`, ms: Math.round(elapsed) }));
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

Deno.test("app.serve() on 0.0.0.0 prints a URL a person can click: Listening on http://localhost:<port>/", async () => {
  const server = await startServerProcess(["run", "--allow-net", ROOM_SERVER, "app.serve"]);
  assert.equal(server.line, `Listening on http://localhost:${server.port}/`);
  const client = await testClient(`ws://127.0.0.1:${server.port}/rooms/a`);
  client.socket.send("hi");
  assert.equal(await client.next(), "hi");
  server.child.kill("SIGINT");
  assert.equal((await client.closed).code, 1001);
  assert.equal((await server.status).code, 0);
  assert.equal(await server.stdout, "");
  assert.equal(await server.stderr, `${server.line}\n`);
});

const TERMINATION = Deno.build.os === "windows" ? { SIGINT: 1 } : { SIGINT: 1, SIGTERM: 1 };

Deno.test("an app served by Deno.serve(app.fetch) takes SIGINT and SIGTERM from its first request until it shuts down; handleSignals: false takes none", async () => {
  const add = Deno.addSignalListener;
  const remove = Deno.removeSignalListener;
  const listening = new Map<string, number>();
  // Counted, not registered: a real SIGINT listener would not see the test's own signals anyway.
  Deno.addSignalListener = (signal) => void listening.set(signal, (listening.get(signal) ?? 0) + 1);
  Deno.removeSignalListener = (signal) => void listening.set(signal, listening.get(signal)! - 1);
  const active = () => Object.fromEntries([...listening].filter(([, n]) => n > 0));
  try {
    for (const handleSignals of [undefined, false]) {
      const kv = await Deno.openKv(":memory:");
      const app = new App({
        objects: { ECHO: Echo },
        env: { slowStarted: Promise.withResolvers<void>() },
        routes: ROUTES,
        kv,
        clock: new ManualClock(),
        handleSignals,
      });
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
      try {
        assert.deepEqual(active(), {}, "none before a request");
        const client = await testClient(`ws://127.0.0.1:${server.addr.port}/echo/a`);
        client.socket.send("hi");
        assert.equal(await client.next(), "hi");
        assert.deepEqual(active(), handleSignals === false ? {} : TERMINATION);
        await app.shutdown();
        assert.equal((await client.closed).code, 1001);
        assert.deepEqual(active(), {}, "none after shutdown");
      } finally {
        await server.shutdown();
        kv.close();
      }
    }
  } finally {
    Deno.addSignalListener = add;
    Deno.removeSignalListener = remove;
  }
});
