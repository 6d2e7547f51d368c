import assert from "node:assert/strict";
import { MAX_TAG_BYTES, MAX_TAGS, normalizeTags, utf8Length } from "../../src/sockets/tags.ts";

const ten = Array.from({ length: 10 }, (_, i) => `t${i}`);

Deno.test("normalizeTags keeps up to 10 distinct tags in order, drops duplicates keeping the first, and String()-converts", () => {
  assert.equal(MAX_TAGS, 10);
  const tags = normalizeTags([...ten, "t3", "t0"]);
  assert.deepEqual(tags, ten);
  assert.ok(Object.isFrozen(tags));
  assert.deepEqual(normalizeTags(["b", "a", "b", 1, null, { toString: () => "c" }]), [
    "b",
    "a",
    "1",
    "null",
    "c",
  ]);
  assert.deepEqual(normalizeTags(undefined), []);
  assert.deepEqual(normalizeTags([]), []);
});

Deno.test("normalizeTags rejects an 11th distinct tag with a RangeError naming the limit and the distinct count", () => {
  assert.throws(() => normalizeTags([...ten, "t0", "new", "t1"]), {
    name: "RangeError",
    message: "Cannot accept WebSocket as it has more than 10 tags: current count is 11",
  });
});

Deno.test("normalizeTags limits each tag to 256 UTF-8 bytes, which utf8Length counts", () => {
  assert.equal(MAX_TAG_BYTES, 256);
  assert.deepEqual([utf8Length("abc"), utf8Length("é"), utf8Length("€"), utf8Length("😀")], [
    3,
    2,
    3,
    4,
  ]);
  const fits = ["x".repeat(256), "é".repeat(128), "😀".repeat(64)];
  assert.deepEqual(normalizeTags(fits), fits);
  for (const [tag, bytes] of [["x".repeat(257), 257], ["é".repeat(129), 258]] as const) {
    assert.throws(() => normalizeTags(["ok", tag]), {
      name: "RangeError",
      message: `Cannot accept WebSocket as a tag exceeds 256 UTF-8 bytes: current size is ${bytes}`,
    });
  }
});

Deno.test("normalizeTags rejects a non-array or a Symbol with a TypeError, checking every tag before it returns", () => {
  for (
    const [value, shown] of [["abc", '"abc"'], [null, "null"], [new Set(["a"]), "[object Set]"]]
  ) {
    assert.throws(() => normalizeTags(value), {
      name: "TypeError",
      message: `Cannot accept WebSocket as tags must be an array: current value is ${shown}`,
    });
  }
  // The bad tag comes last: nothing is returned for the good ones, and the input is untouched.
  const input: unknown[] = ["a", "b", Symbol("s")];
  assert.throws(() => normalizeTags(input), {
    name: "TypeError",
    message: "Cannot accept WebSocket as a tag is a Symbol: tags must be strings",
  });
  assert.equal(input.length, 3);
  assert.deepEqual(input.slice(0, 2), ["a", "b"]);
});
