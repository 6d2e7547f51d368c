// The ObjectDirectory conformance suite against a ClusterDirectory whose objects all live on
// another node: node "b" locates, connects and calls; node "a" owns and runs every object.
import assert from "node:assert/strict";
import { DurableObject, ObjectElsewhereError, OwnerUnavailableError } from "../../mod.ts";
import { directoryOf } from "../../src/objects/namespace.ts";
import { hibernateNow } from "../../src/testing/mod.ts";
import { objectDirectoryConformance } from "../objects/_object_directory_conformance.ts";
import { startCluster } from "./_cluster.ts";

objectDirectoryConformance("cluster directory, objects on another node", async (objects, env) => {
  const cluster = await startCluster(objects, { env });
  const [owner, holder] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]];
  const binding = Object.keys(objects)[0]!;
  return {
    directory: directoryOf(holder.namespace(binding)),
    idFromName: (b, name) => holder.namespace(b).idFromName(name),
    connect: (b, name) => holder.connect(`/${b}/${name}`),
    hibernate: (b, id) => hibernateNow(owner.app, b, id),
    [Symbol.asyncDispose]: () => cluster[Symbol.asyncDispose](),
  };
});

class Counter extends DurableObject {
  static readonly storageName = "counter";
  n = 0;
  add(by: number): number {
    return this.n += by;
  }
}

Deno.test("a call to an owner that goes silent fails with OwnerUnavailableError once its beats stop, and is not sent twice", async () => {
  await using cluster = await startCluster({ COUNTER: Counter });
  const [, b] = cluster.nodes;
  const stub = b!.namespace("COUNTER").getByName("x") as unknown as { add(n: number): number };
  assert.equal(await stub.add(1), 1);
  cluster.network.silenced.add("a");
  const failed = assert.rejects(Promise.resolve(stub.add(1)), (error: unknown) => {
    assert.ok(error instanceof OwnerUnavailableError);
    assert.match(error.message, /node a owns it and it did not answer \(node a is gone\)/);
    return true;
  });
  for (let i = 0; i < 4; i++) {
    await b!.clock.advance(1_000);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await failed;
  cluster.network.silenced.clear();
  assert.equal(await stub.add(1), 2, "the silent call never ran twice");
});

Deno.test("a call without a transport to an object owned elsewhere fails with ObjectElsewhereError", async () => {
  await using cluster = await startCluster({ COUNTER: Counter }, { noTransport: true });
  const [, b] = cluster.nodes;
  const stub = b!.namespace("COUNTER").getByName("x") as unknown as { add(n: number): number };
  await assert.rejects(Promise.resolve(stub.add(1)), ObjectElsewhereError);
});
