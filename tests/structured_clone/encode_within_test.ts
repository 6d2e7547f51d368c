import assert from "node:assert/strict";
import { decode } from "../../src/structured_clone/decode.ts";
import { encodeWithin } from "../../src/structured_clone/encode_within.ts";

Deno.test("encodeWithin() returns the bytes of a value within the limit", () => {
  const bytes = encodeWithin({ room: "a", n: 1 }, 64, "put value");
  assert.deepEqual(decode(bytes), { room: "a", n: 1 });
});

Deno.test("encodeWithin() over the limit is a RangeError naming the action, the limit and the size", () => {
  assert.throws(() => encodeWithin("x".repeat(100), 50, "put value"), {
    name: "RangeError",
    message: /^Cannot put value as it exceeds 50 bytes: current size is \d+$/,
  });
});

Deno.test("encodeWithin() makes every clone failure a DataCloneError, keeping the codec's own message", () => {
  assert.throws(() => encodeWithin(() => 1, 1024, "serialize attachment"), (error) => {
    assert.ok(error instanceof DOMException);
    assert.equal(error.name, "DataCloneError");
    return true;
  });
  assert.throws(() => encodeWithin(new URL("http://x/"), 1024, "serialize attachment"), {
    name: "DataCloneError",
    message: /URL/,
  });
});
