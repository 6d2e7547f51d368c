import assert from "node:assert/strict";
import {
  durableObject,
  type DurableObjectState,
  onConnect,
  onMessage,
  type WebSocket,
} from "../../mod.ts";
import { serveApp } from "../_helpers.ts";
import { launchBrowser } from "./_browser.ts";

@durableObject({ name: "echo-room" })
class Echo {
  constructor(readonly ctx: DurableObjectState) {}

  @onConnect
  connect(ws: WebSocket): void {
    this.ctx.acceptWebSocket(ws);
  }

  @onMessage
  message(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(message);
  }
}

const CLIENT = await Deno.readTextFile(new URL("../../src/client/connect.js", import.meta.url));

/**
 * In the page: connects with the client, sends "one", reconnects on purpose,
 * sends "two"; resolves with what the page saw once both echoes arrived.
 */
const TRIAL = `
  globalThis.trial = async (url) => {
    const { connect } = await import("/client.js");
    const ws = connect(url, { minDelayMs: 20 });
    const opens = [];
    const got = [];
    ws.onopen = (event) => opens.push(event.code ?? null);
    ws.onmessage = (event) => got.push(event.data);
    ws.send("one");
    await new Promise((resolve) => {
      const poll = () => got.length >= 1 ? resolve() : setTimeout(poll, 10);
      poll();
    });
    ws.reconnect();
    ws.send("two");
    await new Promise((resolve) => {
      const poll = () => got.length >= 2 && ws.status === "open" ? resolve() : setTimeout(poll, 10);
      poll();
    });
    const result = { opens, got, protocol: ws.protocol, session: ws.session !== null };
    ws.close();
    return result;
  };
  true;
`;

Deno.test("connect() in Chromium works against a route without sessions, a resumable route and a server that knows nothing of sessions", async (t) => {
  await using served = await serveApp({
    objects: { ECHO: Echo },
    routes: [
      { pattern: "/plain/:name", object: "ECHO" },
      { pattern: "/resumable/:name", object: "ECHO", resumable: true },
    ],
    fallback: (request) => {
      const { pathname } = new URL(request.url);
      if (pathname === "/client.js") {
        return new Response(CLIENT, { headers: { "content-type": "text/javascript" } });
      }
      return new Response("<!doctype html><title>client</title>", {
        headers: { "content-type": "text/html" },
      });
    },
  });
  // Not Dormant: upgrades without looking at the offered subprotocols.
  const other = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
  try {
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    await page.goto(served.url("/"));
    await page.evaluate(TRIAL);
    const ws = (path: string) => served.url(path).replace("http:", "ws:");

    await t.step("a route without sessions: open code unsupported, a plain socket", async () => {
      const result = await page.evaluate(`trial(${JSON.stringify(ws("/plain/a"))})`);
      assert.deepEqual(result, {
        opens: ["unsupported", "unsupported"],
        got: ["one", "two"],
        protocol: "",
        session: false,
      });
    });

    await t.step("a resumable route: a new session, resumed after a reconnect", async () => {
      const result = await page.evaluate(`trial(${JSON.stringify(ws("/resumable/b"))})`);
      assert.deepEqual(result, {
        opens: ["new", "resumed"],
        got: ["one", "two"],
        protocol: "",
        session: true,
      });
    });

    await t.step("a server that is not Dormant: the client falls back to no offer", async () => {
      const url = `ws://127.0.0.1:${other.addr.port}/`;
      const result = await page.evaluate(`trial(${JSON.stringify(url)})`);
      assert.deepEqual(result, {
        opens: [null, null],
        got: ["one", "two"],
        protocol: "",
        session: false,
      });
    });
    assert.deepEqual(page.errors, []);
  } finally {
    await other.shutdown();
  }
});
