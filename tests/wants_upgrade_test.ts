import assert from "node:assert/strict";
import { wantsUpgrade } from "../src/wants_upgrade.ts";
import { UPGRADE_HEADERS } from "./_helpers.ts";

const request = (headers: HeadersInit) => new Request("http://localhost/", { headers });

Deno.test("wantsUpgrade() is true for Upgrade: websocket in any case", () => {
  assert.equal(wantsUpgrade(request(UPGRADE_HEADERS)), true);
  assert.equal(wantsUpgrade(request({ upgrade: "WebSocket" })), true);
  assert.equal(wantsUpgrade(request({ UPGRADE: "WEBSOCKET" })), true);
});

Deno.test("wantsUpgrade() is false without an Upgrade header or for another protocol", () => {
  assert.equal(wantsUpgrade(request({})), false);
  assert.equal(wantsUpgrade(request({ Connection: "Upgrade" })), false);
  assert.equal(wantsUpgrade(request({ Upgrade: "h2c" })), false);
  assert.equal(wantsUpgrade(request({ Upgrade: "websocket, h2c" })), false);
});
