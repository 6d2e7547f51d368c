import assert from "node:assert/strict";
import { RedisTransport, redisTransport } from "../../src/cluster/redis_transport.ts";
import type { TransportStatus } from "../../src/cluster/transport.ts";
import { RedisServer } from "../_redis.ts";
import { Inbox, transportConformance } from "./_transport_conformance.ts";
import { NodeProcess } from "./_node_process.ts";

transportConformance("RedisTransport", async () => {
  const server = await RedisServer.start();
  return {
    create: (onError) => new RedisTransport({ url: server.url, onError }),
    maxMessage: 1024 * 1024,
    [Symbol.asyncDispose]: () => server.stop(),
  };
}, true);

/** Resolves when `transport` reports `status`. */
function statusOf(transport: RedisTransport, status: TransportStatus): Promise<void> {
  if (transport.status === status) return Promise.resolve();
  const { promise, resolve } = Promise.withResolvers<void>();
  transport.onStatus((s) => s === status && resolve());
  return promise;
}

Deno.test("RedisTransport: a Redis restart turns the status down then up, and messages flow again without replays", async () => {
  await using server = await RedisServer.start();
  const a = redisTransport(server.url);
  const b = redisTransport(server.url);
  const seenA: TransportStatus[] = [];
  a.onStatus((s) => seenA.push(s));
  const inB = new Inbox();
  await a.listen("a", () => {});
  await b.listen("b", inB.onMessage);
  const text = (s: string) => new TextEncoder().encode(s);
  a.send("b", text("before"));
  await inB.until(1);

  await server.stop();
  await Promise.all([statusOf(a, "down"), statusOf(b, "down")]);
  a.send("b", text("while down")); // dropped, no error, never replayed
  await server.restart();
  await Promise.all([statusOf(a, "up"), statusOf(b, "up")]);

  a.send("b", text("after"));
  await inB.until(2);
  b.send("b", text("marker")); // FIFO per pair: anything queued from before would show up first
  a.send("b", text("last"));
  await inB.until(4);
  assert.deepEqual(inB.texts().filter((t) => t !== "marker"), ["before", "after", "last"]);
  assert.deepEqual(seenA, ["up", "down", "up"]);
  await a.close();
  await b.close();
});

Deno.test("RedisTransport: listen rejects when Redis cannot be reached, and releases its connections", async () => {
  const server = await RedisServer.start();
  await server.stop(); // a port nobody listens on now
  const t = new RedisTransport({ url: server.url });
  await assert.rejects(() => t.listen("a", () => {}));
  assert.equal(t.status, "down");
  await t.close();
});

Deno.test("RedisTransport: bad options throw a TypeError or RangeError", () => {
  assert.throws(() => new RedisTransport({ url: "http://x" }), TypeError);
  assert.throws(() => new RedisTransport({ cluster: "" }), TypeError);
  assert.throws(() => new RedisTransport({ maxReconnectDelayMs: 0 }), RangeError);
});

Deno.test("RedisTransport: two separate processes exchange messages through one Redis", async () => {
  await using server = await RedisServer.start();
  const env = { TRANSPORT: "redis", REDIS_URL: server.url };
  await using p1 = NodeProcess.single({ ...env, NODE: "p1", PEERS: "p2" });
  await using p2 = NodeProcess.single({ ...env, NODE: "p2", PEERS: "p1" });
  await p1.until(() => p1.received.length > 0);
  await p2.until(() => p2.received.length > 0);
  assert.deepEqual(p1.received[0]!.text, "hello from p2");
  assert.deepEqual(p2.received[0]!.text, "hello from p1");
});
