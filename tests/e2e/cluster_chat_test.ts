import assert from "node:assert/strict";
import { RedisServer } from "../_redis.ts";
import { assertAllKept, joinWithHistory, Member, startChat, stopChat } from "./_chat_cluster.ts";

Deno.test("chat under `deno serve --parallel` with 2 workers: two people on different isolates chat, see each other join and leave, and get the history", async () => {
  const dir = await Deno.makeTempDir();
  const chat = await startChat(
    { DENO_JOBS: "2", DORMANT_KV_PATH: `${dir}/chat.sqlite3` },
    { parallel: true },
  );
  const members: Member[] = [];
  try {
    const ann = await Member.join(chat.port, "lobby", "ann");
    members.push(ann);
    assert.ok(ann.node, "the handshake names the isolate");
    // Connections are spread over the workers by the kernel: open until one lands elsewhere.
    let ben: Member | undefined;
    for (let attempt = 0; attempt < 40 && ben === undefined; attempt++) {
      const candidate = await Member.join(chat.port, "lobby", "ben");
      members.push(candidate);
      if (candidate.node !== ann.node) ben = candidate;
      else await candidate.leave();
    }
    assert.ok(ben, "a socket landed on the other isolate");
    console.log(`ann on isolate ${ann.node}, ben on isolate ${ben.node}`);

    await ann.presence(["ann", "ben"]);
    await ben.presence(["ann", "ben"]);
    await ann.say("hello from ann");
    await ben.line("hello from ann");
    await ben.say("hello from ben");
    await ann.line("hello from ben");

    await ben.leave();
    const left = await ann.until("left", (e) => e.type === "left");
    assert.equal(left.user.name, "ben");
    await ann.presence(["ann"]);

    const { member: cat, history } = await joinWithHistory(chat.port, "lobby", "cat");
    members.push(cat);
    assert.deepEqual(history, ["hello from ann", "hello from ben"]);
    await ann.until("cat joins", (e) => e.type === "joined" && e.user.name === "cat");
  } finally {
    for (const member of members) await member.leave();
    const status = await stopChat(chat);
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.success, true, await chat.output);
  }
});

Deno.test("chat on three `deno run` processes sharing one KV file and Redis: people on different processes chat, see joins and leaves, and get the history", async () => {
  const dir = await Deno.makeTempDir();
  await using redis = await RedisServer.start();
  const env = {
    DORMANT_KV_PATH: `${dir}/chat.sqlite3`,
    DORMANT_REDIS_URL: redis.url,
    DORMANT_LEASE_TTL_MS: "2000",
  };
  const chats = await Promise.all([startChat(env), startChat(env), startChat(env)]);
  const members: Member[] = [];
  try {
    const [p1, p2, p3] = chats.map((c) => c.port) as [number, number, number];
    const ann = await Member.join(p1, "lobby", "ann");
    members.push(ann);
    await ann.presence(["ann"]);
    const ben = await Member.join(p2, "lobby", "ben");
    members.push(ben);
    const cat = await Member.join(p3, "lobby", "cat");
    members.push(cat);
    for (const m of [ann, ben, cat]) await m.presence(["ann", "ben", "cat"]);

    const started = performance.now();
    await ben.say("ben on p2");
    await Promise.all([ann.line("ben on p2"), cat.line("ben on p2")]);
    console.log(
      `a line from a bridged socket reached all three: ${
        (performance.now() - started).toFixed(1)
      } ms`,
    );
    await cat.say("cat on p3");
    await Promise.all([ann.line("cat on p3"), ben.line("cat on p3")]);
    await ann.say("ann on p1");
    await Promise.all([ben.line("ann on p1"), cat.line("ann on p1")]);

    await cat.leave();
    for (const m of [ann, ben]) {
      const left = await m.until("left", (e) => e.type === "left");
      assert.equal(left.user.name, "cat");
      await m.presence(["ann", "ben"]);
    }
    const { member: dan, history } = await joinWithHistory(p3, "lobby", "dan");
    members.push(dan);
    assertAllKept(history, ["ben on p2", "cat on p3", "ann on p1"]);
    assert.deepEqual(history, ["ben on p2", "cat on p3", "ann on p1"]);
    await ben.presence(["ann", "ben", "dan"]);
  } finally {
    for (const member of members) await member.leave();
    const statuses = await Promise.all(chats.map((c) => stopChat(c)));
    await Deno.remove(dir, { recursive: true });
    for (const [i, status] of statuses.entries()) {
      assert.equal(status.success, true, await chats[i]!.output);
    }
  }
});
