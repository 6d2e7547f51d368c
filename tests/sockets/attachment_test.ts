// Attachments and stored values hold plain data: sockets, pair ends, the
// framework's own objects and web platform objects are a short DataCloneError
// naming the type, never a silent `{}` (and never the source of a class).

import assert from "node:assert/strict";
import { serialize, Serializer } from "node:v8";
import {
  DurableObject,
  type DurableObjectState,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { serveApp } from "../_helpers.ts";

const ROUTES = [{ pattern: "/room/:name", object: "ROOM" }];

/** What `serializeAttachment` and `storage.put` did with each value, by label. */
type Outcome = { threw: string; message: string } | { stored: unknown };

function attempt(fn: () => unknown): Outcome {
  try {
    return { stored: fn() };
  } catch (error) {
    return { threw: (error as Error).name, message: (error as Error).message };
  }
}

async function attemptAsync(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { stored: await fn() };
  } catch (error) {
    return { threw: (error as Error).name, message: (error as Error).message };
  }
}

function assertRefused(outcome: Outcome | undefined, type: string, label: string): void {
  assert.ok(outcome && "threw" in outcome, `${label}: ${JSON.stringify(outcome)}`);
  assert.equal(outcome.threw, "DataCloneError", label);
  assert.ok(
    outcome.message.startsWith(`Could not serialize object of type "${type}".`),
    `${label}: ${outcome.message}`,
  );
  assert.ok(outcome.message.length < 200, `${label}: a short message, not a class source`);
}

/** Each value under test, made inside the object (where ctx, env and sockets exist). */
function values(
  self: DurableObject,
  ctx: DurableObjectState,
  socket: WebSocket,
): [string, string, unknown][] {
  const pair = new WebSocketPair();
  return [
    ["the accepted socket", "WebSocket", socket],
    ["the socket inside an object", "WebSocket", { who: socket }],
    ["a never-accepted server end", "WebSocket", pair[1]],
    ["a client end", "WebSocket", pair[0]],
    ["a WebSocketPair", "WebSocketPair", pair],
    ["ctx", "DurableObjectState", ctx],
    ["ctx.id", "DurableObjectId", ctx.id],
    ["the object itself", "DurableObjectState", self],
    ["a Request", "Request", new Request("https://example.com/")],
    ["a Response", "Response", new Response("x")],
    ["Headers", "Headers", new Headers({ a: "b" })],
    ["a URL", "URL", new URL("https://example.com/")],
  ];
}

Deno.test("serializeAttachment and storage.put of a socket, a pair end, ctx or a web platform object throw a short DataCloneError naming the type", async () => {
  const outcomes = new Map<string, { attachment: Outcome; storage: Outcome }>();
  let expected: [string, string][] = [];
  class Room extends DurableObject {
    fetch(): Response {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1]);
      return webSocketResponse(pair[0]);
    }
    async webSocketMessage(ws: WebSocket): Promise<void> {
      const list = values(this, this.ctx, ws);
      expected = list.map(([label, type]) => [label, type]);
      for (const [label, , value] of list) {
        outcomes.set(label, {
          attachment: attempt(() => ws.serializeAttachment(value)),
          storage: await attemptAsync(() => this.ctx.storage.put("k", value)),
        });
      }
      ws.send("done");
    }
  }
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  const client = await s.connect("/room/a");
  client.socket.send("go");
  assert.equal(await client.next(), "done");
  assert.equal(expected.length, outcomes.size);
  for (const [label, type] of expected) {
    const outcome = outcomes.get(label)!;
    assertRefused(outcome.attachment, type, `serializeAttachment(${label})`);
    assertRefused(outcome.storage, type, `storage.put(${label})`);
  }
  assert.deepEqual(s.exceptions, []);
});

Deno.test("a Uint8Array attachment of 16,378 bytes fits and 16,379 throw: typed arrays are counted in Node's host-object form, 5 bytes shorter than V8's own (Cloudflare fits 16,373)", async () => {
  const errors: unknown[] = [];
  class Room extends DurableObject {
    fetch(): Response {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1]);
      return webSocketResponse(pair[0]);
    }
    webSocketMessage(ws: WebSocket): void {
      ws.serializeAttachment(new Uint8Array(16_378).fill(7));
      const kept = ws.deserializeAttachment() as Uint8Array;
      errors.push(attempt(() => ws.serializeAttachment(new Uint8Array(16_379))));
      ws.send(`${kept.constructor.name} ${kept.byteLength} ${kept[16_377]}`);
    }
  }
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  const client = await s.connect("/room/a");
  client.socket.send("go");
  assert.equal(await client.next(), "Uint8Array 16378 7");
  const [over] = errors as [{ threw: string; message: string }];
  assert.equal(over.threw, "RangeError");
  assert.match(over.message, /exceeds 16384 bytes: current size is 16385/);
  // V8's own form (what workerd counts): the buffer, then the view: 16,373 bytes make 16,384.
  const v8Own = (bytes: number) => {
    const serializer = new Serializer();
    serializer.writeHeader();
    serializer.writeValue(new Uint8Array(bytes));
    return serializer.releaseBuffer().byteLength;
  };
  assert.equal(v8Own(16_373), 16_384);
  assert.equal(serialize(new Uint8Array(16_378)).byteLength, 16_384);
});
