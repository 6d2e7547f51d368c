/**
 * Presence: a record per socket, set explicitly or taken from the
 * attachment, read inside the object and from outside without waking it,
 * with one diff per turn to `@onPresence` and to the framework's member
 * message. Real server, real WebSocket clients, real KV, manual clock.
 */
import assert from "node:assert/strict";
import {
  DurableObject,
  type DurableObjectNamespace,
  type DurableObjectState,
  MAX_PRESENCE_BYTES,
  type PresenceDiff,
  type PresenceEntry,
  type PresenceOptions,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import { hibernateNow, objectStatus } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";
import { interceptKv } from "../_intercept_kv.ts";
import { RawClient, textOf } from "../_raw_client.ts";
import { type Member, type MemberMessage, presenceRoom, ROUTES } from "./_presence_room.ts";

type Entries = PresenceEntry<Member>[];

Deno.test("presence taken from the attachment's field lists every member oldest first by connection id, follows a new attachment, and leaves the rest of the attachment out", async () => {
  const { PresenceRoom } = presenceRoom();
  await using s = await serveApp({ objects: { ROOM: PresenceRoom }, routes: ROUTES });
  const ann = await s.connect("/room/r?name=ann");
  const bob = await s.connect("/room/r?name=bob");
  await s.connect("/room/r"); // no attachment: no presence, not listed
  ann.socket.send("id");
  const annId = await ann.next();
  bob.socket.send("id");
  const bobId = await bob.next();

  ann.socket.send("list");
  assert.deepEqual(JSON.parse(await ann.next() as string), [
    { id: annId, value: { name: "ann" } },
    { id: bobId, value: { name: "bob" } },
  ]);
  bob.socket.send("rename:robert");
  bob.socket.send("mine");
  assert.deepEqual(JSON.parse(await bob.next() as string), { name: "robert" });
  assert.deepEqual(await s.app.env.ROOM.presence(s.app.env.ROOM.idFromName("r")), [
    { id: annId, value: { name: "ann" } },
    { id: bobId, value: { name: "robert" } },
  ]);
});

Deno.test("ctx.setPresence sets, replaces and removes (null) a socket's record; over MAX_PRESENCE_BYTES it is a RangeError and nothing changes", async () => {
  const { PresenceRoom } = presenceRoom();
  await using s = await serveApp({ objects: { ROOM: PresenceRoom }, routes: ROUTES });
  const client = await s.connect("/room/r");
  const list = async () => {
    client.socket.send("list");
    return JSON.parse(await client.next() as string) as Entries;
  };
  assert.deepEqual(await list(), []);
  client.socket.send(`set:${JSON.stringify({ name: "cy" })}`);
  assert.equal(await client.next(), "set");
  assert.deepEqual((await list()).map((m) => m.value), [{ name: "cy" }]);

  client.socket.send(`set:${JSON.stringify({ name: "x".repeat(MAX_PRESENCE_BYTES) })}`);
  assert.equal(await client.next(), "RangeError");
  assert.deepEqual((await list()).map((m) => m.value), [{ name: "cy" }], "unchanged");

  // Presence taken from an attachment is checked too: the attachment is refused, nothing changes.
  client.socket.send(`rename:${"y".repeat(MAX_PRESENCE_BYTES)}`);
  await until(() => s.exceptions.length === 1, "the refused attachment");
  assert.ok(s.exceptions[0]!.error instanceof RangeError);
  assert.deepEqual((await list()).map((m) => m.value), [{ name: "cy" }], "unchanged");

  client.socket.send("set:null");
  assert.equal(await client.next(), "set");
  assert.deepEqual(await list(), []);
  client.socket.send("mine");
  assert.equal(await client.next(), "null");
});

/** A KV that counts reads (`get`, `getMany`, `list`). */
function countingKv(real: Deno.Kv) {
  const counts = { reads: 0 };
  const kv = interceptKv(real, {
    read(_method, _args, read) {
      counts.reads++;
      return read();
    },
    list() {
      counts.reads++;
    },
  });
  return { kv, counts };
}

Deno.test("the namespace reads a hibernated room's presence from outside with 0 constructor runs and 0 KV reads; the list survives hibernation and a wake", async () => {
  const real = await Deno.openKv(":memory:");
  const { kv, counts } = countingKv(real);
  const { PresenceRoom, log } = presenceRoom();
  try {
    await using s = await serveApp({ objects: { ROOM: PresenceRoom }, routes: ROUTES, kv });
    const ann = await s.connect("/room/r?name=ann");
    await s.connect("/room/r?name=bob");
    const id = s.app.env.ROOM.idFromName("r");
    await hibernateNow(s.app, "ROOM", id);
    const constructed = log.constructed;
    counts.reads = 0;

    const outside = await s.app.env.ROOM.presence<Member>(id);
    assert.deepEqual(outside.map((m) => m.value.name), ["ann", "bob"]);
    assert.ok(Object.isFrozen(outside[0]!.value), "values are frozen copies");
    assert.deepEqual(await s.app.env.ROOM.presence(s.app.env.ROOM.idFromName("empty")), []);
    assert.equal(log.constructed, constructed, "no constructor ran");
    assert.equal(counts.reads, 0, "nothing was read from KV");
    assert.equal(objectStatus(s.app, "ROOM", id), "hibernated");

    ann.socket.send("list"); // wakes the room: the new instance sees the same list
    const inside = JSON.parse(await ann.next() as string) as Entries;
    assert.equal(log.constructed, constructed + 1);
    assert.deepEqual(inside, outside);
  } finally {
    real.close();
  }
});

Deno.test("@onPresence gets one diff per turn: a join, an update, a removal and a leave carrying the last record", async () => {
  const { PresenceRoom, log } = presenceRoom({ handler: true });
  await using s = await serveApp({ objects: { ROOM: PresenceRoom }, routes: ROUTES });
  const ann = await s.connect("/room/r?name=ann");
  await until(() => log.diffs.length === 1, "the join");
  ann.socket.send("id");
  const annId = await ann.next();
  assert.deepEqual(log.diffs[0], {
    joins: [{ id: annId, value: { name: "ann" } }],
    leaves: [],
    updates: [],
  });

  // Two changes in one handler: one diff with the final record.
  ann.socket.send(`set:${JSON.stringify({ name: "a1" })}`);
  assert.equal(await ann.next(), "set");
  ann.socket.send("rename:a2");
  ann.socket.send("rename:a2"); // the same record again: no diff
  const bob = await s.connect("/room/r?name=bob");
  await until(() => log.diffs.length === 4, "the updates and bob's join");
  assert.deepEqual(log.diffs[1]!.updates.map((m) => m.value.name), ["a1"]);
  assert.deepEqual(log.diffs[2]!.updates.map((m) => m.value.name), ["a2"]);
  assert.deepEqual(log.diffs[3]!.joins.map((m) => m.value.name), ["bob"]);

  ann.socket.send("set:null");
  assert.equal(await ann.next(), "set");
  await until(() => log.diffs.length === 5, "the removal");
  assert.deepEqual(log.diffs[4], {
    joins: [],
    leaves: [{ id: annId, value: { name: "a2" } }],
    updates: [],
  });
  await bob.close();
  await until(() => log.diffs.length === 6, "bob's leave");
  assert.deepEqual(log.diffs[5]!.leaves.map((m) => m.value.name), ["bob"]);
  assert.equal(s.exceptions.length, 0);
});

Deno.test("the class's presence message is sent by the framework to every socket on each join and leave, and a hibernated room's TCP drop sends it with 0 constructor runs", async () => {
  const { PresenceRoom, log } = presenceRoom({ message: true });
  await using s = await serveApp({ objects: { ROOM: PresenceRoom }, routes: ROUTES });
  const ann = await s.connect("/room/r?name=ann");
  assert.deepEqual(await ann.nextJson<MemberMessage>(), {
    type: "presence",
    users: ["ann"],
    joins: ["ann"],
    leaves: [],
    updates: [],
  });
  const bob = await RawClient.connect(s.port, "/room/r?name=bob");
  assert.deepEqual((await ann.nextJson<MemberMessage>()).users, ["ann", "bob"]);
  assert.deepEqual(JSON.parse(textOf(await bob.next())).joins, ["bob"]);

  const id = s.app.env.ROOM.idFromName("r");
  await hibernateNow(s.app, "ROOM", id);
  const constructed = log.constructed;
  await bob.drop(); // no Close frame: the server sees 1006
  assert.deepEqual(await ann.nextJson<MemberMessage>(), {
    type: "presence",
    users: ["ann"],
    joins: [],
    leaves: ["bob"],
    updates: [],
  });
  assert.equal(log.constructed, constructed, "no constructor ran");
  assert.equal(objectStatus(s.app, "ROOM", id), "hibernated");
  assert.deepEqual((await s.app.env.ROOM.presence<Member>(id)).map((m) => m.value.name), ["ann"]);
});

Deno.test("a server-side close and a client's close both remove the socket's presence, with a leave diff", async () => {
  const { PresenceRoom, log } = presenceRoom({ handler: true });
  await using s = await serveApp({ objects: { ROOM: PresenceRoom }, routes: ROUTES });
  const ann = await s.connect("/room/r?name=ann");
  const bob = await s.connect("/room/r?name=bob");
  const id = s.app.env.ROOM.idFromName("r");
  ann.socket.send("bye");
  assert.equal((await ann.closed).code, 4000);
  await until(async () => (await s.app.env.ROOM.presence(id)).length === 1, "ann removed");
  await bob.close();
  await until(async () => (await s.app.env.ROOM.presence(id)).length === 0, "bob removed");
  await until(() => log.diffs.some((d) => d.leaves.some((m) => m.value.name === "bob")), "leave");
  const leaves = log.diffs.flatMap((d) => d.leaves.map((m) => m.value.name));
  assert.deepEqual(leaves, ["ann", "bob"]);
});

/** A Cloudflare-style room: a static `presence` option and `webSocketPresence(diff)`. */
function cloudflareRoom() {
  const diffs: PresenceDiff<string>[] = [];
  class Room extends DurableObject {
    static readonly storageName = "cfroom";
    static readonly presence: PresenceOptions<{ user: string }, string> = {
      from: (attachment) => attachment.user,
      message: (list) => {
        if (list.some((m) => m.value === "boom")) throw new Error("boom");
        return list.map((m) => m.value).join(",");
      },
    };
    fetch(request: Request): Response {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1]);
      pair[1].serializeAttachment({ user: new URL(request.url).searchParams.get("name") });
      return webSocketResponse(pair[0]);
    }
    webSocketPresence(diff: PresenceDiff<string>): void {
      diffs.push(diff);
    }
  }
  return { Room, diffs };
}

Deno.test("a class without decorators sets presence with a static member and gets diffs in webSocketPresence(diff)", async () => {
  const { Room, diffs } = cloudflareRoom();
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  const ann = await s.connect("/room/r?name=ann");
  assert.equal(await ann.next(), "ann");
  const bob = await s.connect("/room/r?name=bob");
  assert.equal(await ann.next(), "ann,bob");
  assert.equal(await bob.next(), "ann,bob");
  await until(() => diffs.length === 2, "two joins");
  assert.deepEqual(diffs.map((d) => d.joins.map((m) => m.value)), [["ann"], ["bob"]]);
  assert.equal(s.exceptions.length, 0);
});

Deno.test("a presence message that throws is reported to onException, sends nothing, and the handler still gets the diff", async () => {
  const { Room, diffs } = cloudflareRoom();
  await using s = await serveApp({ objects: { ROOM: Room }, routes: ROUTES });
  const ann = await s.connect("/room/r?name=ann");
  assert.equal(await ann.next(), "ann");
  await s.connect("/room/r?name=boom");
  await until(() => s.exceptions.length === 1, "the report");
  assert.equal((s.exceptions[0]!.error as Error).message, "boom");
  assert.equal(s.exceptions[0]!.context.operation, "presence.message");
  await until(() => diffs.length === 2, "both joins");
  assert.equal(ann.buffered, 0, "no member message went out");
});

Deno.test("presence is typed: getPresence<T>() and env.ROOM.presence<T>() need no cast, and a wrong use does not compile", () => {
  // Type-level only: the bodies never run.
  const typed = (ctx: DurableObjectState, ns: DurableObjectNamespace, ws: WebSocket) => {
    const list: PresenceEntry<Member>[] = ctx.getPresence<Member>();
    const one: Member | null = ctx.getPresence<Member>(ws);
    const outside: Promise<PresenceEntry<Member>[]> = ns.presence<Member>(ns.idFromName("r"));
    // @ts-expect-error: a Member's name is a string
    const n: number = list[0]!.value.name;
    // @ts-expect-error: one socket's record may be null
    const name: string = ctx.getPresence<Member>(ws).name;
    return [one, outside, n, name];
  };
  assert.equal(typeof typed, "function");
});
