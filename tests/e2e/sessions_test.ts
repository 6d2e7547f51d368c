import assert from "node:assert/strict";
import {
  App,
  durableObject,
  type DurableObjectState,
  onMessage,
  type WebSocket,
} from "../../mod.ts";
import { ManualClock } from "../../src/testing/mod.ts";
import { connect, type ReconnectingWebSocket } from "../../src/client/connect.js";
import {
  serveApp,
  serveBuilt,
  type ServerProcess,
  startServerProcess,
  until,
} from "../_helpers.ts";
import { TcpRelay } from "../_tcp_relay.ts";

@durableObject({ name: "sroom", resumable: true })
class Room {
  constructor(readonly ctx: DurableObjectState) {}

  @onMessage
  message(_ws: WebSocket, message: string | ArrayBuffer): void {
    for (const ws of this.ctx.getWebSockets()) ws.send(message);
  }
}

/** A client that records what it receives and its open codes. */
function recorder(url: string) {
  const ws = connect(url, { minDelayMs: 20, maxDelayMs: 100 });
  const received: string[] = [];
  const opens: (string | undefined)[] = [];
  ws.addEventListener("message", (event) => received.push(String(event.data)));
  ws.addEventListener("open", (event) => opens.push(event.code));
  return { ws, received, opens };
}

async function closeClient(ws: ReconnectingWebSocket): Promise<void> {
  ws.close();
  await new Promise((resolve) => setTimeout(resolve, 20));
}

Deno.test("a client behind a relay that is cut while another sends 20 messages gets all 20 after it comes back, once each, in order", async () => {
  await using served = await serveApp({
    objects: { ROOM: Room },
    routes: [{ pattern: "/rooms/:name", object: "ROOM" }],
  });
  const relay = new TcpRelay(served.port);
  const ann = recorder(`ws://127.0.0.1:${relay.port}/rooms/lobby`);
  const ben = recorder(`ws://127.0.0.1:${served.port}/rooms/lobby`);
  try {
    await until(() => ann.ws.status === "open" && ben.ws.status === "open", "both open");
    assert.deepEqual([ann.opens, ben.opens], [["new"], ["new"]]);
    ben.ws.send("hello");
    await until(() => ann.received.length === 1 && ben.received.length === 1, "hello");
    await relay.cut();
    await until(() => served.app.stats().connections === 1, "ann's connection to drop");
    const sent = Array.from({ length: 20 }, (_, i) => `m${i + 1}`);
    for (const text of sent) ben.ws.send(text);
    await until(() => ben.received.length === 21, "ben's 20 messages");
    assert.equal(ann.received.length, 1);
    relay.restore();
    await until(() => ann.received.length >= 21 && ann.ws.status === "open", "ann's replay");
    await new Promise((resolve) => setTimeout(resolve, 50)); // nothing more (no duplicate) arrives
    assert.deepEqual(ann.received, ["hello", ...sent]);
    assert.deepEqual(ann.opens, ["new", "resumed"]);
    ben.ws.send("live");
    await until(() => ann.received.length === 22, "live traffic after the replay");
    assert.equal(ann.received[21], "live");
  } finally {
    await closeClient(ann.ws);
    await closeClient(ben.ws);
    await relay.close();
  }
});

const SERVER = new URL("./_session_server.ts", import.meta.url).pathname;

function startServer(kvPath: string) {
  return startServerProcess(["run", "-A", SERVER], { KV_PATH: kvPath, PORT: "0" });
}

/** Stops the server if it still runs. */
async function stop(server: ServerProcess): Promise<void> {
  try {
    server.child.kill("SIGTERM");
  } catch {
    // already exited
  }
  await stopped(server);
}

async function stopped(server: ServerProcess): Promise<Deno.CommandStatus> {
  const [status] = await Promise.all([server.status, server.stdout, server.stderr]);
  return status;
}

Deno.test("a client away while the server is killed with SIGKILL and restarted on the same KV gets every message sent before and after the restart", async () => {
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/kv.sqlite3`;
  let server = await startServer(kvPath);
  const annRelay = new TcpRelay(server.port);
  const benRelay = new TcpRelay(server.port);
  const ann = recorder(`ws://127.0.0.1:${annRelay.port}/rooms/k9`);
  const ben = recorder(`ws://127.0.0.1:${benRelay.port}/rooms/k9`);
  try {
    await until(() => ann.ws.status === "open" && ben.ws.status === "open", "both open");
    await annRelay.cut();
    const before = Array.from({ length: 10 }, (_, i) => `before ${i + 1}`);
    for (const text of before) ben.ws.send(text);
    await until(() => ben.received.length === 10, "ben's first 10");
    server.child.kill("SIGKILL");
    assert.equal((await stopped(server)).signal, "SIGKILL");
    server = await startServer(kvPath);
    annRelay.retarget(server.port);
    benRelay.retarget(server.port);
    await until(() => ben.ws.status === "open" && ben.opens.length === 2, "ben back", 2000);
    assert.equal(ben.opens[1], "resumed");
    const after = Array.from({ length: 10 }, (_, i) => `after ${i + 1}`);
    for (const text of after) ben.ws.send(text);
    await until(() => ben.received.length === 20, "ben's last 10");
    annRelay.restore();
    await until(() => ann.received.length >= 20 && ann.ws.status === "open", "ann's replay", 2000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(ann.received, [...before, ...after]);
    assert.deepEqual(ann.opens, ["new", "resumed"]);
  } finally {
    await closeClient(ann.ws);
    await closeClient(ben.ws);
    await annRelay.close();
    await benRelay.close();
    await stop(server);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a graceful deploy (SIGTERM, then a new process on the same KV) resumes every session: nothing is lost or repeated", async () => {
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/kv.sqlite3`;
  let server = await startServer(kvPath);
  const annRelay = new TcpRelay(server.port);
  const benRelay = new TcpRelay(server.port);
  const ann = recorder(`ws://127.0.0.1:${annRelay.port}/rooms/deploy`);
  const ben = recorder(`ws://127.0.0.1:${benRelay.port}/rooms/deploy`);
  const codes: number[] = [];
  ann.ws.addEventListener("close", (event) => codes.push(event.code));
  try {
    await until(() => ann.ws.status === "open" && ben.ws.status === "open", "both open");
    for (const text of ["a", "b", "c"]) ben.ws.send(text);
    await until(() => ann.received.length === 3, "ann's first 3");
    server.child.kill("SIGTERM");
    assert.equal((await stopped(server)).code, 0);
    assert.equal(codes[0], 1001); // then failed attempts while no server listens
    server = await startServer(kvPath);
    annRelay.retarget(server.port);
    benRelay.retarget(server.port);
    await until(() => ben.opens.length === 2 && ann.opens.length === 2, "both back", 2000);
    for (const text of ["d", "e"]) ben.ws.send(text);
    await until(() => ann.received.length === 5, "ann's last 2");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(ann.received, ["a", "b", "c", "d", "e"]);
    assert.deepEqual([ann.opens, ben.opens], [["new", "resumed"], ["new", "resumed"]]);
  } finally {
    await closeClient(ann.ws);
    await closeClient(ben.ws);
    await annRelay.close();
    await benRelay.close();
    await stop(server);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("after app.shutdown({ restart: true }) (close 1012) a new app on the same KV resumes the session with what was sent while no server ran", async () => {
  const kv = await Deno.openKv(":memory:");
  const routes = [{ pattern: "/rooms/:name", object: "ROOM" }];
  try {
    const first = await serveBuilt(
      new App({ objects: { ROOM: Room }, routes, kv, clock: new ManualClock() }),
    );
    const relay = new TcpRelay(first.port);
    const ann = recorder(`ws://127.0.0.1:${relay.port}/rooms/restart`);
    const codes: number[] = [];
    ann.ws.addEventListener("close", (event) => codes.push(event.code));
    await until(() => ann.ws.status === "open", "open");
    ann.ws.send("before");
    await until(() => ann.received.length === 1, "before");
    await first.app.shutdown({ restart: true });
    await until(() => codes.length > 0, "the close");
    assert.equal(codes[0], 1012);
    await first[Symbol.asyncDispose]();
    const second = await serveBuilt(
      new App({ objects: { ROOM: Room }, routes, kv, clock: new ManualClock() }),
    );
    await second.app.env.ROOM.broadcast(second.app.env.ROOM.idFromName("restart"), "while away");
    relay.retarget(second.port);
    await until(() => ann.received.length === 2 && ann.ws.status === "open", "resumed");
    assert.deepEqual(ann.received, ["before", "while away"]);
    assert.deepEqual(ann.opens, ["new", "resumed"]);
    await closeClient(ann.ws);
    await relay.close();
    await second[Symbol.asyncDispose]();
  } finally {
    kv.close();
  }
});

Deno.test("a client already away when the server shuts down gracefully resumes from the next app on the same KV", async () => {
  const kv = await Deno.openKv(":memory:");
  const routes = [{ pattern: "/rooms/:name", object: "ROOM" }];
  const build = () => new App({ objects: { ROOM: Room }, routes, kv, clock: new ManualClock() });
  try {
    const first = await serveBuilt(build());
    const relay = new TcpRelay(first.port);
    const ann = recorder(`ws://127.0.0.1:${relay.port}/rooms/away`);
    await until(() => ann.ws.status === "open", "open");
    await relay.cut();
    await until(() => first.app.stats().connections === 0, "ann away");
    await first.app.env.ROOM.broadcast(first.app.env.ROOM.idFromName("away"), "one");
    await first.app.shutdown({ restart: true });
    await first[Symbol.asyncDispose]();
    const second = await serveBuilt(build());
    await second.app.env.ROOM.broadcast(second.app.env.ROOM.idFromName("away"), "two");
    relay.retarget(second.port);
    relay.restore();
    await until(() => ann.received.length === 2 && ann.ws.status === "open", "resumed");
    assert.deepEqual(ann.received, ["one", "two"]);
    assert.deepEqual(ann.opens, ["new", "resumed"]);
    await closeClient(ann.ws);
    await relay.close();
    await second[Symbol.asyncDispose]();
  } finally {
    kv.close();
  }
});
