import assert from "node:assert/strict";
import {
  DormantError,
  EventTimeoutError,
  isDormantError,
  KvError,
  ObjectFullError,
  ObjectResetError,
} from "../src/errors.ts";

Deno.test("every error of the family is a DormantError named after its class, with a stable code", () => {
  const cause = new Error("disk gone");
  const cases: [DormantError, string, string][] = [
    [new DormantError("plain"), "DormantError", "dormant_error"],
    [new DormantError("custom", "my_code"), "DormantError", "my_code"],
    [new ObjectResetError("reset", { cause }), "ObjectResetError", "object_reset"],
    [new EventTimeoutError("webSocketMessage", 50), "EventTimeoutError", "event_timeout"],
    [new ObjectFullError(3), "ObjectFullError", "object_full"],
    [new KvError("flush", cause), "KvError", "kv_error"],
  ];
  for (const [error, name, code] of cases) {
    assert.ok(error instanceof Error, name);
    assert.ok(error instanceof DormantError, name);
    assert.equal(error.name, name);
    assert.equal(error.code, code, name);
    assert.ok(String(error).startsWith(`${name}: `), String(error));
  }
  assert.equal(cases[2]![0].cause, cause);
});

Deno.test("EventTimeoutError, ObjectFullError and KvError say what failed and carry the limit or the cause", () => {
  const timeout = new EventTimeoutError("webSocketMessage", 50);
  assert.equal(
    timeout.message,
    "Cannot finish webSocketMessage as it exceeded the event timeout: limit is 50 ms",
  );
  assert.equal(timeout.timeoutMs, 50);

  const full = new ObjectFullError(32_768);
  assert.equal(
    full.message,
    "Cannot accept WebSocket as the object holds the maximum number of sockets: limit is 32768",
  );
  assert.equal(full.limit, 32_768);

  const cause = new TypeError("database is locked");
  const kv = new KvError("commit", cause);
  assert.equal(kv.message, "Cannot complete KV commit: database is locked");
  assert.equal(kv.cause, cause);
  assert.equal(new KvError("list", "offline").message, "Cannot complete KV list: offline");
});

Deno.test("isDormantError recognizes the family, also from another copy of the module, and nothing else", async () => {
  const copy: typeof import("../src/errors.ts") = await import("../src/errors.ts?copy");
  const foreign = new copy.KvError("flush", new Error("x"));
  assert.equal(foreign instanceof DormantError, false, "a second copy has its own classes");
  assert.ok(isDormantError(foreign));
  assert.ok(isDormantError(new copy.ObjectFullError(1)));
  assert.ok(isDormantError(new ObjectResetError("gone")));

  assert.equal(isDormantError(new Error("x")), false);
  assert.equal(isDormantError(Object.assign(new Error("x"), { code: "kv_error" })), false);
  const named = new Error("x");
  named.name = "KvError"; // the name alone, without a code
  assert.equal(isDormantError(named), false);
  assert.equal(isDormantError({ name: "KvError", code: "kv_error", message: "x" }), false);
  assert.equal(isDormantError(undefined), false);
});
