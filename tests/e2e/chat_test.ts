import assert from "node:assert/strict";
import { createChatApp } from "../../examples/chat/app.ts";
import { hibernateNow, ManualClock, objectStatus } from "../../src/testing/mod.ts";
import { serveBuilt, UPGRADE_HEADERS } from "../_helpers.ts";
import type { TestClient } from "../../src/testing/mod.ts";

type Event = { type: string; [key: string]: unknown };

/** A chat line as the page sends it. */
const say = (text: string) => JSON.stringify({ type: "message", text });

type User = { id: string; name: string };
type Line = { seq: number; at: number; id: string; from: string; text: string };

/** What a line says, without the fields that vary from run to run. */
const said = ({ from, text }: Line) => ({ from, text });

/** The next event of `type`, skipping others (joins, leaves, presence of other members). */
async function nextOf<T = Event>(client: TestClient, type: string): Promise<T> {
  for (;;) {
    const event = await client.nextJson<Event>();
    if (event.type === type) return event as T;
  }
}

async function serveChat(options: { clock?: ManualClock; kv?: Deno.Kv } = {}) {
  const clock = options.clock ?? new ManualClock(Date.now());
  const kv = options.kv ?? await Deno.openKv(":memory:");
  const app = createChatApp({ kv, clock, historyTtlMs: 60_000 });
  const served = await serveBuilt(app, options.kv ? () => {} : () => kv.close());
  return {
    ...served,
    clock,
    kv,
    base: `127.0.0.1:${served.port}`,
    join(room: string, name: string) {
      return served.connect(`/rooms/${room}/ws?name=${encodeURIComponent(name)}`);
    },
    /** Joins and reads the events every joiner gets: welcome, history, joined, presence. */
    async enter(room: string, name: string) {
      const client = await served.connect(`/rooms/${room}/ws?name=${encodeURIComponent(name)}`);
      const welcome = await client.nextJson<{ type: string; you: User }>();
      assert.equal(welcome.type, "welcome");
      const history = await client.nextJson<{ type: string; messages: Line[] }>();
      assert.equal(history.type, "history");
      const joined = await client.nextJson<{ type: string; user: User }>();
      assert.deepEqual(joined.user, welcome.you);
      const presence = await client.nextJson<{ type: string; users: User[] }>();
      assert.equal(presence.type, "presence");
      return { client, you: welcome.you, history: history.messages, users: presence.users };
    },
  };
}

Deno.test("chat serves its page at / and 404 elsewhere", async () => {
  await using chat = await serveChat();
  const page = await fetch(`http://${chat.base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  assert.match(await page.text(), /Dormant chat/);
  const missing = await fetch(`http://${chat.base}/nope`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});

Deno.test("chat serves the package's client module at /client.js, which the page imports", async () => {
  await using chat = await serveChat();
  const module = await fetch(`http://${chat.base}/client.js`);
  assert.equal(module.status, 200);
  assert.match(module.headers.get("content-type") ?? "", /^text\/javascript/);
  const file = new URL("../../src/client/connect.js", import.meta.url);
  assert.equal(await module.text(), await Deno.readTextFile(file));
  const page = await (await fetch(`http://${chat.base}/`)).text();
  assert.match(page, /import \{ connect \} from "\/client\.js"/);
});

Deno.test("chat rooms give a session to a client that asks: a hello first, then the welcome", async () => {
  await using chat = await serveChat();
  const client = await chat.connect("/rooms/s/ws?name=ann", ["dormant.session.v1"]);
  const hello = await client.nextJson<{ dormant: string; code: string }>();
  assert.deepEqual([hello.dormant, hello.code], ["session", "new"]);
  assert.equal((await client.nextJson<Event>()).type, "welcome");
});

Deno.test("chat refuses bad nicknames with 400 and non-upgrades with 426", async () => {
  await using chat = await serveChat();
  for (const name of ["", "x".repeat(33)]) {
    const response = await fetch(`http://${chat.base}/rooms/a/ws?name=${name}`, {
      headers: UPGRADE_HEADERS,
    });
    assert.equal(response.status, 400);
    assert.equal((await response.json()).code, "invalid_name");
  }
  const plain = await fetch(`http://${chat.base}/rooms/a/ws?name=bob`);
  assert.equal(plain.status, 426);
  assert.equal(plain.headers.get("upgrade"), "websocket");
  await plain.body?.cancel();
});

Deno.test("chat welcomes a member, sends history, then joins, presence, messages and leaves to everyone", async () => {
  await using chat = await serveChat();
  const alice = await chat.join("r1", "alice");
  const welcome = await alice.nextJson<{ type: string; you: User }>();
  assert.equal(welcome.type, "welcome");
  assert.equal(welcome.you.name, "alice");
  assert.match(welcome.you.id, /^[0-9a-z]{4}$/);
  const you = welcome.you;
  assert.deepEqual(await alice.nextJson(), { type: "history", messages: [] });
  const joined = await alice.nextJson<Event>();
  assert.equal(joined.type, "joined");
  assert.deepEqual(joined.user, you);
  assert.equal(typeof joined.at, "number");
  assert.deepEqual(await alice.nextJson(), { type: "presence", users: [you] });
  const bob = await chat.enter("r1", "bob");
  assert.deepEqual(bob.users, [you, bob.you]);
  assert.deepEqual((await nextOf(alice, "joined")).user, bob.you);
  assert.deepEqual(await alice.nextJson(), { type: "presence", users: [you, bob.you] });
  const before = Date.now();
  alice.socket.send(say("hello"));
  const inAlice = await alice.nextJson<Line & { type: string }>();
  assert.deepEqual(await bob.client.nextJson(), inAlice);
  assert.deepEqual({ ...inAlice, at: 0 }, {
    type: "message",
    seq: 1,
    at: 0,
    id: you.id,
    from: "alice",
    text: "hello",
  });
  assert.ok(inAlice.at >= before && inAlice.at <= Date.now(), "the server's time");
  alice.socket.send(say("x".repeat(2001)));
  assert.deepEqual(await alice.nextJson(), { type: "error", code: "message_too_long" });
  alice.socket.send(new Uint8Array([1, 2])); // ignored
  alice.socket.send("hello"); // not a chat frame
  assert.deepEqual(await alice.nextJson(), { type: "error", code: "bad_message" });
  alice.socket.send("ping");
  assert.equal(await alice.next(), "pong");
  await bob.client.close();
  assert.deepEqual((await alice.nextJson<Event>()).user, bob.you); // left
  assert.deepEqual(await alice.nextJson(), { type: "presence", users: [you] });
  const carol = await chat.enter("r1", "carol");
  assert.deepEqual(carol.history.map(said), [{ from: "alice", text: "hello" }]);
  const { type: _, ...stored } = inAlice;
  assert.deepEqual(carol.history, [stored], "a line is stored as it was sent");
});

Deno.test("chat tells apart two members with the same nickname by their ids", async () => {
  await using chat = await serveChat();
  const first = await chat.enter("twins", "sam");
  const second = await chat.enter("twins", "sam");
  assert.notEqual(first.you.id, second.you.id);
  assert.deepEqual(second.users, [first.you, second.you]);
  second.client.socket.send(say("which sam?"));
  const line = await nextOf<Line>(first.client, "message");
  assert.equal(line.id, second.you.id);
});

Deno.test("chat keeps the nickname across hibernation and answers ping while hibernated", async () => {
  await using chat = await serveChat();
  const { client: alice, you } = await chat.enter("r2", "alice");
  const id = chat.app.env.ROOM.idFromName("r2");
  await chat.clock.advance(10_000);
  assert.equal(objectStatus(chat.app, "ROOM", id), "hibernated");
  alice.socket.send("ping");
  assert.equal(await alice.next(), "pong");
  assert.equal(objectStatus(chat.app, "ROOM", id), "hibernated");
  alice.socket.send(say("still me"));
  const line = await alice.nextJson<Line>();
  assert.deepEqual(said(line), { from: "alice", text: "still me" });
  assert.equal(line.id, you.id);
});

Deno.test("chat sends the member list to the others when a member of a hibernated room leaves", async () => {
  await using chat = await serveChat();
  const ann = await chat.enter("r6", "ann");
  const ben = await chat.enter("r6", "ben");
  await nextOf(ann.client, "presence"); // ben joined
  await hibernateNow(chat.app, "ROOM", chat.app.env.ROOM.idFromName("r6"));
  await ben.client.close();
  assert.deepEqual(await nextOf(ann.client, "presence"), { type: "presence", users: [ann.you] });
});

Deno.test("chat keeps the last 100 messages", async () => {
  await using chat = await serveChat();
  const { client: alice } = await chat.enter("r3", "alice");
  for (let i = 1; i <= 105; i++) alice.socket.send(say(`m${i}`));
  for (let i = 1; i <= 105; i++) {
    assert.equal((await alice.nextJson<{ text: string }>()).text, `m${i}`);
  }
  const id = chat.app.env.ROOM.idFromName("r3");
  await hibernateNow(chat.app, "ROOM", id);
  const bob = await chat.enter("r3", "bob");
  assert.equal(bob.history.length, 100);
  assert.equal(bob.history[0]!.text, "m6");
  assert.equal(bob.history[0]!.seq, 6);
  assert.equal(bob.history[99]!.text, "m105");
  assert.equal(bob.history[99]!.seq, 105);
});

Deno.test("chat deletes the history of a room left empty past the TTL", async () => {
  await using chat = await serveChat();
  const { client: alice } = await chat.enter("r4", "alice");
  alice.socket.send(say("remember me"));
  await alice.nextJson();
  await alice.close();
  await chat.clock.advance(61_000);
  const bob = await chat.enter("r4", "bob");
  assert.deepEqual(bob.history, []);
});

Deno.test("chat broadcasts the text ping sent as a chat line, while the keep-alive ping is answered without waking the room", async () => {
  await using chat = await serveChat();
  const { client: alice } = await chat.enter("r5", "alice");
  const { client: bob } = await chat.enter("r5", "bob");
  await nextOf(alice, "presence"); // bob joined
  const id = chat.app.env.ROOM.idFromName("r5");
  await hibernateNow(chat.app, "ROOM", id);
  const before = chat.app.stats().objects.find((o) => o.id === id.toString())!;

  alice.socket.send("ping"); // a keep-alive (raw clients; the page relies on server pings)
  assert.equal(await alice.next(), "pong");
  const after = chat.app.stats().objects.find((o) => o.id === id.toString())!;
  assert.equal(after.status, "hibernated");
  assert.equal(after.wakes, before.wakes);
  assert.equal(after.events, before.events);

  alice.socket.send(say("ping")); // the word typed into the page
  const line = { from: "alice", text: "ping" };
  assert.deepEqual(said(await alice.nextJson<Line>()), line);
  assert.deepEqual(said(await bob.nextJson<Line>()), line);
  const carol = await chat.enter("r5", "carol");
  assert.deepEqual(carol.history.map(said), [line]);
});

Deno.test("chat's POST /rooms/:room/announce reaches every member of a hibernated room without waking it, and refuses an empty text with 400", async () => {
  await using chat = await serveChat();
  const { client: alice } = await chat.enter("news", "alice");
  const { client: bob } = await chat.enter("news", "bob");
  await nextOf(alice, "presence"); // bob joined
  const id = chat.app.env.ROOM.idFromName("news");
  await hibernateNow(chat.app, "ROOM", id);
  const wakes = () => chat.app.stats().objects.find((o) => o.id === id.toString())!.wakes;
  const before = wakes();
  const response = await fetch(`http://${chat.base}/rooms/news/announce`, {
    method: "POST",
    body: "maintenance at noon",
  });
  assert.deepEqual(await response.json(), { sent: 2 });
  for (const client of [alice, bob]) {
    const notice = await client.nextJson<Event>();
    assert.deepEqual({ ...notice, at: 0 }, {
      type: "announcement",
      at: 0,
      text: "maintenance at noon",
    });
    assert.equal(typeof notice.at, "number");
  }
  assert.equal(objectStatus(chat.app, "ROOM", id), "hibernated");
  assert.equal(wakes(), before, "the room was not woken");
  const empty = await fetch(`http://${chat.base}/rooms/news/announce`, {
    method: "POST",
    body: "",
  });
  assert.equal(empty.status, 400);
  assert.equal((await empty.json()).code, "message_empty");
});
