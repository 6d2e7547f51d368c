/**
 * Nobody let in who should not be, nothing overwritten that should not be:
 * the origin allow-list, the token-checking example (examples/auth), ids that
 * cannot cross classes, attachments that cannot overwrite framework records,
 * structured-clone input that cannot pollute prototypes, and the per-address
 * connection limit under a concurrent burst and spoofed forwarding headers.
 *
 * Rerun: `deno test -A tests/e2e/security_test.ts`
 */
import assert from "node:assert/strict";
import { deserialize } from "node:v8";
import {
  App,
  DurableObject,
  type DurableObjectState,
  type WebSocket,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";
import { createAuthApp } from "../../examples/auth/main.ts";
import { flushNow, hibernateNow, ManualClock, testClient } from "../../src/testing/mod.ts";
import { serveApp, until, UPGRADE_HEADERS as UPGRADE } from "../_helpers.ts";
import { RawClient, rawHttp, textOf } from "../_raw_client.ts";

interface Counts {
  readonly counts: { constructed: number };
}

class Echo extends DurableObject<Counts> {
  constructor(ctx: DurableObjectState, env: Counts) {
    super(ctx, env);
    env.counts.constructed++;
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
    ws.send(message);
  }
}

function serveEcho(
  options: { allowedOrigins?: string[]; maxConnectionsPerIp?: number; slowHook?: boolean } = {},
) {
  const counts = { constructed: 0 };
  return serveApp({
    objects: { ECHO: Echo },
    env: { counts },
    routes: [{ pattern: "/echo/:name", object: "ECHO" }],
    allowedOrigins: options.allowedOrigins,
    maxConnectionsPerIp: options.maxConnectionsPerIp,
    onBeforeConnect: options.slowHook
      ? async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      : undefined,
  }).then((s) => Object.assign(s, { counts }));
}

// ---- origin allow-list --------------------------------------------------------------------------

Deno.test("allowedOrigins admits only an exact listed Origin: look-alikes get 403 and construct no object", async () => {
  await using s = await serveEcho({ allowedOrigins: ["https://good.example"] });
  const refused = [
    "https://evil.example",
    "https://good.example.evil.example",
    "https://evil.example/https://good.example",
    "https://GOOD.example",
    "https://good.example/",
    "https://good.example:443",
    "http://good.example",
    "null",
    "",
  ];
  for (const origin of refused) {
    const answer = await rawHttp(s.port, "GET", "/echo/a", { ...UPGRADE, Origin: origin });
    assert.equal(answer.status, 403, `Origin ${JSON.stringify(origin)}`);
  }
  assert.equal(s.counts.constructed, 0);
  await using listed = await RawClient.connect(s.port, "/echo/a", {
    headers: { Origin: "https://good.example" },
  });
  await listed.text("in");
  assert.equal(textOf(await listed.next()), "in");
  // Non-browser clients send no Origin: they pass (the allow-list is a browser defence).
  await using originless = await RawClient.connect(s.port, "/echo/a");
  assert.equal(originless.status, 101);
});

// ---- the auth example ---------------------------------------------------------------------------

const TOKEN = `tok-${crypto.randomUUID()}`;

async function serveAuth() {
  const kv = await Deno.openKv(":memory:");
  const lines: string[] = [];
  const app = createAuthApp({ token: TOKEN, kv, log: (line) => lines.push(line) });
  const controller = new AbortController();
  const server = await app.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    handleSignals: false,
    onListen: () => {},
  });
  return {
    app,
    lines,
    port: server.addr.port,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await server.finished;
      kv.close();
    },
  };
}

Deno.test("examples/auth refuses a missing or wrong token with 401 before any object exists, and never logs a token", async () => {
  await using s = await serveAuth();
  const wrong = `wrong-${crypto.randomUUID()}`;
  const attempts: Array<[string, Record<string, string>]> = [
    ["/rooms/lobby", {}],
    [`/rooms/lobby?token=${wrong}`, {}],
    ["/rooms/lobby", { Authorization: `Bearer ${wrong}` }],
    ["/rooms/lobby", { Authorization: `Basic ${btoa(`user:${TOKEN}`)}` }],
    ["/rooms/lobby", { Authorization: TOKEN }],
    // The header wins over the query: a wrong header is not rescued by a right query.
    [`/rooms/lobby?token=${TOKEN}`, { Authorization: `Bearer ${wrong}` }],
    [`/rooms/lobby?token=${TOKEN.slice(0, -1)}`, {}],
    [`/rooms/lobby?token=${TOKEN}x`, {}],
  ];
  for (const [path, headers] of attempts) {
    const answer = await rawHttp(s.port, "GET", path, { ...UPGRADE, ...headers });
    assert.equal(answer.status, 401, `${path} ${JSON.stringify(headers)}`);
    assert.equal(answer.headers.get("www-authenticate"), 'Bearer realm="rooms"');
  }
  assert.deepEqual(s.app.stats().objects, [], "no object was constructed or even looked up");
  assert.equal(s.lines.length, attempts.length);
  for (const line of s.lines) {
    assert.ok(!line.includes(TOKEN) && !line.includes(wrong), `a token in the log: ${line}`);
  }
  assert.deepEqual(JSON.parse(s.lines[0]!), {
    msg: "refused",
    path: "/rooms/lobby",
    reason: "no token",
  });
});

Deno.test("examples/auth admits the right token from ?token= or the Authorization header", async () => {
  await using s = await serveAuth();
  const browser = await testClient(
    `ws://127.0.0.1:${s.port}/rooms/lobby?token=${encodeURIComponent(TOKEN)}`,
  );
  await using cli = await RawClient.connect(s.port, "/rooms/lobby", {
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  await cli.text("hello room");
  assert.equal(await browser.next(), "hello room");
  assert.equal(textOf(await cli.next()), "hello room");
  await browser.close();
  assert.equal(s.lines.filter((line) => line.includes('"connect"')).length, 2);
  assert.ok(s.lines.every((line) => !line.includes(TOKEN)));
});

Deno.test("examples/auth as a process: the token appears nowhere in its output, and it refuses to start without one", async () => {
  const main = new URL("../../examples/auth/main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", main],
    env: { AUTH_TOKEN: TOKEN, PORT: "0", DORMANT_HOSTNAME: "127.0.0.1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (output += chunk) }),
  );
  const stderr = new Response(child.stderr).text();
  await until(() => /auth listening (\d+)/.test(output), "the ready line", 2_000);
  const port = Number(/auth listening (\d+)/.exec(output)![1]);
  assert.equal((await rawHttp(port, "GET", `/rooms/x?token=${TOKEN}-wrong`, UPGRADE)).status, 401);
  const client = await testClient(`ws://127.0.0.1:${port}/rooms/x?token=${TOKEN}`);
  client.socket.send("hi");
  assert.equal(await client.next(), "hi");
  child.kill("SIGINT");
  assert.equal((await client.closed).code, 1001);
  assert.equal((await child.status).code, 0);
  await stdout;
  const everything = output + await stderr;
  assert.match(everything, /"refused"/);
  assert.match(everything, /"connect"/);
  assert.ok(!everything.includes(TOKEN), `the token leaked into the output:\n${everything}`);

  const missing = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", main],
    env: { AUTH_TOKEN: "", PORT: "0", DORMANT_HOSTNAME: "127.0.0.1" },
  }).output();
  assert.equal(missing.code, 1);
  assert.match(new TextDecoder().decode(missing.stderr), /AUTH_TOKEN is not set/);
});

// ---- ids cannot cross classes -------------------------------------------------------------------

interface Vault {
  readonly instances: string[];
}

function vault(name: string) {
  return class extends DurableObject<Vault> {
    readonly instance = `${name}#${crypto.randomUUID().slice(0, 8)}`;
    secret: string | null = null;
    constructor(ctx: DurableObjectState, env: Vault) {
      super(ctx, env);
      env.instances.push(this.instance);
    }
    async remember(secret: string): Promise<string> {
      this.secret = secret;
      await this.ctx.storage.put("secret", secret);
      return this.instance;
    }
    async recall(): Promise<{ instance: string; memory: string | null; stored: unknown }> {
      return {
        instance: this.instance,
        memory: this.secret,
        stored: await this.ctx.storage.get("secret"),
      };
    }
  };
}

Deno.test("one name in two classes gives two ids, two instances and two storages; a foreign id reaches only its own class", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const instances: string[] = [];
    await using app = new App({
      objects: { ALPHA: vault("alpha"), BETA: vault("beta") },
      env: { instances },
      clock: new ManualClock(),
      kv,
    });
    const alphaId = app.env.ALPHA.idFromName("shared");
    const betaId = app.env.BETA.idFromName("shared");
    assert.notEqual(alphaId.toString(), betaId.toString());
    const alpha = await app.env.ALPHA.get(alphaId).remember("alpha's secret");
    assert.deepEqual(await app.env.BETA.get(betaId).recall(), {
      instance: instances[1],
      memory: null,
      stored: undefined,
    });
    // Alpha's id handed to Beta's namespace: the Beta object with that hex, not Alpha's.
    const crossed = await app.env.BETA.get(app.env.BETA.idFromString(alphaId.toString())).recall();
    assert.notEqual(crossed.instance, alpha);
    assert.ok(crossed.instance.startsWith("beta#"));
    assert.equal(crossed.memory, null);
    assert.equal(crossed.stored, undefined);
    assert.equal((await app.env.ALPHA.get(alphaId).recall()).stored, "alpha's secret");
    // Storage keys are namespaced by storage name, so even equal hex ids never share a key.
    const storageNames = new Set<string>();
    for await (const entry of kv.list({ prefix: ["dormant", "s"] })) {
      storageNames.add(String(entry.key[2]));
    }
    assert.deepEqual([...storageNames], ["ALPHA"]);
    // The host reopens its input gate on the next task after a storage call: let it run.
    await new Promise((resolve) => setTimeout(resolve, 0));
  } finally {
    kv.close();
  }
});

// ---- attachments cannot overwrite framework data -------------------------------------------------

interface Inspect {
  tags: string[];
  attachment: unknown;
  autoResponse: [string, string] | null;
  eventTimeout: number | null;
  prototypeClean: boolean;
}

/** Sets its settings once (on the first connect), then answers "inspect" with what it sees. */
class Inspector extends DurableObject<Counts> {
  constructor(ctx: DurableObjectState, env: Counts) {
    super(ctx, env);
    env.counts.constructed++;
  }
  fetch(request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server!, ["user", "__proto__", "constructor"]);
    if (this.ctx.getWebSocketAutoResponse() === null) {
      this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
      this.ctx.setHibernatableWebSocketEventTimeout(5_000);
    }
    const kind = new URL(request.url).searchParams.get("attach");
    if (kind === "forged") {
      // Shaped like the framework's own socket and settings records.
      server!.serializeAttachment({
        t: ["admin"],
        a: new Uint8Array([9]),
        c: 0,
        ar: ["ping", "pwned"],
        et: 1,
      });
    } else if (kind === "proto") {
      server!.serializeAttachment(
        JSON.parse(
          '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}',
        ),
      );
    }
    return webSocketResponse(client!);
  }
  webSocketMessage(ws: WebSocket) {
    const value = ws.deserializeAttachment() as Record<string, unknown> | null;
    const auto = this.ctx.getWebSocketAutoResponse();
    const report: Inspect = {
      tags: this.ctx.getTags(ws),
      attachment: value === null ? null : jsonSafe(value),
      autoResponse: auto === null ? null : [auto.request, auto.response],
      eventTimeout: this.ctx.getHibernatableWebSocketEventTimeout(),
      prototypeClean: value === null || Object.getPrototypeOf(value) === Object.prototype,
    };
    ws.send(JSON.stringify(report));
  }
  /** RPC: takes a structured-cloned argument and hands it back. */
  echo(value: unknown): unknown {
    return value;
  }
}

function jsonSafe(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v) => v instanceof Uint8Array ? [...v] : v));
}

function serveInspector() {
  const counts = { constructed: 0 };
  return serveApp({
    objects: { INSPECT: Inspector },
    env: { counts },
    routes: [{ pattern: "/inspect/:name", object: "INSPECT" }],
  }).then((s) => Object.assign(s, { counts }));
}

Deno.test("an attachment shaped like a framework record changes no tags, accept time or settings across hibernation", async () => {
  await using s = await serveInspector();
  const acceptedAt = s.clock.now();
  const client = await s.connect("/inspect/a?attach=forged");
  const id = s.app.env.INSPECT.idFromName("a");
  await flushNow(s.app);
  await hibernateNow(s.app, "INSPECT", id);
  client.socket.send("inspect"); // wakes the object
  const seen = await client.nextJson<Inspect>();
  assert.equal(s.counts.constructed, 2, "the object was hibernated and woken");
  assert.deepEqual(seen, {
    tags: ["user", "__proto__", "constructor"],
    attachment: { t: ["admin"], a: [9], c: 0, ar: ["ping", "pwned"], et: 1 },
    autoResponse: ["ping", "pong"],
    eventTimeout: 5_000,
    prototypeClean: true,
  });
  client.socket.send("ping");
  assert.equal(await client.next(), "pong");
  // The KV record keeps framework and user data apart: tags and accept time are the framework's.
  const records: Array<{ t: string[]; a: Uint8Array; c: number }> = [];
  for await (
    const entry of s.kv.list<{ t: string[]; a: Uint8Array; c: number }>({
      prefix: ["dormant", "h"],
    })
  ) {
    if (entry.key[4] === "ws") records.push(entry.value);
  }
  assert.equal(records.length, 1);
  assert.deepEqual(records[0]!.t, ["user", "__proto__", "constructor"]);
  assert.equal(records[0]!.c, acceptedAt);
  assert.deepEqual(jsonSafe(deserialize(records[0]!.a)), seen.attachment);
});

Deno.test("__proto__ and constructor.prototype in attachments, RPC arguments and tags leave Object.prototype untouched", async () => {
  await using s = await serveInspector();
  const client = await s.connect("/inspect/p?attach=proto");
  const id = s.app.env.INSPECT.idFromName("p");
  await flushNow(s.app);
  await hibernateNow(s.app, "INSPECT", id);
  client.socket.send("inspect");
  const seen = await client.nextJson<Inspect>();
  assert.equal(seen.prototypeClean, true);
  // Round-tripped faithfully: "__proto__" is an own data property, not the prototype.
  assert.deepEqual(
    seen.attachment,
    JSON.parse(
      '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}',
    ),
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.hasOwn(Object.prototype, "polluted"), false);

  // An RPC argument and result are structured-cloned: an own "__proto__" key stays a plain key.
  const hostile = JSON.parse(
    '{"__proto__": {"polluted": "yes"}, "nested": {"__proto__": {"isAdmin": true}}}',
  );
  const back = await s.app.env.INSPECT.get(id).echo(hostile) as Record<
    string,
    Record<string, unknown>
  >;
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.equal(Object.hasOwn(back, "__proto__"), true);
  assert.equal(back.nested!.isAdmin, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined);

  // Tag names that are Object.prototype members are plain tags.
  const other = await s.connect("/inspect/p");
  other.socket.send("inspect");
  assert.deepEqual((await other.nextJson<Inspect>()).tags, ["user", "__proto__", "constructor"]);
  // And an object named "__proto__" is just another object.
  const named = await s.connect("/inspect/__proto__");
  named.socket.send("inspect");
  assert.equal((await named.nextJson<Inspect>()).attachment, null);
  assert.notEqual(s.app.env.INSPECT.idFromName("__proto__").toString(), id.toString());
});

// ---- per-address limit --------------------------------------------------------------------------

Deno.test("maxConnectionsPerIp 2 holds against a burst of 6 concurrent upgrades and spoofed forwarding headers", async () => {
  await using s = await serveEcho({ maxConnectionsPerIp: 2, slowHook: true });
  const burst = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      RawClient.connect(s.port, `/echo/r${i}`)
        .then((c) => c, (error: Error) => error)),
  );
  const open = burst.filter((c): c is RawClient => c instanceof RawClient);
  try {
    assert.equal(open.length, 2);
    for (const refused of burst.filter((c) => c instanceof Error)) {
      assert.match(refused.message, /429/);
    }
    const spoofs: Array<Record<string, string>> = [
      { "X-Forwarded-For": "203.0.113.7" },
      { "X-Real-IP": "203.0.113.8" },
      { Forwarded: "for=203.0.113.9" },
    ];
    for (const headers of spoofs) {
      const spoofed = await rawHttp(s.port, "GET", "/echo/spoof", { ...UPGRADE, ...headers });
      assert.equal(spoofed.status, 429, JSON.stringify(headers));
    }
    await open[0]!.drop();
    await until(() => s.app.stats().connections === 1, "one slot freed");
    await using again = await RawClient.connect(s.port, "/echo/again");
    assert.equal(again.status, 101);
  } finally {
    for (const c of open) await c.drop();
  }
});
