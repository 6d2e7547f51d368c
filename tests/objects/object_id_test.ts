// Object ids: derived from a name (SHA-256, the same in every app), parsed from 64 hex
// characters, or random.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { App, DurableObject, durableObject, ObjectId } from "../../mod.ts";

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

@durableObject({ name: "rooms" })
class Room extends DurableObject {}

@durableObject({ name: "counters" })
class Counter extends DurableObject {}

/** No `@durableObject`: the binding key is the storage name. */
class Plain extends DurableObject {}

Deno.test("idFromName() is SHA-256 of storage name, NUL and name: the same in every app", async () => {
  await using first = new App({ objects: { ROOM: Room } });
  await using second = new App({ objects: { OTHER_BINDING: Room } });
  const id = first.env.ROOM.idFromName("lobby");
  assert.ok(id instanceof ObjectId);
  assert.equal(id.toString(), sha256("rooms\0lobby"));
  assert.equal(id.name, "lobby");
  assert.equal(second.env.OTHER_BINDING.idFromName("lobby").toString(), id.toString());
  assert.ok(second.env.OTHER_BINDING.idFromName("lobby").equals(id));
  assert.equal(first.env.ROOM.idFromName("").toString(), sha256("rooms\0"));
  assert.equal(first.env.ROOM.idFromName("über 🚀").toString(), sha256("rooms\0über 🚀"));
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  assert.notEqual(
    new App({ objects: { ab: Plain } }).env.ab.idFromName("c").toString(),
    new App({ objects: { a: Plain } }).env.a.idFromName("bc").toString(),
  );
});

Deno.test("different classes give different ids for the same name; a class without @durableObject uses its binding key", async () => {
  await using app = new App({ objects: { ROOM: Room, COUNTER: Counter, PLAIN: Plain } });
  const room = app.env.ROOM.idFromName("x").toString();
  const counter = app.env.COUNTER.idFromName("x").toString();
  assert.notEqual(room, counter);
  assert.equal(counter, sha256("counters\0x"));
  assert.equal(app.env.PLAIN.idFromName("x").toString(), sha256("PLAIN\0x"));
  assert.equal(app.env.PLAIN.storageName, "PLAIN");
  assert.equal(app.env.ROOM.storageName, "rooms");
  assert.throws(() => app.env.ROOM.idFromName(42 as unknown as string), TypeError);
});

Deno.test("idFromString() accepts exactly 64 lowercase hex characters", async () => {
  await using app = new App({ objects: { ROOM: Room } });
  const hex = sha256("anything");
  const id = app.env.ROOM.idFromString(hex);
  assert.equal(id.toString(), hex);
  assert.equal(id.name, undefined);
  assert.ok(id.equals(app.env.ROOM.idFromString(hex)));
  for (
    const bad of [
      hex.toUpperCase(),
      hex.slice(0, 63),
      hex + "0",
      "g".repeat(64),
      ` ${hex.slice(1)}`,
      "",
      42,
      null,
    ]
  ) {
    assert.throws(() => app.env.ROOM.idFromString(bad as string), TypeError, `accepted ${bad}`);
  }
});

Deno.test("newUniqueId() returns distinct 64-hex ids", async () => {
  await using app = new App({ objects: { ROOM: Room } });
  const ids = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const id = app.env.ROOM.newUniqueId();
    assert.match(id.toString(), /^[0-9a-f]{64}$/);
    assert.equal(id.name, undefined);
    ids.add(id.toString());
  }
  assert.equal(ids.size, 100);
});
