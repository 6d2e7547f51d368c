// decode: what node:v8 reads is read, typed arrays own their bytes, and bytes
// that are not a serialized value throw a DataCloneError.
import assert from "node:assert/strict";
import { deserialize, Serializer } from "node:v8";
import { decode } from "../../src/structured_clone/decode.ts";
import { encode } from "../../src/structured_clone/encode.ts";
import { assertSameGraph, fallbacks } from "./_assert_same_graph.ts";

Deno.test("decode falls back to v8.deserialize for tags it does not read, on a copy of the bytes", () => {
  // A plain node:v8 Serializer writes views the V8 way ('B' buffer + 'V'), not as host objects.
  const serializer = new Serializer();
  serializer.writeHeader();
  serializer.writeValue({ view: new Uint8Array([1, 2, 3]) });
  const bytes = new Uint8Array(serializer.releaseBuffer());
  let value!: { view: Uint8Array };
  assert.equal(fallbacks(() => (value = decode(bytes) as typeof value)).decode, 1);
  assertSameGraph(value, deserialize(bytes));
  value.view.fill(0);
  assert.deepEqual([...(decode(bytes) as typeof value).view], [1, 2, 3]);
});

Deno.test("a decoded typed array owns its bytes: mutating it leaves the encoded bytes alone", () => {
  const bytes = encode({ view: new Uint8Array([1, 2, 3]), floats: new Float64Array([1.5]) });
  const first = decode(bytes) as { view: Uint8Array; floats: Float64Array };
  assert.equal(first.view.byteOffset, 0);
  assert.equal(first.view.buffer.byteLength, 3);
  assert.notEqual(first.view.buffer, bytes.buffer);
  first.view.fill(9);
  first.floats[0] = 0;
  const second = decode(bytes) as typeof first;
  assert.deepEqual([...second.view], [1, 2, 3]);
  assert.deepEqual([...second.floats], [1.5]);
});

/** Asserts that decoding `bytes` throws a DataCloneError whose message matches `pattern`. */
function assertCorrupt(bytes: number[], pattern: RegExp, label: string): void {
  assert.throws(() => decode(new Uint8Array(bytes)), (error: unknown) => {
    assert.ok(error instanceof DOMException, `${label}: ${String(error)}`);
    assert.equal(error.name, "DataCloneError", label);
    assert.match(error.message, /^Could not deserialize value: /, label);
    assert.match(error.message, pattern, label);
    return true;
  }, label);
}

Deno.test("corrupt bytes throw a DataCloneError that says what broke and where", () => {
  const good = [...encode({ room: "abc", n: 12345 })];
  assertCorrupt(good.slice(0, -3), /unexpected end at byte 20 of 20/, "truncated");
  assertCorrupt(
    [0xff, 0x0f, 0x6f, 0x22, 0x05],
    /a string of 5 bytes past the end at byte 5 of 5/,
    "string",
  );
  assertCorrupt([], /unexpected end at byte 0 of 0/, "empty");
  assertCorrupt([0x6f, 0x7b, 0x00], /no V8 serialization header at byte 1 of 3/, "no header");
  assertCorrupt([0xff, 0x0f, 0x6f, 0x7b, 0x03], /object property count/, "wrong count");
  assertCorrupt([0xff, 0x0f, 0x5e, 0x07], /a reference to no object at byte 4/, "dangling ref");
  assertCorrupt([0xff, 0x0f, 0x49, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], /varint/, "long varint");
  // A well-formed header with a tag neither reader knows: node:v8 is asked, then the error is ours.
  assertCorrupt([0xff, 0x0f, 0x01], /neither the codec nor node:v8 reads these 3 bytes/, "tag");
});
