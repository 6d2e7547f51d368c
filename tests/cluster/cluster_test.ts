import assert from "node:assert/strict";
import { injectedPlacement, withPlacement } from "../../src/cluster/cluster.ts";
import { FixedPlacement } from "./_fixed_placement.ts";

Deno.test("a placement is injected under a symbol: no string key reaches the options", () => {
  const placement = new FixedPlacement("a", "a");
  const options = withPlacement({ objects: {} }, placement, { requestTimeoutMs: 10 });
  assert.deepEqual(Object.keys(options), ["objects"]);
  assert.equal(injectedPlacement(options)?.placement, placement);
  assert.equal(injectedPlacement(options)?.tuning.requestTimeoutMs, 10);
  assert.equal(injectedPlacement({ objects: {} }), undefined);
});
