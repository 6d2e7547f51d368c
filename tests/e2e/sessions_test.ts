import assert from "node:assert/strict";
import { durableObject, type DurableObjectState, onMessage, type WebSocket } from "../../mod.ts";
import { connect, type ReconnectingWebSocket } from "../../src/client/connect.js";
import { serveApp, until } from "../_helpers.ts";
import { TcpRelay } from "../_tcp_relay.ts";

@durableObject({ name: "sroom", resumable: true })
class Room {
  constructor(readonly ctx: DurableObjectState) {}

  @onMessage
  message(_ws: WebSocket, message: string | ArrayBuffer): void {
    for (const ws of this.ctx.getWebSockets()) ws.send(message);
  }
}

/** A client that records what it receives and its open codes. */
function recorder(url: string) {
  const ws = connect(url, { minDelayMs: 20, maxDelayMs: 100 });
  const received: string[] = [];
  const opens: (string | undefined)[] = [];
  ws.addEventListener("message", (event) => received.push(String(event.data)));
  ws.addEventListener("open", (event) => opens.push(event.code));
  return { ws, received, opens };
}

async function closeClient(ws: ReconnectingWebSocket): Promise<void> {
  ws.close();
  await new Promise((resolve) => setTimeout(resolve, 20));
}

Deno.test("a client behind a relay that is cut while another sends 20 messages gets all 20 after it comes back, once each, in order", async () => {
  await using served = await serveApp({
    objects: { ROOM: Room },
    routes: [{ pattern: "/rooms/:name", object: "ROOM" }],
  });
  const relay = new TcpRelay(served.port);
  const ann = recorder(`ws://127.0.0.1:${relay.port}/rooms/lobby`);
  const ben = recorder(`ws://127.0.0.1:${served.port}/rooms/lobby`);
  try {
    await until(() => ann.ws.status === "open" && ben.ws.status === "open", "both open");
    assert.deepEqual([ann.opens, ben.opens], [["new"], ["new"]]);
    ben.ws.send("hello");
    await until(() => ann.received.length === 1 && ben.received.length === 1, "hello");
    await relay.cut();
    await until(() => served.app.stats().connections === 1, "ann's connection to drop");
    const sent = Array.from({ length: 20 }, (_, i) => `m${i + 1}`);
    for (const text of sent) ben.ws.send(text);
    await until(() => ben.received.length === 21, "ben's 20 messages");
    assert.equal(ann.received.length, 1);
    relay.restore();
    await until(() => ann.received.length >= 21 && ann.ws.status === "open", "ann's replay");
    await new Promise((resolve) => setTimeout(resolve, 50)); // nothing more (no duplicate) arrives
    assert.deepEqual(ann.received, ["hello", ...sent]);
    assert.deepEqual(ann.opens, ["new", "resumed"]);
    ben.ws.send("live");
    await until(() => ann.received.length === 22, "live traffic after the replay");
    assert.equal(ann.received[21], "live");
  } finally {
    await closeClient(ann.ws);
    await closeClient(ben.ws);
    await relay.close();
  }
});
