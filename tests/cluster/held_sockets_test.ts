import assert from "node:assert/strict";
import { Batches } from "../../src/cluster/batches.ts";
import type { BridgeOwner } from "../../src/cluster/bridge_owner.ts";
import { HeldSockets, RESEND_BUFFER_BYTES } from "../../src/cluster/held_sockets.ts";
import {
  decodeMessage,
  type Op,
  OP_ACK,
  OP_CLOSED,
  OP_FRAME,
  OP_SEND,
  OPS,
} from "../../src/cluster/wire.ts";
import { Connection } from "../../src/sockets/connection.ts";
import { OWNER, SID } from "../../src/sockets/connection_internals.ts";
import { ManualClock } from "../../src/testing/mod.ts";

function held() {
  const sent: Array<[string, Op[]]> = [];
  const out = new Batches({
    send: (to, bytes) => {
      const m = decodeMessage(bytes);
      if (m.kind === OPS) sent.push([to, m.ops]);
    },
    watch() {},
    unwatch() {},
  });
  const limits = {
    maxMessageBytes: 1 << 25,
    maxAttachmentBytes: 1 << 14,
    maxBufferedBytes: 1 << 24,
    backpressure: "close" as const,
    now: () => 0,
    socketGone() {},
  };
  const sockets = new HeldSockets(out, new ManualClock(), limits, 1_000, null);
  const conn = new Connection();
  sockets.expect(conn, "room-1");
  sockets.hold(conn, "a", { storage: "room", hex: "ab" }, null, false);
  return { sent, out, sockets, conn, owner: conn[OWNER] as BridgeOwner };
}

Deno.test("frames go to the owner numbered per socket; acked ones leave the resend buffer", () => {
  const { sent, out, sockets, conn, owner } = held();
  const big = "x".repeat(RESEND_BUFFER_BYTES / 6 + 1); // 3 bytes per unit: just over half
  owner.onMessage(conn, big);
  out.flush();
  assert.deepEqual(sent[0]![1].map((op) => op.op === OP_FRAME && op.seq), [1]);
  sockets.apply("a", { op: OP_ACK, sid: conn[SID], seq: 1 });
  owner.onMessage(conn, big);
  assert.equal(conn.readyState, 1, "the acked frame no longer counts");
  owner.onMessage(conn, big);
  assert.equal(conn.readyState, 2, "over the resend buffer: closed with 1013");
});

Deno.test("sends from a node that does not own the socket's object are refused", () => {
  const { sent, out, sockets, conn } = held();
  sockets.apply("z", { op: OP_SEND, ids: [conn[SID]], payload: "intruder" });
  out.flush();
  assert.deepEqual(sent, [["z", [{
    op: OP_CLOSED,
    sid: conn[SID],
    code: 1006,
    reason: "",
    clean: false,
  }]]]);
  assert.equal(conn.bufferedAmount, 0, "nothing was queued for the client");
  sockets.apply("a", { op: OP_SEND, ids: [conn[SID]], payload: "owner" });
  assert.ok(conn.bufferedAmount > 0, "the owner's send is queued until the socket opens");
});
