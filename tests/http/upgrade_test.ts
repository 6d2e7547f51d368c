/**
 * The HTTP side of connecting: which requests the app refuses, with which
 * status and body, before any object is constructed; and `app.fetch` under a
 * plain `Deno.serve`. Requests are written by hand so every header is exact.
 */
import assert from "node:assert/strict";
import { App } from "../../mod.ts";
import { ManualClock } from "../../src/testing/mod.ts";
import { until, UPGRADE_HEADERS as UPGRADE } from "../_helpers.ts";
import { RawClient, rawHttp, textOf } from "../_raw_client.ts";
import { Echo, serveEcho } from "./_echo_app.ts";

function without(name: keyof typeof UPGRADE): Record<string, string> {
  const headers: Record<string, string> = { ...UPGRADE };
  delete headers[name];
  return headers;
}

Deno.test("a plain GET to a WebSocket route gets 426 with 'Upgrade: websocket'", async () => {
  await using s = await serveEcho();
  const response = await rawHttp(s.port, "GET", "/e/a", {});
  assert.equal(response.status, 426);
  assert.equal(response.headers.get("upgrade"), "websocket");
  assert.equal(response.body, "Expected a WebSocket upgrade");
  assert.equal(s.counts.constructed, 0);
});

const badRequests: Array<
  { name: string; method?: string; headers: Record<string, string>; body: string }
> = [
  {
    name: "a missing Sec-WebSocket-Key",
    headers: without("Sec-WebSocket-Key"),
    body: "Missing or malformed Sec-WebSocket-Key",
  },
  {
    name: "a Sec-WebSocket-Key that is not 16 bytes of base64",
    headers: { ...UPGRADE, "Sec-WebSocket-Key": "not-a-key" },
    body: "Missing or malformed Sec-WebSocket-Key",
  },
  {
    name: "Sec-WebSocket-Version 8",
    headers: { ...UPGRADE, "Sec-WebSocket-Version": "8" },
    body: "Unsupported Sec-WebSocket-Version: expected 13",
  },
  {
    name: "a missing Sec-WebSocket-Version",
    headers: without("Sec-WebSocket-Version"),
    body: "Unsupported Sec-WebSocket-Version: expected 13",
  },
  {
    name: "POST",
    method: "POST",
    headers: UPGRADE,
    body: "WebSocket upgrade needs GET, got POST",
  },
  {
    name: "a missing Connection header",
    headers: without("Connection"),
    body: "WebSocket upgrade needs 'Connection: Upgrade'",
  },
  {
    name: "'Connection: keep-alive' without Upgrade",
    headers: { ...UPGRADE, Connection: "keep-alive" },
    body: "WebSocket upgrade needs 'Connection: Upgrade'",
  },
];

for (const c of badRequests) {
  Deno.test(`an upgrade with ${c.name} gets 400 with a clear body and constructs no object`, async () => {
    await using s = await serveEcho();
    const response = await rawHttp(s.port, c.method ?? "GET", "/e/a", c.headers);
    assert.equal(response.status, 400);
    assert.equal(response.body, c.body);
    assert.equal(s.counts.constructed, 0);
  });
}

Deno.test("a POST upgrade with a Content-Length is refused by Deno's HTTP layer with an empty 400 before the app", async () => {
  await using s = await serveEcho();
  const response = await rawHttp(s.port, "POST", "/e/a", { ...UPGRADE, "Content-Length": "0" });
  assert.equal(response.status, 400);
  assert.equal(response.body, "");
  assert.equal(response.headers.get("connection"), "close");
  assert.equal(s.counts.constructed, 0);
});

Deno.test("an upgrade naming Upgrade among other Connection tokens is accepted", async () => {
  await using s = await serveEcho();
  const response = await rawHttp(s.port, "GET", "/e/a", {
    ...UPGRADE,
    Connection: "keep-alive, Upgrade",
  });
  assert.equal(response.status, 101);
  await until(() => s.app.stats().connections === 0, "the dropped socket gone");
});

Deno.test("app.fetch passed to a plain Deno.serve keeps its app (bound property)", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const counts = { constructed: 0 };
    await using app = new App({
      objects: { E: Echo },
      env: { counts },
      routes: [{ pattern: "/e/:name", object: "E" }],
      clock: new ManualClock(),
      kv,
    });
    const { fetch } = app;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, fetch);
    try {
      const plain = await rawHttp(server.addr.port, "GET", "/e/a", {});
      assert.equal(plain.status, 426);
      const client = await RawClient.connect(server.addr.port, "/e/a");
      await client.text("through Deno.serve");
      assert.equal(textOf(await client.next()), "through Deno.serve");
      await client.close(1000);
      await client.rest();
      await client.drop();
      await until(() => app.stats().connections === 0, "the socket gone");
    } finally {
      await server.shutdown();
    }
  } finally {
    kv.close();
  }
});
