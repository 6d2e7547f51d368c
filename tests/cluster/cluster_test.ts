import assert from "node:assert/strict";
import { injectedPlacement, withPlacement } from "../../src/cluster/cluster.ts";
import { DurableObject } from "../../mod.ts";
import { bootLeaseKey } from "../../src/kv/keys.ts";
import { until } from "../_helpers.ts";
import { startCluster } from "./_cluster.ts";
import { FixedPlacement } from "./_fixed_placement.ts";

Deno.test("a placement is injected under a symbol: no string key reaches the options", () => {
  const placement = new FixedPlacement("a", "a");
  const options = withPlacement({ objects: {} }, placement, { requestTimeoutMs: 10 });
  assert.deepEqual(Object.keys(options), ["objects"]);
  assert.equal(injectedPlacement(options)?.placement, placement);
  assert.equal(injectedPlacement(options)?.tuning.requestTimeoutMs, 10);
  assert.equal(injectedPlacement({ objects: {} }), undefined);
});

class Counter extends DurableObject {
  static readonly storageName = "counter";
  async add(by: number): Promise<number> {
    const n = (await this.ctx.storage.get<number>("n") ?? 0) + by;
    await this.ctx.storage.put("n", n);
    return n;
  }
}

type Adder = { add(n: number): Promise<number> };

Deno.test("a node that self-fenced and rejoined serves requests from another node for an object it claims afterwards", async () => {
  await using cluster = await startCluster({ COUNTER: Counter }, { kvPlacement: true });
  const [a, b] = cluster.nodes;
  const stub = (node: typeof a, name: string) =>
    node!.namespace("COUNTER").getByName(name) as unknown as Adder;
  assert.equal(await stub(a, "before").add(1), 1);
  const old = a!.node;
  // a's lease disappears (another node took it for dead): its next renewal finds it lost.
  await a!.kv.delete(bootLeaseKey(old));
  await a!.clock.advance(1_000);
  await until(() => a!.node !== old);
  assert.equal((await a!.kv.get(bootLeaseKey(a!.node))).versionstamp !== null, true);
  assert.equal(await stub(a, "after").add(2), 2, "a claims an object under its new id");
  assert.equal(await stub(b, "after").add(3), 5, "b reaches it there");
  assert.equal(await stub(a, "after").add(0), 5, "on a, not a copy on b");
});
