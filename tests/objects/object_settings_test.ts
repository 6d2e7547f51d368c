// The settings that outlive an object's instances: what ctx sets is kept and persisted (the
// `changed` callback), what is read back from KV is kept without being persisted again.
import assert from "node:assert/strict";
import { ObjectSettings } from "../../src/objects/object_settings.ts";

function setup() {
  let changes = 0;
  const settings = new ObjectSettings(() => void changes++);
  return { settings, changes: () => changes };
}

Deno.test("new settings have no auto-response and no event timeout, and must be loaded from KV first", () => {
  const { settings, changes } = setup();
  assert.equal(settings.autoResponse, null);
  assert.equal(settings.eventTimeoutMs, 0);
  assert.equal(settings.needsLoad, true);
  assert.equal(changes(), 0);
});

Deno.test("setAutoResponse() and setEventTimeout() keep the value and mark it changed once each", () => {
  const { settings, changes } = setup();
  const pair = { request: "ping", response: "pong" };
  settings.setAutoResponse(pair);
  assert.equal(settings.autoResponse, pair);
  assert.equal(changes(), 1);
  settings.setEventTimeout(2_500);
  assert.equal(settings.eventTimeoutMs, 2_500);
  assert.equal(changes(), 2);
  settings.setAutoResponse(null);
  assert.equal(settings.autoResponse, null);
  assert.equal(changes(), 3);
});

Deno.test("restore() takes the settings read from KV without marking them changed", () => {
  const { settings, changes } = setup();
  const pair = { request: "ping", response: "pong" };
  settings.restore(pair, 1_000);
  assert.equal(settings.autoResponse, pair);
  assert.equal(settings.eventTimeoutMs, 1_000);
  assert.equal(changes(), 0);
  settings.restore(null, 0);
  assert.equal(settings.autoResponse, null);
  assert.equal(settings.eventTimeoutMs, 0);
  assert.equal(changes(), 0);
});
