import assert from "node:assert/strict";
import {
  BEAT,
  decodeMessage,
  encodeBeat,
  encodeOps,
  encodeReply,
  encodeRequest,
  NOT_OWNER,
  type Op,
  OP_ACK,
  OP_AUTO,
  OP_CLOSE,
  OP_CLOSED,
  OP_ERROR,
  OP_FRAME,
  OP_SEND,
  OP_TIMESTAMP,
  OPS,
  REPLY,
  REQUEST,
} from "../../src/cluster/wire.ts";

Deno.test("every socket op survives a round trip, in order", () => {
  const ops: Op[] = [
    { op: OP_SEND, ids: ["1", "2", "z"], payload: "héllo ✓" },
    { op: OP_SEND, ids: ["3"], payload: new Uint8Array([0, 1, 255]).buffer },
    { op: OP_CLOSE, sid: "1", code: 4000, reason: "bye" },
    { op: OP_AUTO, storage: "room", hex: "ab", auto: { request: "ping", response: "pong" } },
    { op: OP_AUTO, storage: "room", hex: "ab", auto: null },
    { op: OP_ACK, sid: "2", seq: 4_000_000_000 },
    { op: OP_FRAME, sid: "2", seq: 7, payload: "" },
    { op: OP_CLOSED, sid: "2", code: 1006, reason: "", clean: false },
    { op: OP_ERROR, sid: "3", message: "bad frame" },
    { op: OP_TIMESTAMP, sid: "3", at: 1_700_000_000_123 },
  ];
  const message = decodeMessage(encodeOps(ops));
  assert.equal(message.kind, OPS);
  assert.deepEqual(message.kind === OPS && message.ops, ops);
});

Deno.test("a binary payload decodes into a private ArrayBuffer", () => {
  const bytes = encodeOps([{
    op: OP_FRAME,
    sid: "a",
    seq: 1,
    payload: new Uint8Array([9]).buffer,
  }]);
  const message = decodeMessage(bytes);
  const payload = message.kind === OPS && message.ops[0]!.op === OP_FRAME
    ? message.ops[0]!.payload
    : null;
  assert.ok(payload instanceof ArrayBuffer);
  bytes.fill(0);
  assert.deepEqual([...new Uint8Array(payload)], [9]);
});

Deno.test("requests and replies carry structured-cloned bodies and their correlation id", () => {
  const body = { k: "call", a: [new Map([[1, new Date(5)]]), 2n] };
  assert.deepEqual(decodeMessage(encodeRequest(42, body)), { kind: REQUEST, id: 42, body });
  assert.deepEqual(decodeMessage(encodeReply(42, NOT_OWNER, null)), {
    kind: REPLY,
    id: 42,
    status: NOT_OWNER,
    body: null,
  });
  assert.deepEqual(decodeMessage(encodeBeat()), { kind: BEAT });
});

Deno.test("bytes that are not a message are refused with a RangeError", () => {
  assert.throws(() => decodeMessage(new Uint8Array([7])), RangeError);
  assert.throws(() => decodeMessage(new Uint8Array([OPS, 99])), /socket op 99/);
  const truncated = encodeOps([{ op: OP_FRAME, sid: "a", seq: 1, payload: "hello" }]);
  assert.throws(() => decodeMessage(truncated.subarray(0, truncated.length - 2)), RangeError);
});
