import assert from "node:assert/strict";
import { RemoteSocket, type RemoteSocketLink } from "../../src/cluster/remote_socket.ts";

function linked() {
  const sent: Array<string | ArrayBuffer> = [];
  const closed: Array<[number, string]> = [];
  const link: RemoteSocketLink = {
    send: (_socket, payload) => void sent.push(payload),
    close: (_socket, code, reason) => void closed.push([code, reason]),
  };
  return { sent, closed, socket: new RemoteSocket(link, "b", "7", "room", "ab") };
}

Deno.test("a remote socket sends only while open, copying bytes at the call", () => {
  const { sent, socket } = linked();
  socket.send("early");
  assert.equal(sent.length, 0);
  socket.open();
  assert.equal(socket.readyState, 1);
  const bytes = new Uint8Array([1, 2, 3]);
  socket.send(bytes.subarray(1));
  bytes[1] = 9;
  socket.send("text");
  assert.deepEqual([...new Uint8Array(sent[0] as ArrayBuffer)], [2, 3]);
  assert.equal(sent[1], "text");
  assert.equal(socket.bufferedAmount, 0);
});

Deno.test("a remote socket's events reach its listeners; close is delivered once", () => {
  const { closed, socket } = linked();
  const seen: string[] = [];
  const listener = {
    handleEvent: (event: Event) => {
      const e = event as unknown as Record<string, unknown>;
      seen.push(`${e.type}:${e.data ?? e.message ?? e.code ?? ""}`);
    },
  };
  for (const type of ["open", "message", "error", "close"]) socket.addEventListener(type, listener);
  socket.open();
  socket.message("hi");
  socket.error("bad");
  socket.close(4000, "bye");
  socket.close(4001, "again");
  assert.deepEqual(closed, [[4000, "bye"]]);
  socket.closed(4000, "bye", true);
  socket.closed(1006, "", false);
  socket.message("late");
  assert.deepEqual(seen, ["open:", "message:hi", "error:bad", "close:4000"]);
  socket.removeEventListener("message", listener);
  assert.equal(socket.readyState, 3);
});
