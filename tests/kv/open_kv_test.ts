import assert from "node:assert/strict";
import { join } from "node:path";
import { App, DurableObject } from "../../mod.ts";
import { openKv } from "../../src/kv/open_kv.ts";
import { testClient } from "../../src/testing/mod.ts";
import { startServerProcess } from "../_helpers.ts";

/** A temp directory removed afterwards. */
async function tempDir(): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix: "dormant_open_kv_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("openKv() shares one handle per path; closing one lease keeps the other usable", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "shared.sqlite3");
  const first = await openKv(path);
  const second = await openKv(path);
  assert.equal(first.kv, second.kv);

  await first.kv.set(["k"], 1);
  first.release();
  first.release(); // a second release of the same lease changes nothing
  assert.equal((await second.kv.get(["k"])).value, 1);
  await second.kv.set(["k"], 2);

  second.release();
  // The last release closed the handle: the next open gets a new one, with the data.
  const third = await openKv(path);
  try {
    assert.notEqual(third.kv, first.kv);
    assert.equal((await third.kv.get(["k"])).value, 2);
  } finally {
    third.release();
  }
});

Deno.test("openKv() shares one handle between concurrent opens of the same path", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "concurrent.sqlite3");
  const leases = await Promise.all([openKv(path), openKv(path), openKv(path)]);
  try {
    assert.equal(leases[0]!.kv, leases[1]!.kv);
    assert.equal(leases[1]!.kv, leases[2]!.kv);
  } finally {
    for (const lease of leases) lease.release();
  }
});

Deno.test("openKv() shares one handle for two spellings of the same file", async () => {
  await using dir = await tempDir();
  const first = await openKv(join(dir.path, "same.sqlite3"));
  const second = await openKv(`${dir.path}/./same.sqlite3`);
  try {
    assert.equal(first.kv, second.kv);
  } finally {
    first.release();
    second.release();
  }
});

Deno.test('openKv(":memory:") never shares: each open is a private database', async () => {
  const first = await openKv(":memory:");
  const second = await openKv(":memory:");
  try {
    assert.notEqual(first.kv, second.kv);
    await first.kv.set(["k"], 1);
    assert.equal((await second.kv.get(["k"])).value, null);
  } finally {
    first.release();
    first.release(); // idempotent, as for shared leases
    second.release();
  }
});

class Counter extends DurableObject {
  async add(by: number): Promise<number> {
    const n = ((await this.ctx.storage.get<number>("n")) ?? 0) + by;
    await this.ctx.storage.put("n", n);
    return n;
  }
}

Deno.test("two apps with the same kvPath share one handle: closing one app keeps the other's KV working", async () => {
  await using dir = await tempDir();
  const kvPath = join(dir.path, "app.sqlite3");
  const first = new App({ objects: { COUNTER: Counter }, kvPath });
  await using second = new App({ objects: { COUNTER: Counter }, kvPath });
  assert.equal(await first.env.COUNTER.getByName("a").add(1), 1);
  assert.equal(await second.env.COUNTER.getByName("b").add(5), 5);
  await first.close();
  assert.equal(await second.env.COUNTER.getByName("b").add(1), 6);
  // The first app's write is durable in the same file.
  assert.equal(await second.env.COUNTER.getByName("a").add(1), 2);
});

Deno.test("openKv() creates the folder of a local database file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lease = await openKv(`${dir}/a/b/app.sqlite3`);
    await lease.kv.set(["k"], 1);
    lease.release();
    assert.ok((await Deno.stat(`${dir}/a/b/app.sqlite3`)).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const ROOM_SERVER = new URL("../http/fixtures/room_server.ts", import.meta.url).pathname;

Deno.test("an app without kv or kvPath runs with --allow-net alone: it serves a room in memory, asks for no env permission and reports nothing", async () => {
  // Deciding on Deno Deploy's database reads DENO_DEPLOY only when env permission is granted.
  const server = await startServerProcess(["run", "--allow-net", ROOM_SERVER, "app.serve"]);
  const client = await testClient(`ws://127.0.0.1:${server.port}/rooms/a`);
  client.socket.send("hello");
  assert.equal(await client.next(), "hello");
  server.child.kill("SIGTERM");
  assert.equal((await client.closed).code, 1001);
  assert.equal((await server.status).code, 0);
  assert.equal(await server.stdout, "", "nothing reported to onException");
  assert.equal(await server.stderr, `${server.line}\n`, "no permission error or prompt");
});
