/**
 * Graceful handoff with real processes on one shared KV file (fast: part of
 * `deno task test`; the long fault scenarios are in `faults_test.ts`).
 * Durations are printed, never asserted.
 */
import assert from "node:assert/strict";
import { testClient } from "../../../src/testing/mod.ts";
import { post, withCluster } from "./_cluster.ts";

Deno.test("SIGTERM hands the objects over at once: sockets close 1012 and another node claims without waiting for the TTL", async () => {
  await withCluster(2, async ([a, b]) => {
    assert.equal((await post(a!, "/o/t/write?seq=0")).status, 200);
    const client = await testClient(`ws://127.0.0.1:${a!.port}/ws/t`);
    const started = performance.now();
    a!.child.kill("SIGTERM");
    const closed = await client.closed;
    const closedAt = performance.now() - started;
    assert.equal(closed.code, 1012);
    assert.equal((await a!.status).code, 0);
    const exited = performance.now() - started;
    const first = await post(b!, "/o/t/write?seq=1");
    const firstAt = performance.now() - started;
    assert.equal(first.status, 200, "claimed at once: the record was released");
    console.log(
      `SIGTERM → socket closed 1012: ${closedAt.toFixed(0)} ms, process exited: ${
        exited.toFixed(0)
      } ms, ` +
        `first write on the new owner: ${firstAt.toFixed(0)} ms`,
    );
  });
});
