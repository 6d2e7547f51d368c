import assert from "node:assert/strict";
import { Serializer } from "node:v8";
import { codecStats } from "../../src/structured_clone/codec_stats.ts";
import { decode } from "../../src/structured_clone/decode.ts";
import { encode } from "../../src/structured_clone/encode.ts";

Deno.test("codecStats counts one encode fallback per value handed to node:v8, none for a plain record", () => {
  const before = codecStats.encodeFallbacks;
  encode({ room: "abc", n: 1, list: [1, "two"], at: new Date(0) });
  assert.equal(codecStats.encodeFallbacks, before);
  encode({ at: new (class Point {})() });
  encode(new (class Registry extends Map {})());
  assert.equal(codecStats.encodeFallbacks, before + 2);
});

Deno.test("codecStats counts one decode fallback per byte string the codec does not read, none for its own", () => {
  const own = encode({ view: new Uint8Array([1, 2, 3]) });
  // A plain node:v8 Serializer writes views the V8 way, which the codec leaves to node:v8.
  const serializer = new Serializer();
  serializer.writeHeader();
  serializer.writeValue({ view: new Uint8Array([1, 2, 3]) });
  const foreign = new Uint8Array(serializer.releaseBuffer());

  const before = codecStats.decodeFallbacks;
  decode(own);
  assert.equal(codecStats.decodeFallbacks, before);
  decode(foreign);
  assert.equal(codecStats.decodeFallbacks, before + 1);
});
