// The owner's side of requests: a node that no longer owns an object answers "not owner", and the
// caller invalidates its cached owner, re-resolves once and reaches the new owner.
import assert from "node:assert/strict";
import { DurableObject } from "../../mod.ts";
import { serveRequest } from "../../src/cluster/owner_requests.ts";
import { NOT_OWNER } from "../../src/cluster/wire.ts";
import { KvError } from "../../src/errors.ts";
import { startCluster } from "./_cluster.ts";

class Counter extends DurableObject {
  static readonly storageName = "counter";
  n = 0;
  add(by: number): number {
    return this.n += by;
  }
  fetch(request: Request): Response {
    return new Response(`${request.method} ${new URL(request.url).pathname}`, { status: 202 });
  }
}

Deno.test("a request for an object the node no longer owns is re-resolved once to the new owner", async () => {
  await using cluster = await startCluster({ COUNTER: Counter }, { nodes: ["a", "b", "c"] });
  const [a, b, c] = cluster.nodes;
  const stub = () =>
    b!.namespace("COUNTER").getByName("x") as unknown as { add(n: number): number };
  assert.equal(await stub().add(1), 1);
  // Ownership moves to c; b still believes a owns it, a knows it does not.
  a!.placement.ownerOf = () => "c";
  c!.placement.ownerOf = () => "c";
  let asked = 0;
  b!.placement.ownerOf = () => asked++ === 0 ? "a" : "c";
  assert.equal(await stub().add(5), 5, "a fresh instance on c");
  assert.equal(b!.placement.invalidated, 1);
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
