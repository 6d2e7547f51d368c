import assert from "node:assert/strict";
import { Outbox, sizeBound } from "../../src/sockets/outbox.ts";

/** A stand-in for Deno's socket that records what it is handed. */
function recorder(): { socket: globalThis.WebSocket; log: unknown[] } {
  const log: unknown[] = [];
  const socket = {
    send: (message: unknown) => log.push(["send", message]),
    close: (code?: number, reason?: string) => log.push(["close", code, reason]),
  } as unknown as globalThis.WebSocket;
  return { socket, log };
}

Deno.test("an outbox hands its messages and then its close to the socket, in order, counting the UTF-8 bytes of the messages", () => {
  const outbox = new Outbox();
  const bytes = new Uint8Array(5);
  outbox.push("héllo"); // 6 UTF-8 bytes
  outbox.push(bytes);
  outbox.close(1000, "bye");
  assert.equal(outbox.bytes, 11);
  const { socket, log } = recorder();
  outbox.writeTo(socket);
  assert.deepEqual(log, [["send", "héllo"], ["send", bytes], ["close", 1000, "bye"]]);
});

Deno.test("an outbox made for a close holds only that close", () => {
  const outbox = Outbox.closing(1013, "Send buffer full");
  assert.equal(outbox.bytes, 0);
  const { socket, log } = recorder();
  outbox.writeTo(socket);
  assert.deepEqual(log, [["close", 1013, "Send buffer full"]]);
});

Deno.test("the send budget charges at most 3 bytes per UTF-16 unit of text and the byte length of binary", () => {
  assert.equal(sizeBound("abc"), 9);
  assert.equal(sizeBound(new Uint8Array(7)), 7);
  assert.equal(sizeBound(new ArrayBuffer(4)), 4);
});
