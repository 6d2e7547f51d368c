import assert from "node:assert/strict";
import {
  backoffDelay,
  connect,
  isFinalCloseCode,
  type ReconnectingWebSocket,
} from "../../src/client/connect.js";
import { until } from "../_helpers.ts";
import { TcpRelay } from "../_tcp_relay.ts";

/** A plain server: `/echo` echoes, `/close/<code>` closes with that code once open. */
function plainServer() {
  const accepted: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    const path = new URL(request.url).pathname;
    accepted.push(path);
    socket.onmessage = (event) => socket.send(event.data);
    const code = /^\/close\/(\d+)$/.exec(path)?.[1];
    if (code !== undefined) socket.onopen = () => socket.close(Number(code), "bye");
    return response;
  });
  return {
    port: server.addr.port,
    accepted,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

function statuses(ws: ReconnectingWebSocket): string[] {
  const seen = [ws.status];
  ws.addEventListener("statuschange", (event) => seen.push(event.status));
  return seen;
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 30));
}

Deno.test("backoffDelay grows exponentially from minDelayMs, is capped at maxDelayMs and loses up to jitter of it", () => {
  const options = { minDelayMs: 100, maxDelayMs: 1_000, growth: 2, jitter: 0.5 };
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, options, 0)), [
    100,
    200,
    400,
    800,
    1_000,
    1_000,
  ]);
  assert.equal(backoffDelay(1, options, 1), 100);
  assert.equal(backoffDelay(1, options, 0.5), 150);
});

Deno.test("isFinalCloseCode: 1000, 1008, protocol errors and 4400-4499 stop reconnecting; going away, restarts and errors do not", () => {
  for (const code of [1000, 1002, 1003, 1007, 1008, 1009, 1010, 4400, 4409, 4499]) {
    assert.equal(isFinalCloseCode(code), true, String(code));
  }
  for (const code of [1001, 1005, 1006, 1011, 1012, 1013, 1014, 4000, 4500, 4990]) {
    assert.equal(isFinalCloseCode(code), false, String(code));
  }
});

Deno.test("the client reports connecting → open → reconnecting → open → closed and sends what was buffered while offline, in order", async () => {
  await using server = plainServer();
  const relay = new TcpRelay(server.port);
  const ws = connect(`ws://127.0.0.1:${relay.port}/echo`, { minDelayMs: 10, maxDelayMs: 20 });
  const seen = statuses(ws);
  const got: string[] = [];
  ws.onmessage = (event) => got.push(String(event.data));
  ws.send("early"); // before the first open
  await until(() => got.length === 1, "echo of the early message");
  await relay.cut();
  await until(() => ws.status === "reconnecting", "reconnecting");
  assert.equal(ws.readyState, 0);
  ws.send("offline 1");
  ws.send("offline 2");
  assert.ok(ws.bufferedAmount > 0);
  relay.restore();
  await until(() => got.length === 3, "echo of the buffered messages");
  assert.deepEqual(got, ["early", "offline 1", "offline 2"]);
  ws.close();
  assert.equal(ws.readyState, 3);
  assert.throws(() => ws.send("after close"), DOMException);
  assert.deepEqual(seen, ["connecting", "open", "reconnecting", "open", "closed"]);
  await settle();
  await relay.close();
});

Deno.test("sends past the offline buffer's bound throw a RangeError naming the limit", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens: the client keeps retrying
  const ws = connect(`ws://127.0.0.1:${port}/`, { maxBufferedMessages: 2, minDelayMs: 10 });
  ws.send("a");
  ws.send("b");
  assert.throws(() => ws.send("c"), (error: Error) => {
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /maxBufferedMessages 2/);
    return true;
  });
  const small = connect(`ws://127.0.0.1:${port}/`, { maxBufferedBytes: 10, minDelayMs: 10 });
  assert.throws(() => small.send("x".repeat(4)), /maxBufferedBytes 10/);
  ws.close();
  small.close();
  await settle();
});

Deno.test("a close with 1008 or a 44xx code from the server stops reconnecting (status closed); 1012 reconnects", async () => {
  await using server = plainServer();
  for (const code of [1008, 4403]) {
    const ws = connect(`ws://127.0.0.1:${server.port}/close/${code}`, { minDelayMs: 10 });
    const closes: number[] = [];
    ws.addEventListener("close", (event) => closes.push(event.code));
    await until(() => ws.status === "closed", `closed after ${code}`);
    await settle();
    assert.deepEqual(closes, [code]);
  }
  assert.deepEqual(server.accepted, ["/close/1008", "/close/4403"]);
  const restarting = connect(`ws://127.0.0.1:${server.port}/close/1012`, {
    minDelayMs: 10,
    maxDelayMs: 10,
  });
  await until(() => server.accepted.length >= 4, "a reconnect after 1012");
  restarting.close();
  await settle();
});

Deno.test("maxRetries bounds the attempts in a row; then the status is closed", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const ws = connect(`ws://127.0.0.1:${port}/`, { maxRetries: 2, minDelayMs: 5, maxDelayMs: 5 });
  const seen = statuses(ws);
  await until(() => ws.status === "closed", "gave up");
  assert.deepEqual(seen, ["connecting", "reconnecting", "closed"]);
});

Deno.test("an online event while waiting to reconnect connects at once instead of waiting out the backoff", async () => {
  await using server = plainServer();
  const relay = new TcpRelay(server.port);
  const ws = connect(`ws://127.0.0.1:${relay.port}/echo`, { minDelayMs: 60_000 });
  await until(() => ws.status === "open", "open");
  await relay.cut();
  await until(() => ws.status === "reconnecting", "reconnecting");
  relay.restore();
  globalThis.dispatchEvent(new Event("online"));
  await until(() => ws.status === "open", "open again without the 60 s wait");
  ws.close();
  await settle();
  await relay.close();
});

Deno.test("against a server that fails handshakes offering subprotocols (as a browser does), the client falls back at once to a connection without the session offer", async () => {
  const offers: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const offer = request.headers.get("sec-websocket-protocol");
    offers.push(offer);
    if (offer !== null) return new Response("no subprotocols here", { status: 400 });
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
  const ws = connect(`ws://127.0.0.1:${server.addr.port}/`, { minDelayMs: 60_000 });
  const opens: unknown[] = [];
  const got: string[] = [];
  ws.onopen = (event) => opens.push(event.code);
  ws.onmessage = (event) => got.push(String(event.data));
  ws.send("hi");
  await until(() => got.length === 1, "the echo, without waiting out the backoff");
  assert.deepEqual(offers, ["dormant.session.v1", null]);
  assert.deepEqual(opens, [undefined]);
  assert.equal(ws.session, null);
  ws.close();
  await settle();
  await server.shutdown();
});

Deno.test("the client module imports nothing, so a page can load the file as it is", async () => {
  const source = await Deno.readTextFile(new URL("../../src/client/connect.js", import.meta.url));
  assert.doesNotMatch(source, /^\s*import\s/m);
  assert.doesNotMatch(source, /\bDeno\./);
  assert.match(source, /^\/\/ @ts-self-types="\.\/connect\.d\.ts"/);
});
