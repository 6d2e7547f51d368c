import assert from "node:assert/strict";
import { App, type ExportedHandler } from "../mod.ts";

Deno.test("new App() refuses a worker without fetch, and a worker together with fallback, with a TypeError", () => {
  assert.throws(
    () => new App({ objects: {}, worker: {} as ExportedHandler }),
    { name: "TypeError", message: /worker has no fetch method/ },
  );
  assert.throws(
    () =>
      new App({
        objects: {},
        worker: { fetch: () => new Response("w") },
        fallback: () => new Response("f"),
      }),
    { name: "TypeError", message: /both worker and fallback/ },
  );
});

Deno.test("maxSocketsPerObject above 32768 is a RangeError naming the limit and the value", () => {
  assert.throws(() => new App({ objects: {}, maxSocketsPerObject: 40_000 }), {
    name: "RangeError",
    message: /maxSocketsPerObject exceeds 32768 .*: current value is 40000$/,
  });
  new App({ objects: {}, maxSocketsPerObject: 32_768 }); // the limit itself is fine
});
