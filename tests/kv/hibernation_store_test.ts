import assert from "node:assert/strict";
import { serialize } from "node:v8";
import {
  App,
  DurableObject,
  durableObject,
  type DurableObjectState,
  KvError,
  type WebSocket,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";
import { flushNow, hibernateNow, ManualClock, objectStatus } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { interceptKv } from "../_intercept_kv.ts";
import { HibernationStore } from "../../src/kv/hibernation_store.ts";
import type { PersistedObject } from "../../src/objects/persisted_object.ts";
import {
  ACCEPT_HIBERNATABLE,
  Connection,
  type ConnectionOwner,
  RECORD,
} from "../../src/sockets/connection.ts";

const STORAGE = "kroom";

@durableObject({ name: STORAGE })
class Room extends DurableObject {
  fetch(request: Request): Response {
    const user = new URL(request.url).searchParams.get("user") ?? "anon";
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, [user]);
    server.serializeAttachment({ user, at: new Date(0), n: 1n });
    return webSocketResponse(client);
  }

  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (message === "auto") {
      this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
      return ws.send("ok");
    }
    if (message === "whoami") {
      const a = ws.deserializeAttachment() as { user: string; at: Date; n: bigint } | null;
      return ws.send(JSON.stringify(a && { user: a.user, at: a.at.getTime(), n: String(a.n) }));
    }
    ws.send(message);
  }

  /** RPC: sets (or clears) the per-object settings. */
  configure(on: boolean): void {
    this.ctx.setWebSocketAutoResponse(on ? new WebSocketRequestResponsePair("ping", "pong") : null);
    this.ctx.setHibernatableWebSocketEventTimeout(on ? 5_000 : null);
  }

  /** RPC: the per-object settings as this instance sees them. */
  settings(): { auto: [string, string] | null; timeout: number | null } {
    const auto = this.ctx.getWebSocketAutoResponse();
    return {
      auto: auto && [auto.request, auto.response],
      timeout: this.ctx.getHibernatableWebSocketEventTimeout(),
    };
  }
}

const ROUTES = [{ pattern: "/room/:name", object: "ROOM" }];

/** Every hibernation record in `kv`, as `kind` (`ws`/`ts`/`cfg`) with key and value. */
async function records(
  kv: Deno.Kv,
): Promise<Array<{ kind: string; key: Deno.KvKey; value: unknown }>> {
  const out = [];
  for await (const entry of kv.list({ prefix: ["dormant", "h"] })) {
    out.push({ kind: String(entry.key[4]), key: entry.key, value: entry.value });
  }
  return out;
}

function count(list: Array<{ kind: string }>, kind: string): number {
  return list.filter((r) => r.kind === kind).length;
}

Deno.test("auto-response timestamps cost no KV commit: 1,000 pings, then one batch when the object hibernates", async () => {
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  const client = await s.connect("/room/a");
  client.socket.send("auto");
  assert.equal(await client.next(), "ok");
  await flushNow(s.app);
  const { kvCommits, kvMutations } = s.app.stats();
  assert.equal(s.app.stats().pendingWrites, 0);

  for (let i = 0; i < 1_000; i++) client.socket.send("ping");
  for (let i = 0; i < 1_000; i++) assert.equal(await client.next(), "pong");
  assert.equal(s.app.stats().kvCommits, kvCommits);
  assert.equal(s.app.stats().pendingWrites, 1);
  assert.equal(count(await records(s.kv), "ts"), 0);

  // Timestamps never schedule a flush of their own.
  await s.clock.advance(5_000);
  assert.equal(s.app.stats().kvCommits, kvCommits);

  await hibernateNow(s.app, "ROOM", s.app.env.ROOM.idFromName("a"));
  assert.equal(s.app.stats().kvCommits, kvCommits + 1);
  assert.equal(s.app.stats().kvMutations, kvMutations + 1);
  const ts = (await records(s.kv)).filter((r) => r.kind === "ts");
  assert.equal(ts.length, 1);
  assert.equal(ts[0]!.value, s.clock.now() - 5_000);
});

Deno.test("write-behind batches 200 accepted sockets of 4 objects into a few commits", async () => {
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  await s.app.ready();
  const before = s.app.stats();
  const connects = [];
  for (let i = 0; i < 200; i++) connects.push(s.connect(`/room/r${i % 4}?user=u${i}`));
  await Promise.all(connects);
  assert.equal(s.app.stats().connections, 200);
  assert.equal(
    s.app.stats().kvCommits,
    before.kvCommits,
    "nothing is written before the flush window ends",
  );
  assert.equal(s.app.stats().pendingWrites, 200);

  await s.clock.advance(250);
  await flushNow(s.app); // waits for the flush the timer started
  const after = s.app.stats();
  assert.ok(
    after.kvCommits - before.kvCommits <= 3,
    `commits: ${after.kvCommits - before.kvCommits}`,
  );
  assert.equal(after.kvMutations - before.kvMutations, 200);
  assert.equal(count(await records(s.kv), "ws"), 200);
  for (const object of after.objects) assert.ok(object.kvCommits <= 3);
});

Deno.test("a socket that connects and disconnects within the flush window causes no KV write", async () => {
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  await s.app.ready();
  const before = s.app.stats();
  const client = await s.connect("/room/a");
  await client.close();
  await until(() => s.app.stats().connections === 0, "server saw the close");
  await s.clock.advance(1_000);
  const after = s.app.stats();
  assert.equal(after.kvCommits, before.kvCommits);
  assert.equal(after.kvMutations, before.kvMutations);
  assert.equal(after.pendingWrites, 0);
  assert.deepEqual(await records(s.kv), []);
});

Deno.test("the records of a closed socket are deleted with the next flush", async () => {
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  const stay = await s.connect("/room/a?user=stay");
  const leave = await s.connect("/room/a?user=leave");
  leave.socket.send("auto");
  assert.equal(await leave.next(), "ok");
  leave.socket.send("ping");
  assert.equal(await leave.next(), "pong");
  await flushNow(s.app);
  assert.equal(count(await records(s.kv), "ws"), 2);
  assert.equal(count(await records(s.kv), "ts"), 1);

  await leave.close();
  await until(() => s.app.stats().connections === 1, "server saw the close");
  await s.clock.advance(250);
  await flushNow(s.app);
  const left = await records(s.kv);
  assert.equal(count(left, "ws"), 1);
  assert.equal(count(left, "ts"), 0);
  assert.equal(count(left, "cfg"), 1);
  stay.socket.send("whoami");
  assert.equal(JSON.parse(await stay.next() as string).user, "stay");
});

Deno.test("a hibernated object's attachments are dropped from memory and read back from KV on wake", async () => {
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  const a = await s.connect("/room/x?user=a");
  const b = await s.connect("/room/x?user=b");
  a.socket.send("whoami");
  assert.deepEqual(JSON.parse(await a.next() as string), { user: "a", at: 0, n: "1" });
  await hibernateNow(s.app, "ROOM", s.app.env.ROOM.idFromName("x"));

  // Rewrite b's record behind the framework's back: only a read from KV can see it.
  const record = (await records(s.kv)).find((r) =>
    r.kind === "ws" && (r.value as { t: string[] }).t[0] === "b"
  );
  assert.ok(record, "b's socket record is in KV");
  const value = record.value as { t: string[]; a: Uint8Array | null; c: number };
  await s.kv.set(record.key, {
    ...value,
    a: serialize({ user: "b (from KV)", at: new Date(7), n: 2n }),
  });
  const commits = s.app.stats().kvCommits;

  a.socket.send("whoami");
  assert.deepEqual(JSON.parse(await a.next() as string), { user: "a", at: 0, n: "1" });
  b.socket.send("whoami");
  assert.deepEqual(JSON.parse(await b.next() as string), { user: "b (from KV)", at: 7, n: "2" });
  assert.equal(s.app.stats().kvCommits, commits, "waking reads, it writes nothing");
});

Deno.test("a new app's ready() deletes socket records of an earlier run; settings and its own records survive", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const hex = new App({ objects: { ROOM: Room } }).env.ROOM.idFromName("x").toString();
    const base = ["dormant", "h", STORAGE, hex];
    {
      // An earlier run: its socket record and the object's settings are in KV.
      await using first = await serveApp({ objects: { ROOM: Room }, routes: ROUTES, kv });
      const old = await first.connect("/room/x?user=old");
      old.socket.send("auto");
      assert.equal(await old.next(), "ok");
      await flushNow(first.app);
      assert.equal(count(await records(kv), "ws"), 1);
    }
    // A process that crashed left records too (written by hand in the key layout).
    await kv.atomic()
      .set([...base, "ws", "0123456789abcdef", "0"], { t: ["ghost"], a: null, c: 1 })
      .set([...base, "ts", "0123456789abcdef", "0"], 5)
      .set(["dormant", "h", "other", hex, "ws", "0123456789abcdef", "1"], { t: [], a: null, c: 1 })
      .commit();
    assert.ok(count(await records(kv), "ws") >= 2);
    assert.equal(count(await records(kv), "cfg"), 1);

    await using second = await serveApp({
      objects: { ROOM: Room },
      routes: ROUTES,
      kv,
      clock: new ManualClock(),
    });
    await second.app.ready();
    let left = await records(kv);
    assert.deepEqual(left.map((r) => r.kind), ["cfg"]);

    const fresh = await second.connect("/room/x?user=new");
    await flushNow(second.app);
    await second.app.ready(); // idempotent: no second cleanup
    left = await records(kv);
    assert.equal(count(left, "ws"), 1);
    assert.deepEqual((left.find((r) => r.kind === "ws")!.value as { t: string[] }).t, ["new"]);
    // The settings written by the first run apply in the second one.
    fresh.socket.send("ping");
    assert.equal(await fresh.next(), "pong");
    fresh.socket.send("whoami");
    assert.equal(JSON.parse(await fresh.next() as string).user, "new");
  } finally {
    kv.close();
  }
});

Deno.test("a second app on the same KV leaves the socket records of a running app alone", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await using first = await serveApp({ objects: { ROOM: Room }, routes: ROUTES, kv });
    const client = await first.connect("/room/x?user=a");
    await hibernateNow(first.app, "ROOM", first.app.env.ROOM.idFromName("x"));
    await using second = await serveApp({ objects: { ROOM: Room }, routes: ROUTES, kv });
    await second.app.ready();
    assert.equal(count(await records(kv), "ws"), 1, "the running app's record survived");
    client.socket.send("whoami");
    assert.deepEqual(JSON.parse(await client.next() as string), { user: "a", at: 0, n: "1" });
  } finally {
    kv.close();
  }
});

Deno.test("cleanup deletes records of dead boots: gone processes on this machine at once, others once their lease expires", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const clock = new ManualClock(Date.now());
    const hex = new App({ objects: { ROOM: Room } }).env.ROOM.idFromName("x").toString();
    const machine = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    const record = { t: [], a: null, c: 1 };
    const ws = (boot: string) => ["dormant", "h", STORAGE, hex, "ws", boot, "0"];
    await kv.atomic()
      // A crashed process on this machine (no such pid): dead at once, whatever its last beat.
      .set(["dormant", "boot", "crashedlocal0000"], {
        beat: clock.now(),
        pid: 2 ** 22 + 7,
        machine,
      })
      .set(ws("crashedlocal0000"), record)
      // A live process elsewhere (another Deploy instance): kept while it beats.
      .set(["dormant", "boot", "remotelive000000"], {
        beat: clock.now(),
        pid: 1,
        machine: "elsewhere",
      })
      .set(ws("remotelive000000"), record)
      // A remote process that stopped beating 2 minutes ago: dead.
      .set(["dormant", "boot", "remotestale00000"], {
        beat: clock.now() - 120_000,
        pid: 1,
        machine: "elsewhere",
      })
      .set(ws("remotestale00000"), record)
      // Records with no lease at all (written before leases existed, or lease lost): dead.
      .set(ws("nolease000000000"), record)
      .commit();
    await using app = await serveApp({ objects: { ROOM: Room }, routes: ROUTES, kv, clock });
    await app.app.ready();
    const boots = (await records(kv)).filter((r) => r.kind === "ws").map((r) => r.key[5]);
    assert.deepEqual(boots, ["remotelive000000"]);
    const leases = [];
    for await (const entry of kv.list({ prefix: ["dormant", "boot"] })) leases.push(entry.key[2]);
    assert.ok(leases.includes("remotelive000000"));
    assert.ok(!leases.includes("crashedlocal0000") && !leases.includes("remotestale00000"));
    // The remote boot stops beating: the periodic cleanup (every third 30 s beat) removes it.
    await app.clock.advance(90_000);
    await until(
      async () => (await records(kv)).filter((r) => r.kind === "ws").length === 0,
      "cleanup",
    );
  } finally {
    kv.close();
  }
});

Deno.test("per-object settings survive hibernation, eviction from memory and a restart; clearing them is persisted too", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    {
      await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES, kv });
      const stub = s.app.env.ROOM.getByName("settings");
      const on = { auto: ["ping", "pong"], timeout: 5_000 };
      await stub.configure(true);
      assert.deepEqual(await stub.settings(), on);

      // No sockets: hibernation drops the object from memory entirely.
      await hibernateNow(s.app, "ROOM", stub.id);
      assert.equal(s.app.hostOf("ROOM", stub.id), undefined);
      assert.equal(objectStatus(s.app, "ROOM", stub.id), "hibernated");
      assert.deepEqual(await stub.settings(), on);

      // With a socket: the object stays known, and wakes with the same settings.
      const client = await s.connect("/room/settings");
      await hibernateNow(s.app, "ROOM", stub.id);
      client.socket.send("ping");
      assert.equal(await client.next(), "pong");
      assert.deepEqual(await stub.settings(), on);
    }
    {
      await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES, kv });
      const stub = s.app.env.ROOM.getByName("settings");
      assert.deepEqual(await stub.settings(), { auto: ["ping", "pong"], timeout: 5_000 });
      await stub.configure(false);
      await hibernateNow(s.app, "ROOM", stub.id);
      assert.equal(s.app.hostOf("ROOM", stub.id), undefined);
      assert.deepEqual(await stub.settings(), { auto: null, timeout: null });
    }
  } finally {
    kv.close();
  }
});

/** Wraps a real Kv so that every commit throws while `state.failing` is set. */
function flakyKv(kv: Deno.Kv, state: { failing: boolean; attempts: number }): Deno.Kv {
  return interceptKv(kv, {
    commit(commit, calls) {
      // Count write-behind flushes (hibernation records), not the boot lease's renewals.
      if (calls.some((c) => (c.first as Deno.KvKey)[1] === "h")) state.attempts++;
      if (state.failing) throw new Error("injected commit failure");
      return commit();
    },
  });
}

Deno.test("a failing KV commit reaches onException as a KvError from kv.flush, nothing crashes and the write is retried, not dropped", async () => {
  const real = await Deno.openKv(":memory:");
  const state = { failing: false, attempts: 0 };
  try {
    await using s = await serveApp({
      objects: { ROOM: Room },
      routes: ROUTES,
      kv: flakyKv(real, state),
    });
    await s.app.ready();
    state.failing = true;
    const client = await s.connect("/room/a?user=a");
    // Socket records are written when their object hibernates (or on an explicit flush).
    await assert.rejects(flushNow(s.app), /injected commit failure/);
    await until(() => s.exceptions.length === 1, "the first failure");
    const { error, context } = s.exceptions[0]!;
    assert.ok(error instanceof KvError, String(error));
    assert.match(error.message, /injected commit failure/);
    assert.equal(context.operation, "kv.flush");
    assert.deepEqual(await records(real), []);
    assert.equal(s.app.stats().pendingWrites, 1, "the record is still pending");

    // The object keeps working meanwhile; a hibernation cannot flush and says so.
    client.socket.send("echo");
    assert.equal(await client.next(), "echo");
    await assert.rejects(
      hibernateNow(s.app, "ROOM", s.app.env.ROOM.idFromName("a")),
      /injected commit failure/,
    );
    client.socket.send("whoami");
    assert.equal(
      JSON.parse(await client.next() as string).user,
      "a",
      "the attachment was kept in memory",
    );

    // Retries back off; once commits work again, the record is written.
    state.failing = false;
    const attempts = state.attempts;
    await s.clock.advance(30_000);
    assert.equal(state.attempts, attempts + 1, "one retry, by the backoff timer");
    await flushNow(s.app);
    assert.equal(s.app.stats().pendingWrites, 0);
    const written = await records(real);
    assert.equal(count(written, "ws"), 1);
    assert.ok(
      s.exceptions.every((e) => e.error instanceof KvError || /injected/.test(String(e.error))),
    );
    assert.ok(s.exceptions.some((e) => e.context.operation === "kv.flush"));
  } finally {
    real.close();
  }
});

/** Cloudflare's usual pattern: the auto-response is set in the constructor, so on every wake. */
class ConstructorAuto extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    this.ctx.setHibernatableWebSocketEventTimeout(1_000);
  }
  fetch(): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return webSocketResponse(client);
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(message);
  }
}

Deno.test("settings re-set unchanged by every new instance cost no KV write", async () => {
  await using s = await serveApp({ objects: { ROOM: ConstructorAuto }, routes: ROUTES });
  const client = await s.connect("/room/a");
  await flushNow(s.app);
  const id = s.app.env.ROOM.idFromName("a");
  await hibernateNow(s.app, "ROOM", id);
  const { kvCommits, kvMutations } = s.app.stats();
  for (let i = 0; i < 3; i++) {
    client.socket.send(`m${i}`);
    assert.equal(await client.next(), `m${i}`);
    await hibernateNow(s.app, "ROOM", id);
  }
  assert.equal(s.app.stats().kvCommits, kvCommits);
  assert.equal(s.app.stats().kvMutations, kvMutations);
});

// ---- KV limits of the write-behind store -------------------------------------------------------

Deno.test("a hibernation flush of many sockets with long tags stays within one atomic's 800 KiB", async () => {
  using kv = await Deno.openKv(":memory:");
  const errors: unknown[] = [];
  const store = new HibernationStore({
    kv,
    clock: new ManualClock(),
    boot: "b".repeat(16),
    flushDelayMs: 0,
    onCommit: () => {},
    report: (error) => errors.push(error),
  });
  const host = {
    keyBase: ["dormant", "h", "ROOM", "0".repeat(64)],
    committed: () => {},
  } as unknown as PersistedObject;
  const owner = host as unknown as ConnectionOwner;
  // 10 tags of 256 bytes (the most workerd allows) and a 1 KB attachment: ~3.8 KB per record,
  // ~1.5 MB for 400 sockets, of which the store used to put ~830 KB in one atomic.
  for (let i = 0; i < 400; i++) {
    const ws = new Connection();
    ws.serializeAttachment("a".repeat(1000));
    const tags = Array.from({ length: 10 }, (_, t) => `${i}:${t}:`.padEnd(256, "x"));
    ws[ACCEPT_HIBERNATABLE](owner, Object.freeze(tags), 0);
    store.markSocket(ws, RECORD);
  }
  try {
    await store.flush();
  } finally {
    store.close();
    await store.idle();
  }
  assert.deepEqual(errors.map(String), []);
  let n = 0;
  for await (const _ of kv.list({ prefix: ["dormant", "h"] })) n++;
  assert.equal(n, 400);
});
