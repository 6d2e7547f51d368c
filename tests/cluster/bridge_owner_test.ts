import assert from "node:assert/strict";
import { BridgeOwner, type HolderLink } from "../../src/cluster/bridge_owner.ts";
import { Connection } from "../../src/sockets/connection.ts";

Deno.test("a bridge owner forwards its sockets' events to the bridge and has no output gate", () => {
  const calls: string[] = [];
  const link: HolderLink = {
    frame: (_o, _ws, data) => void calls.push(`frame:${data}`),
    closed: (_o, _ws, code, _r, clean) => void calls.push(`closed:${code}:${clean}`),
    error: (_o, _ws, message) => void calls.push(`error:${message}`),
    gone: () => void calls.push("gone"),
    timestamp: () => void calls.push("timestamp"),
  };
  let released = 0;
  const owner = new BridgeOwner(
    link,
    {
      maxMessageBytes: 10,
      maxAttachmentBytes: 20,
      maxBufferedBytes: 30,
      backpressure: "close",
      now: () => 5,
      socketGone: () => void released++,
    },
    "room",
    "ab",
    "a",
  );
  const ws = new Connection();
  assert.equal(owner.outputGate, null);
  assert.equal(owner.now(), 5);
  assert.equal(owner.maxBufferedBytes, 30);
  owner.onMessage(ws, "hi");
  owner.onError(ws, new Error("bad"));
  owner.onClose(ws, 1000, "", true);
  owner.onDirty(ws, 2);
  owner.onLeave(ws);
  owner.onGone(ws);
  assert.deepEqual(calls, ["frame:hi", "error:bad", "closed:1000:true", "timestamp", "gone"]);
  assert.equal(released, 1);
});
