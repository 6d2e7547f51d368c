// The directory of one process: an object is located in the host table of its binding.
import assert from "node:assert/strict";
import { HostTable } from "../../src/objects/host_table.ts";
import { InProcessDirectory } from "../../src/objects/in_process_directory.ts";
import { hashName, ObjectId } from "../../src/objects/object_id.ts";
import { MemorySocketRegistry } from "../../src/sockets/socket_registry.ts";
import type { Connection } from "../../src/sockets/connection.ts";
import { stubRuntime } from "./_runtime_stub.ts";

function table(binding: string): HostTable {
  return new HostTable(stubRuntime(binding), new MemorySocketRegistry<Connection>(), () => {});
}

Deno.test("locate() returns the host of the id in the table of that binding, the same one on each call", () => {
  const tables = new Map([["ROOM", table("ROOM")], ["USER", table("USER")]]);
  const directory = new InProcessDirectory(tables);
  const id = new ObjectId(hashName("ROOM", "a"));
  const host = directory.locate("ROOM", id);
  assert.equal(host, tables.get("ROOM")!.peek(id.toString()));
  assert.equal(host.runtime.binding, "ROOM");
  assert.equal(directory.locate("ROOM", id), host);
  const user = directory.locate("USER", id);
  assert.notEqual(user, host, "one id in two classes is two objects");
  assert.equal(user.runtime.binding, "USER");
});

Deno.test("locate() with a binding no class has is a TypeError naming it; tables added later are found", () => {
  const tables = new Map<string, HostTable>();
  const directory = new InProcessDirectory(tables);
  const id = new ObjectId(hashName("LATE", "a"));
  assert.throws(
    () => directory.locate("LATE", id),
    (error: Error) =>
      error instanceof TypeError && /"LATE".*no class has that binding/.test(error.message),
  );
  tables.set("LATE", table("LATE"));
  assert.equal(directory.locate("LATE", id).hex, id.toString());
});
