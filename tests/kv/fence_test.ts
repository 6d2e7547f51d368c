/** commitFenced on a real Deno KV (in memory). */
import assert from "node:assert/strict";
import { ObjectMovedError } from "../../src/errors.ts";
import { commitFenced, type Fence } from "../../src/kv/fence.ts";

function fenceOn(kv: Deno.Kv, versionstamp: string | null): Fence & { moved: number } {
  const fence = {
    moved: 0,
    check: () => ({ key: ["owner"], versionstamp }),
    async rejected(_s: string, _i: string, check: Deno.AtomicCheck) {
      const moved = (await kv.get(check.key)).versionstamp !== check.versionstamp;
      if (moved) fence.moved++;
      return moved;
    },
  };
  return fence;
}

Deno.test("a fenced commit writes while the owner record is unchanged", async () => {
  using kv = await Deno.openKv(":memory:");
  const owner = await kv.set(["owner"], "me");
  const result = await commitFenced(
    fenceOn(kv, owner.versionstamp),
    "S",
    "i",
    "commit",
    () => kv.atomic().set(["v"], 1),
  );
  assert.equal(result.ok, true);
  assert.equal((await kv.get(["v"])).value, 1);
});

Deno.test("a fenced commit after the owner record moved throws ObjectMovedError and writes nothing", async () => {
  using kv = await Deno.openKv(":memory:");
  const owner = await kv.set(["owner"], "me");
  await kv.set(["owner"], "someone else");
  const fence = fenceOn(kv, owner.versionstamp);
  await assert.rejects(
    commitFenced(fence, "S", "i", "commit", () => kv.atomic().set(["v"], 1)),
    ObjectMovedError,
  );
  assert.equal(fence.moved, 1);
  assert.equal((await kv.get(["v"])).versionstamp, null);
});

Deno.test("a commit whose own check failed (not the fence) resolves not ok", async () => {
  using kv = await Deno.openKv(":memory:");
  const owner = await kv.set(["owner"], "me");
  await kv.set(["v"], 0);
  const result = await commitFenced(
    fenceOn(kv, owner.versionstamp),
    "S",
    "i",
    "commit",
    () => kv.atomic().check({ key: ["v"], versionstamp: null }).set(["v"], 1),
  );
  assert.equal(result.ok, false);
});

Deno.test("without a fence the commit is plain", async () => {
  using kv = await Deno.openKv(":memory:");
  const result = await commitFenced(undefined, "S", "i", "commit", () => kv.atomic().set(["v"], 2));
  assert.equal(result.ok, true);
});
