import assert from "node:assert/strict";
import { DurableObject, onConnect, onMessage, type WebSocket } from "../../mod.ts";
import { testClient } from "../../src/testing/test_client.ts";
import { serveApp, until } from "../_helpers.ts";

/** Answers "burst" with text, binary and JSON, and "close" by closing with 4000. */
class Talker extends DurableObject {
  static readonly storageName = "talker";

  @onConnect
  connect(_ws: WebSocket, request: Request): Response | undefined {
    const refused = new URL(request.url).searchParams.has("refuse");
    return refused ? new Response("go away", { status: 403 }) : undefined;
  }

  @onMessage
  message(ws: WebSocket, message: string | ArrayBuffer): void {
    if (message === "close") return ws.close(4000, "done");
    ws.send("text");
    ws.send(new Uint8Array([1, 2, 3]));
    ws.send(JSON.stringify({ n: 1 }));
  }
}

function serve() {
  return serveApp({
    objects: { TALKER: Talker },
    routes: [{ pattern: "/t/:name", object: "TALKER" }],
  });
}

Deno.test("testClient queues messages in arrival order: text as strings, binary as ArrayBuffer, nextJson parsed", async () => {
  await using s = await serve();
  const client = await testClient(`ws://127.0.0.1:${s.port}/t/a`);
  try {
    assert.equal(client.socket.readyState, WebSocket.OPEN);
    client.socket.send("burst");
    await until(() => client.buffered === 3, "three messages");
    assert.equal(await client.next(), "text");
    assert.equal(client.buffered, 2);
    const binary = await client.next();
    assert.ok(binary instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(binary)], [1, 2, 3]);
    assert.deepEqual(await client.nextJson(), { n: 1 });
    assert.equal(client.buffered, 0);
  } finally {
    await client.close();
  }
});

Deno.test("testClient's next() waiting for a message rejects when the server closes, and closed gives the close event", async () => {
  await using s = await serve();
  const client = await testClient(`ws://127.0.0.1:${s.port}/t/a`);
  const waiting = client.next();
  client.socket.send("close");
  await assert.rejects(waiting, { message: "socket closed (4000) while waiting for a message" });
  const event = await client.closed;
  assert.deepEqual([event.code, event.reason], [4000, "done"]);
  await assert.rejects(client.next(), { message: "socket closed (4000)" });
  assert.equal(await client.close(), event, "close() after the end resolves with the same event");
});

Deno.test("testClient's next() rejects after its timeout when no message comes, and the socket stays usable", async () => {
  await using s = await serve();
  const client = await testClient(`ws://127.0.0.1:${s.port}/t/a`);
  try {
    await assert.rejects(client.next(1), { message: "no message within 1 ms" });
    client.socket.send("burst");
    assert.equal(await client.next(), "text");
  } finally {
    await client.close();
  }
});

Deno.test("testClient rejects when the server refuses the upgrade", async () => {
  await using s = await serve();
  const url = `ws://127.0.0.1:${s.port}/t/a?refuse`;
  await assert.rejects(testClient(url), { message: `Cannot connect to ${url}` });
});
