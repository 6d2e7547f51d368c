/**
 * The chat example as a cluster under faults: three `deno run` chat processes
 * on one KV file with a real redis-server, a 2 s lease TTL, members on
 * different processes (bridged sockets). Run with `deno task cluster` (tens of
 * seconds: not part of `deno task test`). Durations are printed, never asserted.
 */
import assert from "node:assert/strict";
import { RedisServer } from "../../_redis.ts";
import {
  assertAllKept,
  type ChatProcess,
  joinWithHistory,
  Member,
  retrying,
  startChat,
  stopChat,
} from "../_chat_cluster.ts";

type Cluster = { chats: ChatProcess[]; ports: number[]; redis: RedisServer; members: Member[] };

async function withChatCluster(
  test: (cluster: Cluster) => Promise<void>,
  extraEnv: Record<string, string> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const redis = await RedisServer.start();
  const env = {
    DORMANT_KV_PATH: `${dir}/chat.sqlite3`,
    DORMANT_REDIS_URL: redis.url,
    DORMANT_LEASE_TTL_MS: "2000",
    ...extraEnv,
  };
  const chats = await Promise.all([startChat(env), startChat(env), startChat(env)]);
  const cluster: Cluster = { chats, ports: chats.map((c) => c.port), redis, members: [] };
  try {
    await test(cluster);
  } finally {
    for (const member of cluster.members) await member.leave();
    await Promise.all(chats.map((c) => stopChat(c, "SIGKILL")));
    if (Deno.env.get("CHAT_DEBUG")) {
      for (const chat of chats) console.log(`--- chat on ${chat.port}:\n${await chat.output}`);
    }
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

async function join(cluster: Cluster, port: number, room: string, name: string): Promise<Member> {
  const member = await retrying(() => Member.join(port, room, name));
  cluster.members.push(member);
  return member;
}

/**
 * `member` says `text` after a fault. If its socket survives, the line comes
 * back on it; if the server closes it, the code is recorded and the person
 * joins again on the same process (as the page does) and says it there.
 */
async function sayAfterFault(
  cluster: Cluster,
  member: Member,
  room: string,
  text: string,
  since: number,
): Promise<{ member: Member; outcome: string; detail?: string }> {
  await member.say(text).catch(() => {});
  try {
    await member.line(text);
    return { member, outcome: "stayed connected" };
  } catch {
    const code = member.closed?.code ?? null;
    const closedMs = (performance.now() - since).toFixed(0);
    const again = await join(cluster, member.port, room, member.name);
    const joinedMs = (performance.now() - since).toFixed(0);
    await again.say(text);
    await again.line(text);
    return {
      member: again,
      outcome: `closed ${code}, rejoined`,
      detail: `closed after ${closedMs} ms, handshake accepted after ${joinedMs} ms`,
    };
  }
}

function acknowledged(cluster: Cluster): string[] {
  return cluster.members.flatMap((m) => m.seen);
}

for (const hibernated of [false, true]) {
  const room = hibernated ? "asleep" : "awake";
  Deno.test(`chat: kill -9 of the process owning a room (${room}); members on the other processes chat again after takeover and no acknowledged line is lost`, async () => {
    await withChatCluster(async (cluster) => {
      const [p1, p2, p3] = cluster.ports as [number, number, number];
      const ann = await join(cluster, p1, room, "ann"); // p1 claims the room
      await ann.presence(["ann"]);
      const ben = await join(cluster, p2, room, "ben");
      const cat = await join(cluster, p3, room, "cat");
      for (const m of [ann, ben, cat]) await m.presence(["ann", "ben", "cat"]);
      for (let i = 0; i < 5; i++) {
        await ben.say(`before ${i}`);
        await cat.line(`before ${i}`);
      }
      // A room that hibernated has its socket records in KV: its bridged sockets can resume.
      if (hibernated) await new Promise((resolve) => setTimeout(resolve, 1_500));

      const killed = performance.now();
      cluster.chats[0]!.child.kill("SIGKILL");
      const benAfter = await sayAfterFault(cluster, ben, room, "ben after the kill", killed);
      const benMs = performance.now() - killed;
      const catAfter = await sayAfterFault(cluster, cat, room, "cat after the kill", killed);
      await benAfter.member.line("cat after the kill");
      const bothMs = performance.now() - killed;
      console.log(
        `kill -9 of the owner of a room ${
          hibernated ? "that hibernated" : "awake"
        } (lease TTL 2000 ms): ben (p2) ${benAfter.outcome} (${
          benAfter.detail ?? ""
        }), chatting again after ${
          benMs.toFixed(0)
        } ms; cat (p3) ${catAfter.outcome}; both see each other after ${bothMs.toFixed(0)} ms`,
      );
      for (const outcome of [benAfter.outcome, catAfter.outcome]) {
        assert.match(outcome, /^(stayed connected|closed 1012, rejoined)$/);
      }

      const { member: dan, history } = await joinWithHistory(p2, room, "dan");
      cluster.members.push(dan);
      const twice = assertAllKept(history, acknowledged(cluster));
      console.log(
        `history after takeover: ${history.length} lines, kept twice: ${JSON.stringify(twice)}`,
      );
    }, hibernated ? { DORMANT_HIBERNATE_MS: "500" } : {});
  });
}

Deno.test("chat: SIGTERM of the process owning a room hands it over; its members get 1012, rejoin elsewhere and chat with the others", async () => {
  await withChatCluster(async (cluster) => {
    const [p1, p2, p3] = cluster.ports as [number, number, number];
    const ann = await join(cluster, p1, "term", "ann");
    await ann.presence(["ann"]);
    const ben = await join(cluster, p2, "term", "ben");
    for (const m of [ann, ben]) await m.presence(["ann", "ben"]);
    await ann.say("before the stop");
    await ben.line("before the stop");

    const stopped = performance.now();
    cluster.chats[0]!.child.kill("SIGTERM");
    const annCode = await ann.closeCode();
    const annClosedMs = performance.now() - stopped;
    assert.equal(annCode, 1012, "the stopping node tells its clients to reconnect");
    const benAfter = await sayAfterFault(cluster, ben, "term", "ben after the stop", stopped);
    const benMs = performance.now() - stopped;
    const annAgain = await join(cluster, p3, "term", "ann");
    await annAgain.say("ann on p3");
    await benAfter.member.line("ann on p3");
    const bothMs = performance.now() - stopped;
    console.log(
      `SIGTERM of the owner: ann's socket closed 1012 after ${
        annClosedMs.toFixed(0)
      } ms; ben (p2) ${benAfter.outcome} ${
        benAfter.detail ? ` (${benAfter.detail})` : ""
      }, chatting again after ${benMs.toFixed(0)} ms; ann rejoined on p3 and both chat after ${
        bothMs.toFixed(0)
      } ms`,
    );
    assert.equal(benAfter.outcome, "closed 1012, rejoined");
    assert.equal((await cluster.chats[0]!.status).code, 0);

    const { member: dan, history } = await joinWithHistory(p2, "term", "dan");
    cluster.members.push(dan);
    assertAllKept(history, acknowledged(cluster));
  });
});

for (const outageMs of [500, 3_000]) {
  Deno.test(`chat: Redis restarted after ${outageMs} ms; a bridged member recovers or is closed with a clear code, a room on one process is unaffected, no acknowledged line is lost`, async () => {
    await withChatCluster(async (cluster) => {
      const [p1, p2, p3] = cluster.ports as [number, number, number];
      const ann = await join(cluster, p1, "bridged", "ann");
      await ann.presence(["ann"]);
      const ben = await join(cluster, p2, "bridged", "ben");
      for (const m of [ann, ben]) await m.presence(["ann", "ben"]);
      const cat = await join(cluster, p3, "local", "cat");
      await cat.presence(["cat"]);
      const dan = await join(cluster, p3, "local", "dan");
      for (const m of [cat, dan]) await m.presence(["cat", "dan"]);
      await ben.say("ben before the outage");
      await ann.line("ben before the outage");

      await cluster.redis.stop();
      const down = performance.now();
      // The room whose members and owner share a process does not need Redis.
      await cat.say("cat during the outage");
      await dan.line("cat during the outage");
      await new Promise((resolve) => setTimeout(resolve, outageMs));
      await cluster.redis.restart();
      const up = performance.now();
      await dan.say("dan after the outage");
      await cat.line("dan after the outage");

      const benAfter = await sayAfterFault(cluster, ben, "bridged", "ben after the outage", up);
      await ann.line("ben after the outage");
      console.log(
        `Redis down ${(up - down).toFixed(0)} ms: ben (bridged, p2) ${benAfter.outcome} (${
          benAfter.detail ?? ""
        }, from Redis back); ` +
          `chatting with ann (p1) again ${
            (performance.now() - up).toFixed(0)
          } ms after Redis was back`,
      );
      // Messages may have been lost either way while Redis was away: bridged sockets close with 1011.
      assert.equal(benAfter.outcome, "closed 1011, rejoined");
      assert.equal(cat.closed, undefined, "the local room's members stay connected");
      assert.equal(dan.closed, undefined);
      assert.equal(ann.closed, undefined, "the owner's own member stays connected");

      const bridged = await joinWithHistory(p3, "bridged", "eve");
      cluster.members.push(bridged.member);
      const local = await joinWithHistory(p3, "local", "fay");
      cluster.members.push(local.member);
      assertAllKept([...bridged.history, ...local.history], acknowledged(cluster));
    });
  });
}
