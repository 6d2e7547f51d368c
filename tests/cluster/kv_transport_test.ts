import assert from "node:assert/strict";
import { KV_TRANSPORT_MAX_MESSAGE, KvTransport } from "../../src/cluster/kv_transport.ts";
import { Inbox, transportConformance } from "./_transport_conformance.ts";
import { NodeProcess } from "./_node_process.ts";

transportConformance("KvTransport (one Kv handle)", async () => {
  const kv = await Deno.openKv(":memory:");
  return {
    create: (onError) => new KvTransport(kv, { onError }),
    maxMessage: KV_TRANSPORT_MAX_MESSAGE,
    [Symbol.asyncDispose]: () => Promise.resolve(kv.close()),
  };
});

transportConformance("KvTransport (a Kv handle per node, one file)", async () => {
  const dir = await Deno.makeTempDir();
  // Up to four nodes per test, each on its own handle to the same SQLite file.
  const handles = await Promise.all([1, 2, 3, 4].map(() => Deno.openKv(`${dir}/kv.sqlite3`)));
  let next = 0;
  return {
    create: (onError) => new KvTransport(handles[next++ % handles.length]!, { onError }),
    maxMessage: KV_TRANSPORT_MAX_MESSAGE,
    async [Symbol.asyncDispose]() {
      for (const kv of handles) kv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});

Deno.test("KvTransport: a message over 512 KiB throws a RangeError naming the limit", async () => {
  await using kv = await Deno.openKv(":memory:");
  const t = new KvTransport(kv);
  await t.listen("a", () => {});
  assert.throws(
    () => t.send("b", new Uint8Array(KV_TRANSPORT_MAX_MESSAGE + 1)),
    (e: unknown) => e instanceof RangeError && e.message.includes(String(KV_TRANSPORT_MAX_MESSAGE)),
  );
  await t.close();
});

Deno.test("KvTransport: bad options throw a TypeError or RangeError", async () => {
  await using kv = await Deno.openKv(":memory:");
  assert.throws(() => new KvTransport({} as Deno.Kv), TypeError);
  assert.throws(() => new KvTransport(kv, { pollMs: 0 }), RangeError);
  assert.throws(() => new KvTransport(kv, { ttlMs: 10 }), RangeError);
});

Deno.test("KvTransport: the isolates of `deno serve --parallel` on one KV file are woken by watch", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The poll backstop is an hour: only the doorbell's watch can deliver in time.
    await using proc = NodeProcess.parallel(2, {
      TRANSPORT: "kv",
      KV_PATH: `${dir}/kv.sqlite3`,
      POLL_MS: "3600000",
      COUNT: "100",
    });
    await proc.until(() => proc.received.length === 2 * 101);
    const [x, y] = proc.ready;
    const expected = Array.from({ length: 100 }, (_, i) => i);
    assert.deepEqual(proc.numbered(x!, y!), expected);
    assert.deepEqual(proc.numbered(y!, x!), expected);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvTransport: two processes on one KV file exchange messages through the poll backstop", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = { TRANSPORT: "kv", KV_PATH: `${dir}/kv.sqlite3`, POLL_MS: "100" };
    await using p1 = NodeProcess.single({ ...env, NODE: "p1", PEERS: "p2" });
    await using p2 = NodeProcess.single({ ...env, NODE: "p2", PEERS: "p1" });
    await p1.until(() => p1.received.length > 0);
    await p2.until(() => p2.received.length > 0);
    assert.equal(p1.received[0]!.text, "hello from p2");
    assert.equal(p2.received[0]!.text, "hello from p1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvTransport: a backlog larger than one inbox read arrives complete and in order, chunked messages included", async () => {
  await using kv = await Deno.openKv(":memory:");
  const a = new KvTransport(kv);
  const b = new KvTransport(kv);
  const inB = new Inbox();
  await a.listen("a", () => {});
  await b.listen("b", inB.onMessage);
  // 1,200 messages, every 100th one two KV values long: more entries than one read of 500.
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 1200; i++) {
    const bytes = new Uint8Array(i % 100 === 0 ? 70_000 : 8).fill(i % 251);
    new DataView(bytes.buffer).setUint32(0, i);
    sent.push(bytes);
    a.send("b", bytes);
  }
  await inB.until(1200);
  assert.equal(inB.got.length, 1200);
  inB.got.forEach((m, i) => assert.deepEqual(m.bytes, sent[i], `message ${i}`));
  await a.close();
  await b.close();
});
