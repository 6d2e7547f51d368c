// The registered classes of one app: each binding gets a namespace and a host table under its
// class's storage name; requests find objects by binding, alarms by storage name.
import assert from "node:assert/strict";
import { App, DurableObject, durableObject } from "../mod.ts";
import { Bindings } from "../src/bindings.ts";
import { hashName } from "../src/objects/object_id.ts";
import { MemorySocketRegistry } from "../src/sockets/socket_registry.ts";
import type { Connection } from "../src/sockets/connection.ts";
import { stubApp } from "./objects/_runtime_stub.ts";

@durableObject({ name: "rooms" })
class Room extends DurableObject {}

/** No `@durableObject`: the binding key is the storage name. */
class Plain extends DurableObject {}

Deno.test("new App() validates storage names and rejects duplicates with TypeError", () => {
  @durableObject({ name: "bad name!" })
  class Bad {}
  assert.throws(() => new App({ objects: { BAD: Bad } }), (error: Error) => {
    assert.ok(error instanceof TypeError);
    assert.match(error.message, /bad name!/);
    return true;
  });

  const long = "a".repeat(65);
  @durableObject({ name: long })
  class TooLong {}
  assert.throws(() => new App({ objects: { LONG: TooLong } }), TypeError);
  assert.throws(() => new App({ objects: { [long]: Plain } }), TypeError);
  assert.throws(() => new App({ objects: { "has space": Plain } }), TypeError);

  @durableObject({ name: "a".repeat(64) })
  class Longest {}
  @durableObject({ name: "Az09_-" })
  class Symbols {}
  new App({ objects: { LONGEST: Longest, SYMBOLS: Symbols } });

  // Two bindings of one storage name would share ids and KV records.
  assert.throws(() => new App({ objects: { A: Room, B: Room } }), /already used/);
  @durableObject({ name: "PLAIN" })
  class Clash {}
  assert.throws(() => new App({ objects: { PLAIN: Plain, OTHER: Clash } }), TypeError);
  assert.throws(() => new App({ objects: { X: 42 as unknown as typeof Plain } }), TypeError);
});

class Rooms {
  static readonly storageName = "rooms";
}
class Users {
  static readonly storageName = "users";
}
const INFO = { isRetry: false, retryCount: 0, scheduledTime: 0 };

function bindings() {
  let warmed = 0;
  const registry = new MemorySocketRegistry<Connection>();
  const b = new Bindings({ ROOM: Rooms, USER: Users }, 10_000, stubApp(), registry, () => {
    warmed++;
  });
  return { b, warmed: () => warmed };
}

Deno.test("Bindings makes one namespace and host table per binding, in registration order, under each class's storage name", () => {
  const { b } = bindings();
  assert.deepEqual([...b.namespaces.keys()], ["ROOM", "USER"]);
  assert.deepEqual([...b.tables.keys()], ["ROOM", "USER"]);
  assert.equal(b.namespaces.get("ROOM")!.storageName, "rooms");
  assert.equal(b.tables.get("USER")!.runtime.storageName, "users");
  assert.equal(b.bindingOf("users"), "USER");
  assert.equal(b.bindingOf("USER"), undefined, "a binding is not a storage name");
  const id = b.namespaces.get("ROOM")!.idFromName("lobby");
  assert.equal(b.hostOf("ROOM", id), undefined);
  const endpoint = b.directory.locate("ROOM", id);
  const host = b.hostOf("ROOM", id)!;
  assert.equal(endpoint, host, "in one process the endpoint is the host");
  assert.equal(b.hostOf("USER", id), undefined);
  assert.deepEqual(b.hosts(), [host]);
  b.forget(host);
  assert.deepEqual(b.hosts(), []);
});

Deno.test("an alarm for a storage name no class has resolves quietly and makes no host", async () => {
  const { b, warmed } = bindings();
  assert.equal(await b.alarm("gone", hashName("gone", "a"), INFO, "a"), undefined);
  assert.deepEqual(b.hosts(), []);
  assert.equal(warmed(), 0);
});

Deno.test("an alarm reaches the object of its storage name by id, which learns its name when the name derives that id", async () => {
  const { b, warmed } = bindings();
  const hex = hashName("users", "ann");
  await b.alarm("users", hex, INFO, "ann");
  assert.equal(b.hosts().length, 1);
  const host = b.hosts()[0]!;
  assert.equal(host.runtime.binding, "USER");
  assert.equal(host.hex, hex);
  assert.equal(b.nameOf("users", hex), "ann");
  assert.equal(warmed(), 1);
  const other = hashName("users", "bob");
  await b.alarm("users", other, INFO, "not-bob"); // a name that does not derive the id
  assert.equal(b.tables.get("USER")!.peek(other)?.id.name, undefined);
  assert.equal(b.nameOf("users", other), undefined);
});
