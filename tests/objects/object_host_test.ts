// How an object host keeps its counts per instance: after a reset (an event
// timeout), nothing of the discarded instance may keep the object busy or
// reopen the input gate of the instance that replaced it.

import assert from "node:assert/strict";
import {
  type App,
  type Blocker,
  DurableObject,
  type DurableObjectState,
  EventTimeoutError,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { interceptKv } from "../_intercept_kv.ts";

const ROUTES = [{ pattern: "/room/:name", object: "ROOM" }];

/** A base class that accepts every socket and sets a 1 s event timeout in its constructor. */
class Accepting extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.setHibernatableWebSocketEventTimeout(1_000);
  }
  fetch(): Response {
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    return webSocketResponse(pair[0]);
  }
}

/** What the object with `hex` is waiting for, per the app's stats (`null`: not in memory). */
function blockersOf(app: App, hex: string): readonly Blocker[] | null {
  return app.stats().objects.find((o) => o.id === hex)?.blockers ?? null;
}

/** One macrotask: what the event loop had queued before it (a scheduled drain, say) has run. */
function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

// ---- the discarded instance's in-flight handlers -------------------------------------------------

function hangingClass() {
  const state = { started: 0 };
  class Hanging extends Accepting {
    webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): unknown {
      if (message === "hang") {
        state.started++;
        return new Promise(() => {}); // never settles: the event timeout resets the object
      }
      ws.send(`echo:${message}`);
    }
  }
  return { Hanging, state };
}

Deno.test("after an event-timeout reset the discarded handler keeps nothing busy: no blockers, hibernateNow() succeeds and shutdown() does not wait for it", async () => {
  const { Hanging, state } = hangingClass();
  await using s = await serveApp({ objects: { ROOM: Hanging }, routes: ROUTES });
  const client = await s.connect("/room/a");
  const id = s.app.env.ROOM.idFromName("a");
  client.socket.send("hang");
  await until(() => state.started === 1, "the hanging handler to start");
  assert.deepEqual(blockersOf(s.app, id.toString()), ["event"]);
  await s.clock.advance(1_000);
  await until(() => s.exceptions.length === 1, "the timeout report");
  assert.ok(s.exceptions[0]!.error instanceof EventTimeoutError);
  assert.equal(objectStatus(s.app, "ROOM", id), "hibernated");
  assert.deepEqual(blockersOf(s.app, id.toString()), []);
  await hibernateNow(s.app, "ROOM", id); // throws "busy: event" if the dead handler still counted
  // shutdown() waits while any object lists a blocker: at no point may this one list any.
  let stopped = false;
  const stopping = s.app.shutdown({ timeoutMs: 2_000 }).then(() => void (stopped = true));
  while (!stopped) {
    assert.deepEqual(blockersOf(s.app, id.toString()), [], "shutdown is waiting for the object");
    await nextMacrotask();
  }
  await stopping;
  assert.equal((await client.closed).code, 1001, "shutdown went on to close the socket");
});

Deno.test("after an event-timeout reset of an object whose sockets are gone, the idle timer arms and the object leaves memory", async () => {
  const { Hanging, state } = hangingClass();
  await using s = await serveApp({ objects: { ROOM: Hanging }, routes: ROUTES });
  const client = await s.connect("/room/a");
  const hex = s.app.env.ROOM.idFromName("a").toString();
  client.socket.send("hang");
  await until(() => state.started === 1, "the hanging handler to start");
  await client.close(1000);
  await until(() => s.app.stats().connections === 0, "the server socket to close");
  await s.clock.advance(1_000);
  await until(() => s.exceptions.length === 1, "the timeout report");
  assert.deepEqual(blockersOf(s.app, hex), []);
  await s.clock.advance(10_000); // the default hibernateAfterMs
  await until(() => blockersOf(s.app, hex) === null, "the idle object to leave memory");
  assert.deepEqual(s.exceptions.map((e) => e.context.operation), ["webSocketMessage"]);
});

// ---- the input gate belongs to one instance ----------------------------------------------------

Deno.test("a discarded instance's late blockConcurrencyWhile() release does not let a message run during the new instance's blockConcurrencyWhile()", async () => {
  const first = Promise.withResolvers<void>();
  const second = Promise.withResolvers<void>();
  const state = {
    constructed: 0,
    firstBlock: null as Promise<unknown> | null,
    secondBlockRunning: false,
  };
  class Blocking extends Accepting {
    constructor(ctx: DurableObjectState, env: unknown) {
      super(ctx, env);
      state.constructed++;
      if (state.constructed === 2) {
        ctx.blockConcurrencyWhile(async () => {
          state.secondBlockRunning = true;
          await second.promise;
          state.secondBlockRunning = false;
        });
      }
    }
    webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): unknown {
      if (message === "block") {
        state.firstBlock = this.ctx.blockConcurrencyWhile(() => first.promise);
        return new Promise(() => {}); // never settles: the event timeout resets the object
      }
      ws.send(`${message} ran; blockConcurrencyWhile running: ${state.secondBlockRunning}`);
    }
  }
  await using s = await serveApp({ objects: { ROOM: Blocking }, routes: ROUTES });
  const client = await s.connect("/room/a");
  const hex = s.app.env.ROOM.idFromName("a").toString();
  client.socket.send("block");
  await until(() => state.firstBlock !== null, "the first instance's blockConcurrencyWhile");
  await s.clock.advance(1_000);
  await until(() => s.exceptions.length === 1, "the timeout report");
  client.socket.send("after"); // wakes the second instance, whose constructor blocks
  await until(() => state.secondBlockRunning, "the second instance's blockConcurrencyWhile");
  first.resolve(); // the discarded instance's block ends late
  await state.firstBlock;
  await nextMacrotask(); // a drain the release scheduled has run by now
  assert.deepEqual(blockersOf(s.app, hex), ["blockConcurrencyWhile", "queued"]);
  second.resolve();
  assert.equal(await client.next(), "after ran; blockConcurrencyWhile running: false");
  assert.equal(state.constructed, 2);
  assert.deepEqual(blockersOf(s.app, hex), []);
});

Deno.test("a discarded instance's storage read that completes late does not let a message run during the new instance's storage read", async () => {
  const real = await Deno.openKv(":memory:");
  const held: Array<() => void> = [];
  let holdReads = false;
  const kv = interceptKv(real, {
    async read(_method, _args, read) {
      if (holdReads) await new Promise<void>((resolve) => held.push(resolve));
      return read();
    },
  });
  const state = {
    constructed: 0,
    firstRead: null as Promise<unknown> | null,
    secondReadPending: false,
  };
  class Reading extends Accepting {
    constructor(ctx: DurableObjectState, env: unknown) {
      super(ctx, env);
      state.constructed++;
      if (state.constructed === 2) {
        state.secondReadPending = true;
        void ctx.storage.get("k").then(() => void (state.secondReadPending = false));
      }
    }
    webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): unknown {
      // The handler awaits a read that the test holds: the event timeout resets the object.
      if (message === "read") return state.firstRead = this.ctx.storage.get("k");
      ws.send(`${message} ran; storage read pending: ${state.secondReadPending}`);
    }
  }
  try {
    await using s = await serveApp({ objects: { ROOM: Reading }, routes: ROUTES, kv });
    const client = await s.connect("/room/a");
    const hex = s.app.env.ROOM.idFromName("a").toString();
    holdReads = true;
    client.socket.send("read");
    await until(() => held.length === 1, "the first instance's read to start");
    await s.clock.advance(1_000);
    await until(() => s.exceptions.length === 1, "the timeout report");
    client.socket.send("after"); // wakes the second instance, whose constructor reads
    await until(() => held.length === 2, "the second instance's read to start");
    held.shift()!(); // the discarded instance's read completes late
    await state.firstRead;
    await nextMacrotask(); // a drain the completion scheduled has run by now
    assert.deepEqual(blockersOf(s.app, hex), ["storage", "queued"]);
    holdReads = false;
    held.shift()!();
    assert.equal(await client.next(), "after ran; storage read pending: false");
    assert.equal(state.constructed, 2);
  } finally {
    real.close();
  }
});
