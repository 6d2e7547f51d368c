/** Connection slots: the origin allow-list and the per-address cap, checked before any object wakes. */
import assert from "node:assert/strict";
import { until, UPGRADE_HEADERS as UPGRADE } from "../_helpers.ts";
import { RawClient, rawHttp } from "../_raw_client.ts";
import { serveEcho } from "./_echo_app.ts";

Deno.test("allowedOrigins refuses a foreign Origin with 403 and admits a listed one or none", async () => {
  await using s = await serveEcho({ allowedOrigins: ["https://good.example"] });
  const foreign = await rawHttp(s.port, "GET", "/e/a", {
    ...UPGRADE,
    Origin: "https://evil.example",
  });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.body, "Origin not allowed");
  assert.equal(s.counts.constructed, 0);
  await using listed = await RawClient.connect(s.port, "/e/a", {
    headers: { Origin: "https://good.example" },
  });
  await using originless = await RawClient.connect(s.port, "/e/a");
  assert.equal(listed.status, 101);
  assert.equal(originless.status, 101);
});

Deno.test("maxConnectionsPerIp 1: a second connection from the same address gets 429 until the first is gone", async () => {
  await using s = await serveEcho({ maxConnectionsPerIp: 1 });
  const first = await RawClient.connect(s.port, "/e/a");
  const second = await rawHttp(s.port, "GET", "/e/b", UPGRADE);
  assert.equal(second.status, 429);
  assert.equal(second.body, "Too many connections from this address");
  await first.drop();
  await until(() => s.app.stats().connections === 0, "the first connection gone");
  await using third = await RawClient.connect(s.port, "/e/b");
  assert.equal(third.status, 101);
});
