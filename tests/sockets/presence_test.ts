import assert from "node:assert/strict";
import { MAX_PRESENCE_BYTES, presenceValue, samePresence } from "../../src/sockets/presence.ts";
import { WebSocketPair } from "../../mod.ts";

Deno.test("a presence value is a deep-frozen structured-clone copy; null and undefined mean none", () => {
  const given = { name: "ann", roles: ["admin"], profile: { age: 3 }, seen: new Date(5) };
  const kept = presenceValue(given, "set presence") as typeof given;
  assert.deepEqual(kept, given);
  assert.notEqual(kept, given);
  given.roles.push("mutated");
  assert.deepEqual(kept.roles, ["admin"]);
  assert.ok(Object.isFrozen(kept) && Object.isFrozen(kept.roles) && Object.isFrozen(kept.profile));
  assert.ok(kept.seen instanceof Date, "a Date stays a Date");
  assert.equal(presenceValue("ann", "set presence"), "ann");
  assert.equal(presenceValue(null, "set presence"), null);
  assert.equal(presenceValue(undefined, "set presence"), null);
});

Deno.test("a presence value over MAX_PRESENCE_BYTES is a RangeError naming the limit and the size; a socket or a function is a DataCloneError", () => {
  assert.equal(MAX_PRESENCE_BYTES, 1024);
  presenceValue("x".repeat(MAX_PRESENCE_BYTES - 8), "set presence"); // fits
  assert.throws(
    () => presenceValue({ name: "x".repeat(MAX_PRESENCE_BYTES) }, "set presence"),
    (error: unknown) =>
      error instanceof RangeError && /set presence as it exceeds 1024 bytes/.test(error.message) &&
      /current size is \d+/.test(error.message),
  );
  assert.throws(
    () => presenceValue(new WebSocketPair()[1], "set presence"),
    (error: unknown) => error instanceof DOMException && error.name === "DataCloneError",
  );
  assert.throws(
    () => presenceValue({ f: () => 1 }, "set presence"),
    (error: unknown) => error instanceof DOMException && error.name === "DataCloneError",
  );
});

Deno.test("two presence values are the same record when their serialized bytes are equal", () => {
  const a = presenceValue({ name: "ann", n: 1 }, "set presence");
  assert.ok(samePresence(a, presenceValue({ name: "ann", n: 1 }, "set presence")));
  assert.ok(!samePresence(a, presenceValue({ name: "ann", n: 2 }, "set presence")));
  assert.ok(
    !samePresence(a, presenceValue({ n: 1, name: "ann" }, "set presence")),
    "key order counts",
  );
  assert.ok(samePresence("a", "a"));
  assert.ok(!samePresence("a", "b"));
  assert.ok(!samePresence(a, null));
  assert.ok(samePresence(null, null));
});
