import assert from "node:assert/strict";
import { broadcastPayload, broadcastTag } from "../../src/sockets/broadcast.ts";

Deno.test("broadcastPayload keeps a string as is", () => {
  assert.equal(broadcastPayload("héllo"), "héllo");
});

Deno.test("broadcastPayload copies an ArrayBuffer once: changing the source after the call changes nothing", () => {
  const source = new Uint8Array([1, 2, 3]);
  const payload = broadcastPayload(source.buffer);
  assert.ok(payload instanceof ArrayBuffer);
  assert.notEqual(payload, source.buffer);
  source[0] = 9;
  assert.deepEqual([...new Uint8Array(payload)], [1, 2, 3]);
});

Deno.test("broadcastPayload copies only the viewed bytes of a typed array or DataView", () => {
  const bytes = new Uint8Array([0, 1, 2, 3, 4]);
  assert.deepEqual([...new Uint8Array(broadcastPayload(bytes.subarray(1, 3)) as ArrayBuffer)], [
    1,
    2,
  ]);
  const view = new DataView(bytes.buffer, 3, 2);
  assert.deepEqual([...new Uint8Array(broadcastPayload(view) as ArrayBuffer)], [3, 4]);
  const words = new Uint16Array([0x0102]);
  assert.equal((broadcastPayload(words) as ArrayBuffer).byteLength, 2);
});

Deno.test("broadcastPayload rejects a number, null, an object or a Blob with a TypeError naming the type", () => {
  for (
    const [value, type] of [[1, "number"], [null, "null"], [{}, "object"], [new Blob(), "object"]]
  ) {
    assert.throws(
      () => broadcastPayload(value as never),
      (error: Error) =>
        error instanceof TypeError && error.message.endsWith(`current type is ${type}`),
    );
  }
});

Deno.test("broadcastTag passes undefined and strings, and rejects null or a number with a TypeError", () => {
  assert.equal(broadcastTag(undefined), undefined);
  assert.equal(broadcastTag(""), "");
  assert.equal(broadcastTag("members"), "members");
  assert.throws(() => broadcastTag(null), /tag must be a string: current type is null/);
  assert.throws(() => broadcastTag(1), /current type is number/);
});
