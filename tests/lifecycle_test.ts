import assert from "node:assert/strict";
import { App } from "../mod.ts";
import { interceptKv } from "./_intercept_kv.ts";
import { ChatRoom } from "./http/_chat_worker.ts";

Deno.test("a failed app start is not cached: the next call starts the app again", async () => {
  const real = await Deno.openKv(":memory:");
  let failures = 1;
  const kv = interceptKv(real, {
    ownership: true, // an outage: the node lease cannot be written either
    commit(commit) {
      if (failures-- > 0) return Promise.reject(new Error("injected KV outage"));
      return commit();
    },
  });
  try {
    await using app = new App({ objects: { ROOMS: ChatRoom }, env: { closes: [], calls: [] }, kv });
    await assert.rejects(app.ready(), { message: "injected KV outage" });
    const response = await app.fetch(new Request("http://localhost/"));
    assert.equal(await response.text(), "Not Found"); // started this time
    assert.equal(await app.env.ROOMS.getByName("a").open(), 0);
  } finally {
    real.close();
  }
});
