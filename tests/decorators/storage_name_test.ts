import assert from "node:assert/strict";
import { App, DurableObject, durableObject, onRequest } from "../../mod.ts";
import { createAuthApp } from "../../examples/auth/main.ts";
import { createChatApp } from "../../examples/chat/app.ts";
import { captureWarnings } from "./_capture_warnings.ts";

Deno.test("registering a class without a storage name warns once per class and process, saying why and how to set one", async () => {
  class Room extends DurableObject {}
  class Lobby {
    @onRequest
    request(): Response {
      return new Response("lobby");
    }
  }
  const warnings = await captureWarnings(async () => {
    await using first = new App({ objects: { ROOM: Room } });
    await using second = new App({ objects: { CHAT: Room, LOBBY: Lobby } });
    assert.equal(first.env.ROOM.storageName, "ROOM");
    assert.equal(second.env.CHAT.storageName, "CHAT");
  });
  assert.deepEqual(warnings, [
    'Dormant: "ROOM" (class Room) has no storage name, so ids and KV keys use its binding key "ROOM": renaming that key later loses its objects\' data. Set one: @durableObject({ name: "ROOM" }), or static storageName = "ROOM" on a class without decorators ("ROOM" keeps the data stored so far).',
    'Dormant: "LOBBY" (class Lobby) has no storage name, so ids and KV keys use its binding key "LOBBY": renaming that key later loses its objects\' data. Set one: @durableObject({ name: "LOBBY" }), or static storageName = "LOBBY" on a class without decorators ("LOBBY" keeps the data stored so far).',
  ]);
});

Deno.test("@durableObject() without a name warns too; a name from @durableObject, a static storageName or a parent does not", async () => {
  @durableObject()
  class Unnamed extends DurableObject {}
  @durableObject({ name: "named" })
  class Named extends DurableObject {}
  class Child extends Named {}
  class Ported extends DurableObject {
    static readonly storageName = "ported";
  }
  const warnings = await captureWarnings(async () => {
    await using app = new App({
      objects: { UNNAMED: Unnamed, NAMED: Named, PORTED: Ported },
    });
    await using child = new App({ objects: { CHILD: Child } });
    assert.equal(app.env.NAMED.storageName, "named");
    assert.equal(app.env.PORTED.storageName, "ported");
    assert.equal(child.env.CHILD.storageName, "named");
  });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^Dormant: "UNNAMED" \(class Unnamed\) has no storage name/);
});

Deno.test("a static storageName names the ids and KV keys as @durableObject({ name }) does", async () => {
  @durableObject({ name: "room" })
  class Decorated extends DurableObject {}
  class Ported extends DurableObject {
    static readonly storageName = "room";
  }
  await using one = new App({ objects: { ROOM: Decorated } });
  await using two = new App({ objects: { RENAMED_BINDING: Ported } });
  assert.equal(
    two.env.RENAMED_BINDING.idFromName("lobby").toString(),
    one.env.ROOM.idFromName("lobby").toString(),
  );
});

Deno.test("a subclass's @durableObject name or static storageName wins over its parent's other one", async () => {
  class PortedBase extends DurableObject {
    static readonly storageName = "ported-base";
  }
  @durableObject({ name: "decorated-child" })
  class DecoratedChild extends PortedBase {}
  @durableObject({ name: "decorated-base" })
  class DecoratedBase extends DurableObject {}
  class PortedChild extends DecoratedBase {
    static readonly storageName = "ported-child";
  }
  class Grandchild extends DecoratedChild {}
  await using app = new App({
    objects: {
      A: PortedBase,
      B: DecoratedChild,
      C: DecoratedBase,
      D: PortedChild,
    },
  });
  await using other = new App({ objects: { E: Grandchild } });
  assert.deepEqual(
    [app.env.A, app.env.B, app.env.C, app.env.D, other.env.E].map((n) => n.storageName),
    ["ported-base", "decorated-child", "decorated-base", "ported-child", "decorated-child"],
  );
});

Deno.test("a storageName that is not a valid string, or disagrees with @durableObject's name, is a TypeError from new App, before any warning", async () => {
  class Numbered extends DurableObject {
    static readonly storageName = 42 as unknown as string;
  }
  @durableObject({ name: "one" })
  class Both extends DurableObject {
    static readonly storageName = "two";
  }
  class Spaced extends DurableObject {
    static readonly storageName = "chat room";
  }
  class Unnamed extends DurableObject {}
  const warnings = await captureWarnings(() => {
    assert.throws(() => new App({ objects: { UNNAMED: Unnamed, ROOM: Numbered } }), {
      name: "TypeError",
      message:
        'Cannot register "ROOM" as its static storageName must be a string: current type is number',
    });
    assert.throws(() => new App({ objects: { UNNAMED: Unnamed, ROOM: Both } }), {
      name: "TypeError",
      message:
        'Cannot register "ROOM" as @durableObject({ name: "one" }) and static storageName "two" disagree: keep one',
    });
    assert.throws(() => new App({ objects: { UNNAMED: Unnamed, ROOM: Spaced } }), {
      name: "TypeError",
      message:
        /storage name must be 1-64 characters of \[A-Za-z0-9_-\]: current value is "chat room"/,
    });
    // A bad route fails the app after every class was read: still no warning.
    assert.throws(
      () =>
        new App({
          objects: { UNNAMED: Unnamed },
          routes: [{ pattern: "/x/:name", object: "MISSING" }],
        }),
      TypeError,
    );
  });
  assert.deepEqual(warnings, []);
});

Deno.test("every example registers its classes with a storage name: no warning", async () => {
  const warnings = await captureWarnings(async () => {
    await using auth = createAuthApp({ token: "t" });
    await using chat = createChatApp();
    assert.equal(auth.env.ROOM.storageName, "room");
    assert.equal(chat.env.ROOM.storageName, "chat-room");
  });
  assert.deepEqual(warnings, []);
});
