import assert from "node:assert/strict";
import { App, DurableObject } from "../../mod.ts";
import { Router } from "../../src/http/router.ts";

const PATTERNS = [
  "/rooms/:room/ws",
  "/echo/:name",
  "/a.b/~x/:id",
  "/o/:ns/:id/ws",
  "/files/*",
  "/v{1}?/:name",
];
const URLS = [
  "http://h/rooms/lobby/ws",
  "http://h/rooms/lobby/ws/",
  "http://h/rooms//ws",
  "http://h/rooms/a%20b/ws?name=x#frag",
  "http://h/rooms/%C3%A9t%C3%A9/ws",
  "http://h/rooms/a/b/ws",
  "http://h/Rooms/lobby/ws",
  "http://h/echo/x?y=/z",
  "http://h/echo/",
  "http://h/echo",
  "http://h:8080/echo/abc#x/y",
  "http://h/a.b/~x/123",
  "http://h/aXb/~x/123",
  "http://h/o/ROOM/abc/ws",
  "http://h/files/a/b",
  "http://h/v1/n",
  "http://h/n",
  "http://h/",
];

Deno.test("Router's fast path for simple patterns matches exactly what URLPattern matches", () => {
  for (const pattern of PATTERNS) {
    const router = new Router([{ pattern, object: "X", name: () => "n" }], new Set(["X"]));
    const reference = new URLPattern({ pathname: pattern });
    for (const url of URLS) {
      const expected = reference.exec(url)?.pathname.groups ?? null;
      const got = router.match(new Request(url))?.params ?? null;
      assert.deepEqual(
        got === null ? null : { ...got },
        expected === null ? null : { ...expected },
        `${pattern} on ${url}`,
      );
    }
  }
});

Deno.test("Router tries routes in order and reads names and ids from their groups", () => {
  const router = new Router([
    { pattern: "/o/:id", object: "X", id: "id" },
    { pattern: "/r/:room", object: "X", name: "room" },
    { pattern: "/n/:name", object: "X" },
    { pattern: { pathname: "/full/:name", search: "k=:v" }, object: "X" },
  ], new Set(["X"]));
  assert.deepEqual(router.match(new Request("http://h/o/abc"))?.id, "abc");
  assert.deepEqual(router.match(new Request("http://h/r/lobby"))?.name, "lobby");
  assert.deepEqual(router.match(new Request("http://h/n/x"))?.name, "x");
  assert.equal(router.match(new Request("http://h/full/x?k=1"))?.name, "x");
  assert.equal(router.match(new Request("http://h/full/x?j=1")), null);
  assert.equal(router.match(new Request("http://h/zzz")), null);
  assert.throws(() => new Router([{ pattern: "/a", object: "Y" }], new Set(["X"])), TypeError);
});

Deno.test("new App() refuses a route whose pathname lacks the name or id group, listing its groups and the options", async () => {
  class Room extends DurableObject {}
  const build = (route: Record<string, unknown>) => () =>
    new App({ objects: { ROOM: Room }, routes: [{ object: "ROOM", ...route } as never] });
  assert.throws(build({ pattern: "/rooms/:room/ws" }), {
    name: "TypeError",
    message:
      'Cannot add route 0 ("/rooms/:room/ws") as its pathname has neither a :name nor an :id group: its groups are :room. Name the group :name, set name: "room" (a group, or a function of the match), or set id: "room" for a group holding 64-hex ids',
  });
  assert.throws(build({ pattern: "/rooms/:room", name: "roomName" }), {
    name: "TypeError",
    message: /has no group "roomName" \(the name option\): its groups are :room\. Set name to one/,
  });
  assert.throws(build({ pattern: { pathname: "/o/:key" }, id: "id" }), {
    name: "TypeError",
    message: /has no group "id" \(the id option\): its groups are :key/,
  });
  assert.throws(build({ pattern: { hostname: ":name.example.com" } }), {
    name: "TypeError",
    message:
      /route 0 \("\*"\) as its pathname has neither a :name nor an :id group: its groups are none/,
  });
  assert.throws(build({ pattern: "/r/:name/:id", name: "name", id: "id" }), {
    name: "TypeError",
    message: /sets both name and id/,
  });
  // Accepted: the default groups, a named group, an id group, a name function, escapes.
  for (
    const route of [
      { pattern: "/r/:name" },
      { pattern: "/r/:id" },
      { pattern: "/r/:room", name: "room" },
      { pattern: { pathname: "/o/:key(\\w+)" }, id: "key" },
      { pattern: "/anything/*", name: () => "fixed" },
    ]
  ) {
    await using _app = build(route)();
  }
  assert.throws(build({ pattern: "/r/\\:name" }), TypeError); // an escaped colon is no group
});
