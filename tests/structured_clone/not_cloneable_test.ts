// Platform objects and registered classes are a DataCloneError naming the
// type, where node:v8 would write them as plain objects.
import assert from "node:assert/strict";
import { deserialize, serialize } from "node:v8";
import { decode } from "../../src/structured_clone/decode.ts";
import { encode } from "../../src/structured_clone/encode.ts";
import { markNotCloneable } from "../../src/structured_clone/not_cloneable.ts";

/** Asserts that `fn` throws a DataCloneError naming `type`. */
function assertRefused(fn: () => unknown, type: string, label = type): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof DOMException, `${label}: ${String(error)}`);
    assert.equal(error.name, "DataCloneError", label);
    assert.ok(
      error.message.startsWith(`Could not serialize object of type "${type}".`),
      error.message,
    );
    return true;
  }, label);
}

Deno.test("web platform objects throw a DataCloneError naming their type where node:v8 writes a plain object", () => {
  const stream = new ReadableStream();
  const cases: [string, object][] = [
    ["Request", new Request("https://example.com/")],
    ["Response", new Response("body")],
    ["Headers", new Headers({ a: "b" })],
    ["URL", new URL("https://example.com/a?b=1")],
    ["URLSearchParams", new URLSearchParams("a=1")],
    ["Blob", new Blob(["x"])],
    ["File", new File(["x"], "f.txt")],
    ["ReadableStream", stream],
    ["FormData", new FormData()],
    ["AbortController", new AbortController()],
    ["AbortSignal", AbortSignal.abort()],
    ["Event", new Event("x")],
    ["EventTarget", new EventTarget()],
    ["TextEncoder", new TextEncoder()],
    ["KvU64", new Deno.KvU64(1n)],
  ];
  for (const [type, value] of cases) {
    const lost = deserialize(serialize(value));
    assert.equal(Object.getPrototypeOf(lost), Object.prototype, `${type}: node:v8 loses the type`);
    assertRefused(() => encode(value), type);
    assertRefused(() => encode({ nested: [1, { value }] }), type, `${type} nested`);
    assertRefused(() => encode(new Map([["k", value]])), type, `${type} in a Map`);
  }
  // Inside a class instance (which goes to node:v8), and in a subclass of its own.
  class Holder {
    url = new URL("https://example.com/");
  }
  assertRefused(() => encode({ holder: new Holder() }), "URL", "inside a class instance");
  class MyHeaders extends Headers {}
  assertRefused(() => encode(new MyHeaders()), "MyHeaders", "a subclass");
  // The message says what to store instead.
  assert.throws(() => encode(new URL("https://example.com/")), /store url\.href instead/);
});

Deno.test("markNotCloneable makes a class and its subclasses throw a DataCloneError with the given name", () => {
  class Secret {
    #hidden = 1;
    get hidden() {
      return this.#hidden;
    }
  }
  class Sub extends Secret {}
  assert.deepEqual(decode(encode(new Sub())), {}, "before: written as {}");
  markNotCloneable(Secret.prototype, "Secret");
  assertRefused(() => encode(new Secret()), "Secret");
  assertRefused(() => encode(new Sub()), "Secret", "subclass");
  assertRefused(() => encode({ list: [new Sub()] }), "Secret", "nested");
  assert.throws(() => encode(new Secret()), /store plain data \(its fields\) instead/);
});
