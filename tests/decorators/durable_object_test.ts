/**
 * `@durableObject` on its own, under TC39 decorators (the root config). Its
 * use together with the handler decorators is in `_decorator_cases.ts`, run
 * from `handlers_test.ts`.
 */
import assert from "node:assert/strict";
import { App, DurableObject } from "../../mod.ts";
import { durableObject } from "../../src/decorators/durable_object.ts";
import { ManualClock, objectStatus } from "../../src/testing/mod.ts";

Deno.test("@durableObject with options that are not an object is a TypeError naming the value", () => {
  for (const [options, shown] of [[5, "5"], ["room", "room"], [null, "null"], [true, "true"]]) {
    assert.throws(() => durableObject(options as unknown as object), {
      name: "TypeError",
      message: `Cannot use @durableObject as options must be an object: current value is ${shown}`,
    });
  }
});

Deno.test("@durableObject records its options and the app reads them back: the name names the ids, hibernateAfterMs the idle time", async () => {
  @durableObject({ name: "room", hibernateAfterMs: 500 })
  class Room extends DurableObject {
    ping(): string {
      return "pong";
    }
  }
  const clock = new ManualClock();
  await using app = new App({ objects: { ROOM: Room }, clock });
  await using renamed = new App({ objects: { RENAMED: Room }, clock });
  assert.equal(app.env.ROOM.storageName, "room");
  assert.equal(renamed.env.RENAMED.storageName, "room");
  // The recorded name, not the binding key, goes into the id.
  const id = app.env.ROOM.idFromName("lobby");
  assert.equal(renamed.env.RENAMED.idFromName("lobby").toString(), id.toString());

  const stub = app.env.ROOM.get(id);
  assert.equal(await stub.ping(), "pong");
  await clock.advance(499);
  assert.equal(objectStatus(app, "ROOM", id), "active");
  await clock.advance(1);
  assert.equal(objectStatus(app, "ROOM", id), "hibernated");
});

Deno.test("an out-of-range hibernateAfterMs in @durableObject is a RangeError from new App naming the binding", () => {
  @durableObject({ name: "room", hibernateAfterMs: -1 })
  class Room extends DurableObject {}
  assert.throws(() => new App({ objects: { ROOM: Room } }), {
    name: "RangeError",
    message: /ROOM hibernateAfterMs/,
  });
});

Deno.test("@durableObject on a method is a TypeError, in the TC39 and the legacy call form", () => {
  assert.throws(() => {
    class Method {
      // @ts-expect-error: @durableObject marks classes
      @durableObject({ name: "method" })
      method(): void {}
    }
    return Method;
  }, { name: "TypeError", message: "Cannot use @durableObject on a class member" });

  // experimentalDecorators call a member decorator with (prototype, key, descriptor).
  class Legacy {
    method(): void {}
  }
  const decorate = durableObject({ name: "legacy" }) as unknown as (...args: unknown[]) => void;
  assert.throws(
    () =>
      decorate(
        Legacy.prototype,
        "method",
        Object.getOwnPropertyDescriptor(Legacy.prototype, "method"),
      ),
    { name: "TypeError", message: "Cannot use @durableObject on a class member" },
  );
});
