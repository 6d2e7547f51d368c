// Regression tests for bugs found in the code review of src/ (one test per bug).
import assert from "node:assert/strict";
import {
  DurableObject,
  type DurableObjectState,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { hibernateNow, ManualClock, objectStatus } from "../../src/testing/mod.ts";
import { HibernationStore } from "../../src/kv/hibernation_store.ts";
import type { PersistedObject } from "../../src/objects/persisted_object.ts";
import {
  ACCEPT_HIBERNATABLE,
  Connection,
  type ConnectionOwner,
  RECORD,
} from "../../src/sockets/connection.ts";
import { serveApp, until } from "../_helpers.ts";
import { RawClient } from "../_raw_client.ts";

// ---- attachments of closing sockets after hibernation ------------------------------------------

const named: string[] = [];

class Named extends DurableObject {
  fetch(request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ name: new URL(request.url).searchParams.get("n") });
    return webSocketResponse(client);
  }
  webSocketClose(ws: WebSocket, code: number): void {
    named.push(`close ${(ws.deserializeAttachment() as { name: string }).name} ${code}`);
  }
  webSocketError(ws: WebSocket): void {
    named.push(`error ${(ws.deserializeAttachment() as { name: string }).name}`);
  }
}

Deno.test("webSocketClose of a hibernated object reads the closing socket's attachment", async () => {
  named.length = 0;
  await using s = await serveApp({
    objects: { NAMED: Named },
    routes: [{ pattern: "/n/:name", object: "NAMED" }],
  });
  const alice = await s.connect("/n/a?n=alice");
  const id = s.app.env.NAMED.idFromName("a");
  await hibernateNow(s.app, "NAMED", id);
  assert.equal(objectStatus(s.app, "NAMED", id), "hibernated");
  await alice.close(4000, "bye");
  await until(() => named.length > 0 || s.exceptions.length > 0, "webSocketClose");
  assert.deepEqual(s.exceptions.map((e) => String(e.error)), []);
  assert.deepEqual(named, ["close alice 4000"]);
});

Deno.test("webSocketError of a hibernated object reads the socket's attachment", async () => {
  named.length = 0;
  await using s = await serveApp({
    objects: { NAMED: Named },
    routes: [{ pattern: "/n/:name", object: "NAMED" }],
    maxMessageBytes: 8,
  });
  const bob = await s.connect("/n/b?n=bob");
  const id = s.app.env.NAMED.idFromName("b");
  await hibernateNow(s.app, "NAMED", id);
  bob.socket.send("0123456789"); // over 8 bytes: 1009 + webSocketError
  await until(() => named.length > 0 || s.exceptions.length > 0, "webSocketError");
  assert.deepEqual(s.exceptions.map((e) => String(e.error)), []);
  assert.deepEqual(named, ["error bob"]);
  assert.equal((await bob.closed).code, 1009);
});

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

// ---- events after shutdown ---------------------------------------------------------------------

let builtAfter = 0;
let shutDown = false;
const lateEvents: string[] = [];

class Closer extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    if (shutDown) builtAfter++;
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (message === "close me") ws.close(4001, "server closes");
  }
  webSocketClose(_ws: WebSocket, code: number): void {
    if (shutDown) lateEvents.push(`close ${code}`);
  }
}

Deno.test("a close arriving after shutdown builds no instance and runs no handler", async () => {
  builtAfter = 0;
  shutDown = false;
  lateEvents.length = 0;
  await using s = await serveApp({
    objects: { CLOSER: Closer },
    routes: [{ pattern: "/c/:name", object: "CLOSER" }],
  });
  await using raw = await RawClient.connect(s.port, "/c/a");
  await raw.text("close me");
  const frame = await raw.nextData(); // the server's Close; the raw client does not answer yet
  assert.equal(frame?.opcode, 0x8);
  await s.app.shutdown({ timeoutMs: 0 });
  shutDown = true;
  await raw.close(4001, "server closes"); // the reply arrives after shutdown
  await raw.rest();
  await until(() => s.app.stats().connections === 0, "socket gone");
  // Give a wrongly started wake a few macrotasks to run.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 2));
  assert.equal(builtAfter, 0);
  assert.deepEqual(lateEvents, []);
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
