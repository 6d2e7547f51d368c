// Two real processes on one KV file, no transport configured: the default BroadcastChannel links
// only the isolates of one process, so the second refuses the first's object at once, with the fix.
import assert from "node:assert/strict";
import { startServerProcess } from "../../_helpers.ts";
import { NODE, post, stop, TTL } from "./_cluster.ts";

Deno.test("without a configured transport, a process refuses an object another process owns: 503 owned_elsewhere, naming the fix", async () => {
  const dir = await Deno.makeTempDir();
  const env = { PORT: "0", DORMANT_KV_PATH: `${dir}/cluster.sqlite3`, LEASE_TTL_MS: String(TTL) };
  // All permissions: the leases then carry the machine's boot id, which tells processes apart.
  const args = ["run", "--unstable-kv", "--allow-all", NODE];
  const first = await startServerProcess(args, env);
  const second = await startServerProcess(args, env);
  try {
    assert.equal((await post(first, "/o/room/write?seq=1")).status, 200, "the first claims it");
    const response = await fetch(`http://127.0.0.1:${second.port}/o/room/write?seq=2`, {
      method: "POST",
    });
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("x-dormant-error"), "owned_elsewhere");
    assert.match(await response.text(), /configure a Redis or KV transport/);
    const reports = (await stop(second)).trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(reports.map((r) => r.code), ["owned_elsewhere"]);
  } finally {
    await stop(first);
    await stop(second);
    await Deno.remove(dir, { recursive: true });
  }
});
