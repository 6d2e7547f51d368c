import assert from "node:assert/strict";
import { App, durableObject } from "../../mod.ts";
import { presenceConfig } from "../../src/objects/presence_config.ts";

Deno.test("a presence option names an attachment field, or gives from and message; without one there is none", () => {
  const field = presenceConfig(class {}, "ROOM", "user")!;
  assert.deepEqual(field.from!({ user: { name: "ann" } }), { name: "ann" });
  assert.equal(field.from!(null), undefined);
  assert.equal(field.from!("text"), undefined);
  assert.equal(field.message, null);

  const message = () => "list";
  const full = presenceConfig(class {}, "ROOM", { from: (a: { id: number }) => a.id, message })!;
  assert.equal(full.from!({ id: 7 }), 7);
  assert.equal(full.message, message);
  const explicitOnly = presenceConfig(class {}, "ROOM", { message })!;
  assert.equal(explicitOnly.from, null, "records only come from ctx.setPresence");
  assert.equal(presenceConfig(class {}, "ROOM", undefined), null);
});

Deno.test("a class without decorators sets presence with a static member; setting it both ways is a TypeError", () => {
  class Static {
    static readonly presence = { from: "member" };
  }
  assert.deepEqual(presenceConfig(Static, "ROOM", undefined)!.from!({ member: 1 }), 1);
  assert.throws(
    () => presenceConfig(Static, "ROOM", "user"),
    /Cannot register "ROOM" as it sets presence both in @durableObject\(\) and as a static member: keep one/,
  );
});

Deno.test("a malformed presence option fails registration with a TypeError that says the expected shape", () => {
  assert.throws(() => presenceConfig(class {}, "ROOM", 5 as never), TypeError);
  assert.throws(
    () => presenceConfig(class {}, "ROOM", { from: 5 } as never),
    /presence.from must be a field name or a function of the attachment: current type is number/,
  );
  assert.throws(
    () => presenceConfig(class {}, "ROOM", { message: "hi" } as never),
    /presence.message must be a function \(list, diff\) => message: current type is string/,
  );
  @durableObject({ name: "bad", presence: { from: 1 } as never })
  class Bad {}
  assert.throws(() => new App({ objects: { BAD: Bad } }), /Cannot register "BAD"/);
});
