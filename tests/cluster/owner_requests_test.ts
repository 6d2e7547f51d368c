// The owner's side of requests: a node that no longer owns an object answers "not owner", and the
// caller invalidates its cached owner, re-resolves once and reaches the new owner.
import assert from "node:assert/strict";
import { DurableObject } from "../../mod.ts";
import { serveRequest } from "../../src/cluster/owner_requests.ts";
import { NOT_OWNER } from "../../src/cluster/wire.ts";
import { KvError, ObjectMovedError } from "../../src/errors.ts";
import { startCluster } from "./_cluster.ts";

class Counter extends DurableObject {
  static readonly storageName = "counter";
  async add(by: number): Promise<number> {
    const n = (await this.ctx.storage.get<number>("n") ?? 0) + by;
    await this.ctx.storage.put("n", n);
    return n;
  }
  fetch(request: Request): Response {
    return new Response(`${request.method} ${new URL(request.url).pathname}`, { status: 202 });
  }
}

type Adder = { add(n: number): Promise<number> };

Deno.test("a request for an object the node no longer owns is re-resolved once to the new owner", async () => {
  await using cluster = await startCluster({ COUNTER: Counter }, {
    nodes: ["a", "b", "c"],
    kvPlacement: true,
  });
  const [a, b, c] = cluster.nodes;
  const stub = (node: typeof a) => node!.namespace("COUNTER").getByName("x") as unknown as Adder;
  assert.equal(await stub(a).add(1), 1, "a claims x");
  assert.equal(await stub(b).add(1), 2, "b reaches a and caches it as the owner");
  // a stalls past its lease by c's clock: c takes x over (a's lease is deleted with the claim).
  await c!.clock.advance(5_000);
  assert.equal(await stub(c).add(0), 2, "c owns x now, its storage intact");
  // a's next write is fenced: it steps down from x but still answers on the transport.
  await assert.rejects(stub(a).add(100), ObjectMovedError);
  // b still believes a owns x; a answers "not owner", b re-resolves to c.
  cluster.network.resetCounts();
  assert.equal(await stub(b).add(5), 7, "the write reached c");
  assert.equal(cluster.network.sentTo.get(a!.node), 1, "asked a first");
  assert.equal(cluster.network.sentTo.get(c!.node), 1, "then c");
  assert.equal(await stub(c).add(0), 7);
});

Deno.test("a fetch to a remote owner carries method, path, status and body", async () => {
  await using cluster = await startCluster({ COUNTER: Counter });
  const [, b] = cluster.nodes;
  const stub = b!.namespace("COUNTER").getByName("f");
  const response = await stub.fetch(
    new Request("http://do/some/path", { method: "POST", body: "x" }),
  );
  assert.equal(response.status, 202);
  assert.equal(await response.text(), "POST /some/path");
});

Deno.test("a node shutting down answers 'not owner' when it cannot claim the object, so the caller claims it elsewhere", async () => {
  const refused = new KvError("claim", new Error("the app is shutting down"));
  const parts = (draining: boolean) =>
    ({
      tables: () => [{ runtime: { storageName: "counter" } }],
      placement: () =>
        Promise.resolve({
          node: "a",
          locate: () => Promise.reject(refused),
          invalidate: () => {},
          onLost: () => {},
        }),
      draining: () => draining,
    }) as unknown as Parameters<typeof serveRequest>[0];
  const body = { k: "call", s: "counter", i: "00", n: "x" };
  assert.deepEqual(await serveRequest(parts(true), "b", body), { status: NOT_OWNER, body: null });
  await assert.rejects(serveRequest(parts(false), "b", body), KvError);
});
