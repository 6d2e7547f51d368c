// The in-memory hosts of one class: one per id, made on first use, named once a named id
// reaches them, and dropped only as the host that is there.
import assert from "node:assert/strict";
import { HostTable } from "../../src/objects/host_table.ts";
import { hashName, ObjectId } from "../../src/objects/object_id.ts";
import { MemorySocketRegistry, type SocketRegistry } from "../../src/sockets/socket_registry.ts";
import type { Connection } from "../../src/sockets/connection.ts";
import { stubRuntime } from "./_runtime_stub.ts";

const HEX = hashName("rooms", "lobby");

function setup() {
  const registry = new MemorySocketRegistry<Connection>();
  const released: string[] = [];
  const recording: SocketRegistry<Connection> = {
    forObject: (key) => registry.forObject(key),
    release: (key) => {
      released.push(key);
      registry.release(key);
    },
  };
  let ready = 0;
  const table = new HostTable(stubRuntime("ROOM", "rooms"), recording, () => void ready++);
  return { table, released, ready: () => ready };
}

Deno.test("HostTable.host() returns one host per id and tells a host its name once a named id reaches it", () => {
  const { table, ready } = setup();
  const host = table.host(new ObjectId(HEX));
  assert.equal(host.hex, HEX);
  assert.equal(host.id.name, undefined);
  assert.equal(ready(), 1, "the first host starts the app's KV");
  assert.equal(table.host(new ObjectId(HEX, "lobby")), host);
  assert.equal(host.id.name, "lobby");
  assert.equal(table.host(new ObjectId(HEX)), host);
  assert.equal(host.id.name, "lobby", "an unnamed id keeps the name");
  assert.equal(ready(), 1, "a host in memory is returned as it is");
  const other = table.host(new ObjectId(hashName("rooms", "other")));
  assert.notEqual(other, host);
  assert.deepEqual([...table.hosts()], [host, other]);
});

Deno.test("HostTable.peek() finds a host in memory by hex and makes none", () => {
  const { table, ready } = setup();
  assert.equal(table.peek(HEX), undefined);
  assert.equal(ready(), 0);
  const host = table.host(new ObjectId(HEX));
  assert.equal(table.peek(HEX), host);
});

Deno.test("HostTable.forget() drops the host that is there and releases its socket list; a stale host is ignored", () => {
  const { table, released } = setup();
  const first = table.host(new ObjectId(HEX));
  table.forget(first);
  assert.equal(table.peek(HEX), undefined);
  assert.deepEqual(released, [`rooms/${HEX}`]);
  const second = table.host(new ObjectId(HEX));
  assert.notEqual(second, first);
  table.forget(first); // the old host, no longer in the table
  assert.equal(table.peek(HEX), second);
  assert.deepEqual(released, [`rooms/${HEX}`]);
});
