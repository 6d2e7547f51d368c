import assert from "node:assert/strict";
import { Batches, samePayload, sizeOf } from "../../src/cluster/batches.ts";
import { decodeMessage, OP_SEND, OPS } from "../../src/cluster/wire.ts";

Deno.test("sends within one microtask turn go as one message per node, a repeated payload once", async () => {
  const sent: Array<[string, Uint8Array]> = [];
  const batches = new Batches({
    send: (to, bytes) => void sent.push([to, bytes]),
    watch() {},
    unwatch() {},
  });
  batches.send("b", "1", "hello");
  batches.send("b", "2", "hello");
  batches.send("c", "3", "hello");
  batches.send("b", "4", "other");
  assert.equal(sent.length, 0);
  await Promise.resolve();
  assert.deepEqual(sent.map(([to]) => to), ["b", "c"]);
  const b = decodeMessage(sent[0]![1]);
  assert.deepEqual(b.kind === OPS && b.ops, [
    { op: OP_SEND, ids: ["1", "2"], payload: "hello" },
    { op: OP_SEND, ids: ["4"], payload: "other" },
  ]);
});

Deno.test("peers are watched while they share a socket", () => {
  const calls: string[] = [];
  const batches = new Batches({
    send() {},
    watch: (n) => void calls.push(`watch ${n}`),
    unwatch: (n) => void calls.push(`unwatch ${n}`),
  });
  batches.acquire("b");
  batches.acquire("b");
  batches.release("b");
  batches.release("b");
  assert.deepEqual(calls, ["watch b", "unwatch b"]);
});

Deno.test("payloads compare by value; sizes are upper bounds", () => {
  assert.ok(samePayload(new Uint8Array([1, 2]).buffer, new Uint8Array([1, 2]).buffer));
  assert.ok(!samePayload(new Uint8Array([1, 2]).buffer, new Uint8Array([1, 3]).buffer));
  assert.ok(!samePayload("a", new Uint8Array([97]).buffer));
  assert.equal(sizeOf("ab"), 6);
  assert.equal(sizeOf(new ArrayBuffer(5)), 5);
});
