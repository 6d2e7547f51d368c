import assert from "node:assert/strict";
import { durableObject, type DurableObjectState, onMessage, type WebSocket } from "../../mod.ts";
import { connect } from "../../src/client/connect.js";
import type { AtomicCall } from "../_intercept_kv.ts";
import { interceptKv } from "../_intercept_kv.ts";
import { serveApp, until } from "../_helpers.ts";
import { ObjectMovedError } from "../../src/errors.ts";
import { ownerKey, sessionLogRoot } from "../../src/kv/keys.ts";
import type { StoredEntry } from "../../src/sessions/session_log.ts";

@durableObject({ name: "mroom", resumable: true })
class Room {
  constructor(readonly ctx: DurableObjectState) {}

  @onMessage
  message(_ws: WebSocket, message: string | ArrayBuffer): void {
    for (const ws of this.ctx.getWebSockets()) ws.send(message);
  }
}

function isLogSet(call: AtomicCall): boolean {
  return call.method === "set" && (call.first as Deno.KvKey)[1] === "rl";
}

Deno.test("a message reaches no client before the log commit that holds it is durable", async () => {
  const real = await Deno.openKv(":memory:");
  let hold: (() => void) | null = null;
  let held = 0;
  const kv = interceptKv(real, {
    async commit(commit, calls) {
      if (calls.some(isLogSet)) {
        held++;
        await new Promise<void>((resolve) => (hold = resolve));
      }
      return commit();
    },
  });
  try {
    await using served = await serveApp({
      objects: { ROOM: Room },
      routes: [{ pattern: "/rooms/:name", object: "ROOM" }],
      kv,
    });
    const ws = connect(`ws://127.0.0.1:${served.port}/rooms/gate`);
    const got: string[] = [];
    ws.onmessage = (event) => got.push(String(event.data));
    await until(() => ws.status === "open", "open");
    ws.send("gated");
    await until(() => held === 1, "the log commit to start");
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.deepEqual(got, []);
    hold!();
    await until(() => got.length === 1, "the message after the commit");
    assert.deepEqual(got, ["gated"]);
    ws.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    real.close();
  }
});

Deno.test("one text sent to 100 session sockets in a row is stored once (one log entry, its recipients as a range)", async () => {
  const real = await Deno.openKv(":memory:");
  const logSets: AtomicCall[][] = [];
  const kv = interceptKv(real, {
    commit(commit, calls) {
      if (calls.some(isLogSet)) logSets.push(calls.filter(isLogSet));
      return commit();
    },
  });
  try {
    await using served = await serveApp({
      objects: { ROOM: Room },
      routes: [{ pattern: "/rooms/:name", object: "ROOM" }],
      kv,
    });
    const clients = Array.from(
      { length: 100 },
      () => connect(`ws://127.0.0.1:${served.port}/rooms/fan`),
    );
    let received = 0;
    for (const ws of clients) ws.onmessage = () => received++;
    await until(() => clients.every((ws) => ws.status === "open"), "all open");
    clients[0]!.send("to everyone");
    await until(() => received === 100, "100 deliveries");
    assert.equal(logSets.length, 1);
    assert.equal(logSets[0]!.length, 1);
    const [entry] = await Array.fromAsync(real.list({ prefix: ["dormant", "rl"] }));
    assert.deepEqual((entry!.value as { r: number[] }).r, [1, 100]);
    for (const ws of clients) ws.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    real.close();
  }
});

Deno.test("a log write of an object this node no longer owns is fenced: nothing is logged and the node steps down", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await using served = await serveApp({
      objects: { ROOM: Room },
      routes: [{ pattern: "/rooms/:name", object: "ROOM" }],
      kv,
    });
    const hex = served.app.env.ROOM.idFromName("fenced").toString();
    const ws = connect(`ws://127.0.0.1:${served.port}/rooms/fenced`);
    const got: string[] = [];
    const statuses: string[] = [];
    ws.onmessage = (event) => got.push(String(event.data));
    ws.onstatuschange = () => statuses.push(ws.status);
    await until(() => ws.status === "open", "open");
    ws.send("before");
    await until(() => got.length === 1, "the first message");
    // Another node takes the object over behind this node's back.
    await kv.set(ownerKey("mroom", hex), { node: "elsewhere", epoch: 2 });
    ws.send("after");
    await until(() => served.exceptions.length > 0, "the step-down report");
    assert.equal(served.exceptions[0]!.error instanceof ObjectMovedError, true);
    assert.equal(served.exceptions[0]!.context.operation, "fenced");
    await until(() => statuses.includes("reconnecting"), "the socket closed (1012)");
    const logged: unknown[] = [];
    for await (const entry of kv.list<StoredEntry>({ prefix: sessionLogRoot("mroom", hex) })) {
      logged.push(entry.value.p);
    }
    assert.deepEqual(logged, ["before"], "the fenced write left nothing");
    assert.deepEqual(got, ["before"]);
    ws.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    kv.close();
  }
});
