import assert from "node:assert/strict";
import { serialize } from "node:v8";
import {
  DurableObject,
  type DurableObjectState,
  KvError,
  type WebSocket,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";
import { appInternals } from "../../src/_app_internals.ts";
import { flushNow, hibernateNow, ManualClock, objectStatus } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { interceptKv } from "../_intercept_kv.ts";
import {
  type HibernatingObject,
  HibernationStore,
} from "../../src/hibernation/hibernation_store.ts";
import { Connection } from "../../src/sockets/connection.ts";
import { type ConnectionOwner, RECORD } from "../../src/sockets/connection_owner.ts";
import { ACCEPT_HIBERNATABLE } from "../../src/sockets/connection_internals.ts";
import { count, records, Room, ROUTES } from "./_room.ts";

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
      assert.equal(appInternals.get(s.app)!.hostOf("ROOM", stub.id), undefined);
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
      assert.equal(appInternals.get(s.app)!.hostOf("ROOM", stub.id), undefined);
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
    // Connected first: claiming the object is a KV commit too.
    const client = await s.connect("/room/a?user=a");
    state.failing = true;
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
    leaseDead: () => false,
  });
  const host: HibernatingObject = {
    keyBase: ["dormant", "h", "ROOM", "0".repeat(64)],
    autoResponse: null,
    eventTimeoutMs: 0,
    list: () => [],
    queuedSockets: () => [],
    restoreSettings: () => {},
    countCommit: () => {},
  };
  const owner = host as unknown as ConnectionOwner;
  // 10 tags of 256 bytes (the most workerd allows) and a 1 KB attachment: ~3.8 KB per record,
  // ~1.5 MB for 400 sockets, of which the store used to put ~830 KB in one atomic.
  for (let i = 0; i < 400; i++) {
    const ws = new Connection();
    ws.serializeAttachment("a".repeat(1000));
    const tags = Array.from({ length: 10 }, (_, t) => `${i}:${t}:`.padEnd(256, "x"));
    ws[ACCEPT_HIBERNATABLE](owner, Object.freeze(tags), 0);
    store.markSocket(host, ws, RECORD);
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
