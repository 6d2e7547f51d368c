/**
 * Conformance cases every `SocketRegistry` implementation must pass: one list
 * per object, open sockets oldest accepted first, optionally by tag (what
 * `getWebSockets(tag)` returns). Call
 * {@linkcode socketRegistryConformance} from a test file with a factory.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { SocketRegistry } from "../../src/sockets/socket_registry.ts";

/**
 * Registers the conformance cases as `Deno.test`s.
 *
 * @param name The implementation's name, prefixed to every test name.
 * @param create Makes a fresh, empty registry of string "sockets".
 */
export function socketRegistryConformance(
  name: string,
  create: () => SocketRegistry<string>,
): void {
  const test = (what: string, fn: () => void) => Deno.test(`${name}: ${what}`, fn);

  test("lists sockets in insertion order; a re-added socket goes last", () => {
    const room = create().forObject("room");
    room.add("c", []);
    room.add("a", ["x"]);
    room.add("b", []);
    assert.deepEqual(room.list(), ["c", "a", "b"]);
    assert.equal(room.size, 3);
    assert.equal(room.remove("c"), true);
    room.add("c", ["x"]);
    assert.deepEqual(room.list(), ["a", "b", "c"]);
    assert.deepEqual(room.list("x"), ["a", "c"]);
  });

  test("adding a socket that is already listed changes nothing", () => {
    const room = create().forObject("room");
    room.add("a", ["x"]);
    room.add("b", ["x"]);
    const all = room.list();
    const x = room.list("x");
    room.add("a", ["y"]);
    assert.equal(room.size, 2);
    assert.equal(room.list(), all);
    assert.equal(room.list("x"), x);
    assert.deepEqual(room.list("y"), []);
  });

  test("filters by tag, oldest first, and a socket without tags is only in the full list", () => {
    const room = create().forObject("room");
    room.add("a", ["x", "y"]);
    room.add("b", []);
    room.add("c", ["y"]);
    room.add("d", ["x"]);
    assert.deepEqual(room.list(), ["a", "b", "c", "d"]);
    assert.deepEqual(room.list("x"), ["a", "d"]);
    assert.deepEqual(room.list("y"), ["a", "c"]);
    assert.deepEqual(room.list("z"), []);
    assert.deepEqual(room.list(""), []);
  });

  test("returns frozen arrays, also when empty", () => {
    const room = create().forObject("room");
    assert.ok(Object.isFrozen(room.list()));
    assert.ok(Object.isFrozen(room.list("x")));
    room.add("a", ["x"]);
    for (const list of [room.list(), room.list("x"), room.list("none")]) {
      assert.ok(Object.isFrozen(list));
      assert.throws(() => (list as string[]).push("b"), TypeError);
    }
  });

  test("returns the identical array until membership changes, then a new one", () => {
    const room = create().forObject("room");
    room.add("a", ["x"]);
    room.add("b", ["y"]);
    const all = room.list();
    const x = room.list("x");
    const y = room.list("y");
    assert.equal(room.list(), all);
    assert.equal(room.list("x"), x);
    // A y socket joins: the full and y lists are rebuilt, x stays identical.
    room.add("c", ["y"]);
    assert.notEqual(room.list(), all);
    assert.notEqual(room.list("y"), y);
    assert.equal(room.list("x"), x);
    assert.deepEqual(all, ["a", "b"]); // an array handed out never changes
    assert.deepEqual(y, ["b"]);
    const all2 = room.list();
    const y2 = room.list("y");
    assert.equal(room.list(), all2);
    assert.equal(room.list("y"), y2);
    // Removing something not listed is no change.
    assert.equal(room.remove("nobody"), false);
    assert.equal(room.list(), all2);
    assert.equal(room.list("y"), y2);
    // Removing a listed socket is.
    room.remove("b");
    assert.notEqual(room.list(), all2);
    assert.notEqual(room.list("y"), y2);
    assert.equal(room.list("x"), x);
    assert.deepEqual(room.list(), ["a", "c"]);
    assert.deepEqual(room.list("y"), ["c"]);
  });

  test("remove() takes a socket out of the full list and every tag list", () => {
    const room = create().forObject("room");
    room.add("a", ["x", "y", "z"]);
    room.add("b", ["y"]);
    assert.equal(room.remove("a"), true);
    assert.equal(room.remove("a"), false);
    assert.equal(room.size, 1);
    assert.deepEqual(room.list(), ["b"]);
    assert.deepEqual(room.list("x"), []);
    assert.deepEqual(room.list("y"), ["b"]);
    assert.deepEqual(room.list("z"), []);
    room.remove("b");
    assert.equal(room.size, 0);
    assert.deepEqual(room.list(), []);
    assert.deepEqual(room.list("y"), []);
  });

  test("keeps each object's list apart and returns the same list for the same key", () => {
    const registry = create();
    const a = registry.forObject("a");
    const b = registry.forObject("b");
    assert.equal(registry.forObject("a"), a);
    a.add("s1", ["x"]);
    b.add("s2", ["x"]);
    assert.deepEqual(a.list(), ["s1"]);
    assert.deepEqual(b.list("x"), ["s2"]);
    assert.notEqual(a, b);
  });

  test("release() forgets an object only when its list is empty", () => {
    const registry = create();
    const room = registry.forObject("room");
    room.add("a", ["x"]);
    registry.release("room");
    assert.equal(registry.forObject("room"), room);
    assert.deepEqual(room.list(), ["a"]);
    room.remove("a");
    registry.release("room");
    const fresh = registry.forObject("room");
    assert.notEqual(fresh, room);
    assert.equal(fresh.size, 0);
    assert.deepEqual(fresh.list(), []);
    registry.release("never-created");
    assert.equal(registry.forObject("room"), fresh);
  });

  test("retag moves a socket between tag lists at once and keeps each list oldest accepted first", () => {
    const room = create().forObject("room");
    room.add("a", []);
    room.add("b", ["x"]);
    room.add("c", ["x"]);
    const x = room.list("x");
    const all = room.list();
    room.retag("a", ["x", "y"]);
    assert.deepEqual(room.list("x"), ["a", "b", "c"]);
    assert.notEqual(room.list("x"), x);
    assert.deepEqual(room.list("y"), ["a"]);
    assert.equal(room.list(), all);
    room.retag("b", ["y"]);
    assert.deepEqual(room.list("x"), ["a", "c"]);
    assert.deepEqual(room.list("y"), ["a", "b"]);
    room.retag("a", []);
    assert.deepEqual(room.list("x"), ["c"]);
    assert.deepEqual(room.list("y"), ["b"]);
    room.remove("b");
    assert.deepEqual(room.list("y"), []);
    assert.equal(room.size, 2);
  });

  test("retag of a socket that is not listed changes nothing", () => {
    const room = create().forObject("room");
    room.add("a", ["x"]);
    const x = room.list("x");
    room.retag("gone", ["x"]);
    assert.equal(room.list("x"), x);
    assert.deepEqual(room.list(), ["a"]);
  });
}
