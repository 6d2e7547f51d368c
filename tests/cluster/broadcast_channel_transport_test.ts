import assert from "node:assert/strict";
import { BroadcastChannelTransport } from "../../src/cluster/broadcast_channel_transport.ts";
import { Inbox, transportConformance } from "./_transport_conformance.ts";
import { NodeProcess } from "./_node_process.ts";
import { machineId } from "../../src/kv/process_info.ts";

let run = 0;
transportConformance("BroadcastChannelTransport", () => {
  // A cluster name per test, so a test never hears the previous one.
  const cluster = `t${run++}`;
  return Promise.resolve({
    create: (onError) => new BroadcastChannelTransport({ cluster, onError }),
    maxMessage: 1024 * 1024,
    [Symbol.asyncDispose]: () => Promise.resolve(),
  });
});

Deno.test("BroadcastChannelTransport: clusters with different names do not hear each other", async () => {
  const a = new BroadcastChannelTransport({ cluster: "left" });
  const b = new BroadcastChannelTransport({ cluster: "right" });
  const c = new BroadcastChannelTransport({ cluster: "right" });
  const inB = new Inbox();
  await a.listen("a", () => {});
  await b.listen("b", inB.onMessage);
  await c.listen("c", () => {});
  a.send("b", new TextEncoder().encode("other cluster"));
  c.send("b", new TextEncoder().encode("same cluster"));
  await inB.until(1);
  c.send("b", new TextEncoder().encode("again"));
  await inB.until(2);
  assert.deepEqual(inB.texts(), ["same cluster", "again"]);
  for (const t of [a, b, c]) await t.close();
});

Deno.test("BroadcastChannelTransport: a cluster name must be a non-empty string", () => {
  assert.throws(() => new BroadcastChannelTransport({ cluster: "" }), TypeError);
});

Deno.test("BroadcastChannelTransport: the two isolates of `deno serve --parallel` exchange messages in order", async () => {
  const count = 300;
  await using proc = NodeProcess.parallel(2, { TRANSPORT: "bc", COUNT: String(count) });
  await proc.until(() => proc.received.length === 2 * (count + 1));
  const [x, y] = proc.ready;
  assert.ok(x !== undefined && y !== undefined && x !== y);
  const expected = Array.from({ length: count }, (_, i) => i);
  assert.deepEqual(proc.numbered(x, y), expected);
  assert.deepEqual(proc.numbered(y, x), expected);
  for (const m of proc.received) assert.notEqual(m.from, m.to);
});

Deno.test("BroadcastChannelTransport: a batch the runtime dropped is reported to onError, later ones still arrive", async () => {
  const errors: unknown[] = [];
  const b = new BroadcastChannelTransport({ cluster: "gaps", onError: (e) => errors.push(e) });
  const inB = new Inbox();
  await b.listen("b", inB.onMessage);
  // Batches as a sender posts them, with batch 1 missing.
  const raw = new BroadcastChannel("dormant:gaps:b");
  raw.postMessage(["a", 0, [new TextEncoder().encode("first")]]);
  raw.postMessage(["a", 2, [new TextEncoder().encode("third")]]);
  await inB.until(2);
  assert.deepEqual(inB.texts(), ["first", "third"]);
  assert.equal(errors.length, 1);
  assert.match((errors[0] as Error).message, /lost 1 batch.*node a/);
  raw.close();
  await b.close();
});

Deno.test("BroadcastChannelTransport reaches only nodes of this process, when the machine is known", () => {
  const t = new BroadcastChannelTransport();
  const machine = machineId();
  assert.equal(t.reaches({ pid: Deno.pid, machine }), true);
  assert.equal(t.reaches({ pid: Deno.pid + 1, machine: null }), true, "unknown: cannot tell");
  if (machine !== null) {
    assert.equal(t.reaches({ pid: Deno.pid + 1, machine }), false, "another process");
    assert.equal(t.reaches({ pid: Deno.pid, machine: `${machine}x` }), false, "another machine");
  }
});
