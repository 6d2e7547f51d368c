// The backoffs between retries are short real waits (10, 40 and 160 ms) by design: they wait
// for SQLite contention to pass, not for idle time, so no clock drives them.
import assert from "node:assert/strict";
import { KvError } from "../../src/errors.ts";
import { commitWithRetry, withRetry } from "../../src/kv/retry.ts";
import { interceptKv } from "../_intercept_kv.ts";

/** A `:memory:` KV whose next `failures` commits throw `error()` instead of committing. */
async function failingKv(failures: number, error: () => Error) {
  const real = await Deno.openKv(":memory:");
  const state = { failures, commits: 0 };
  const kv = interceptKv(real, {
    commit(commit) {
      state.commits++;
      if (state.failures-- > 0) return Promise.reject(error());
      return commit();
    },
  });
  return { kv, state, [Symbol.dispose]: () => real.close() };
}

Deno.test('commitWithRetry retries a commit that fails with "database is locked" and the write lands', async () => {
  using db = await failingKv(2, () => new TypeError("database is locked"));
  await commitWithRetry(() => db.kv.atomic().set(["k"], "v"));
  assert.equal(db.state.commits, 3);
  assert.equal((await db.kv.get(["k"])).value, "v");
});

Deno.test("withRetry gives up after three retries of a transient error with a KvError naming the operation", async () => {
  const cause = new Error("SQLITE_BUSY: database is busy");
  let calls = 0;
  await assert.rejects(
    withRetry("flush", () => {
      calls++;
      return Promise.reject(cause);
    }),
    (error) => {
      assert.ok(error instanceof KvError);
      assert.equal(error.message, "Cannot complete KV flush: SQLITE_BUSY: database is busy");
      assert.equal(error.cause, cause);
      return true;
    },
  );
  assert.equal(calls, 4, "the first try and three retries");
});

Deno.test("an error other than contention is never retried: withRetry wraps it in a KvError, commitWithRetry rethrows it", async () => {
  using db = await failingKv(1, () => new TypeError("value too large"));
  await assert.rejects(commitWithRetry(() => db.kv.atomic().set(["k"], "v")), {
    name: "TypeError",
    message: "value too large",
  });
  assert.equal(db.state.commits, 1);
  assert.equal((await db.kv.get(["k"])).value, null);

  let calls = 0;
  await assert.rejects(
    withRetry("list", () => {
      calls++;
      return Promise.reject(new RangeError("bad key"));
    }),
    { name: "KvError", message: "Cannot complete KV list: bad key" },
  );
  assert.equal(calls, 1);
});

Deno.test("commitWithRetry takes a rejected check as an error and does not retry it", async () => {
  await using kv = await Deno.openKv(":memory:");
  await kv.set(["k"], "first");
  let builds = 0;
  await assert.rejects(
    commitWithRetry(() => {
      builds++;
      return kv.atomic().check({ key: ["k"], versionstamp: null }).set(["k"], "second");
    }),
    { message: "atomic commit was rejected" },
  );
  assert.equal(builds, 1);
  assert.equal((await kv.get(["k"])).value, "first");
});
