import assert from "node:assert/strict";
import {
  DurableObject,
  durableObject,
  type DurableObjectState,
  onConnect,
  onMessage,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { connect } from "../../src/client/connect.js";
import { UNSUPPORTED_HELLO } from "../../src/sessions/resume_protocol.ts";
import { serveApp, until } from "../_helpers.ts";

const seen: string[] = []; // the server side's ws.protocol, per connection

@durableObject({ name: "uroom" })
class Room {
  constructor(readonly ctx: DurableObjectState) {}

  @onConnect
  connect(ws: WebSocket): void {
    this.ctx.acceptWebSocket(ws);
    ws.send("welcome"); // queued before the upgrade: still after the hello
  }

  @onMessage
  message(ws: WebSocket, message: string | ArrayBuffer): void {
    seen.push(ws.protocol);
    ws.send(message);
  }
}

/** Resumable, but `/plain` takes its socket with accept() and `/app` picks its own subprotocol. */
class CfRoom extends DurableObject {
  static storageName = "cfu";
  static resumable = true;

  fetch(request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    const path = new URL(request.url).pathname;
    if (path.endsWith("/plain")) server!.accept();
    else this.ctx.acceptWebSocket(server!);
    server!.send("welcome");
    return webSocketResponse(client!, path.endsWith("/app") ? { protocol: "chat.v2" } : {});
  }

  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(message);
  }
}

function serve() {
  return serveApp({
    objects: { ROOM: Room, CF: CfRoom },
    routes: [
      { pattern: "/rooms/:name", object: "ROOM" },
      { pattern: "/cf/:name/:kind", object: "CF" },
    ],
  });
}

/** A raw WebSocket: its protocol and the first `count` frames. */
async function rawFrames(url: string, protocols: string[], count: number, send?: string) {
  const ws = new WebSocket(url, protocols);
  const frames: string[] = [];
  ws.onmessage = (event) => frames.push(String(event.data));
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`${url} failed`));
  });
  if (send !== undefined) ws.send(send);
  await until(() => frames.length >= count, `${count} frames from ${url}`);
  const closed = new Promise((resolve) => (ws.onclose = resolve));
  ws.close();
  await closed;
  return { protocol: ws.protocol, frames };
}

Deno.test("a session offer on a route without sessions is answered with the session subprotocol and an unsupported hello, then plain frames", async () => {
  await using served = await serve();
  seen.length = 0;
  const got = await rawFrames(
    served.url("/rooms/a").replace("http", "ws"),
    [
      "dormant.session.v1",
    ],
    3,
    "echo",
  );
  assert.equal(got.protocol, "dormant.session.v1");
  assert.deepEqual(got.frames, [UNSUPPORTED_HELLO, "welcome", "echo"]);
  assert.deepEqual(JSON.parse(got.frames[0]!), { dormant: "session", code: "unsupported" });
  assert.deepEqual(seen, [""], "the object sees no subprotocol");
  const none = await rawFrames(served.url("/rooms/a").replace("http", "ws"), [], 1);
  assert.deepEqual(none, { protocol: "", frames: ["welcome"] });
});

Deno.test("on a resumable class, a socket taken with accept() is answered unsupported; a subprotocol the application picks wins over the session", async () => {
  await using served = await serve();
  const base = served.url("/cf/x").replace("http", "ws");
  const plain = await rawFrames(`${base}/plain`, ["dormant.session.v1"], 2);
  assert.deepEqual(plain, {
    protocol: "dormant.session.v1",
    frames: [UNSUPPORTED_HELLO, "welcome"],
  });
  const app = await rawFrames(`${base}/app`, ["chat.v2", "dormant.session.v1"], 1);
  assert.deepEqual(app, { protocol: "chat.v2", frames: ["welcome"] });
  const session = await rawFrames(`${base}/hib`, ["dormant.session.v1"], 2);
  assert.equal(session.protocol, "dormant.session.v1");
  assert.equal(JSON.parse(session.frames[0]!).code, "new");
});

Deno.test("the reconnecting client on a route without sessions opens with code unsupported, reports no protocol and no session, and counts nothing", async () => {
  await using served = await serve();
  for (
    const [path, code, protocol] of [
      ["/rooms/b", "unsupported", ""],
      ["/cf/y/app", undefined, "chat.v2"],
    ] as const
  ) {
    const ws = connect(served.url(path).replace("http", "ws"), { protocols: ["chat.v2"] });
    const got: string[] = [];
    const opens: (string | undefined)[] = [];
    ws.onmessage = (event) => got.push(String(event.data));
    ws.onopen = (event) => opens.push(event.code);
    ws.send("hi");
    await until(() => got.length === 2, `welcome and echo on ${path}`);
    assert.deepEqual(got, ["welcome", "hi"]);
    assert.deepEqual(opens, [code]);
    assert.equal(ws.protocol, protocol);
    assert.equal(ws.session, null);
    ws.close();
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
});
