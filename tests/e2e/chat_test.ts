import assert from "node:assert/strict";
import { createChatApp } from "../../examples/chat/app.ts";
import { hibernateNow, ManualClock, objectStatus } from "../../src/testing/mod.ts";
import { serveBuilt, UPGRADE_HEADERS } from "../_helpers.ts";

type Event = { type: string; [key: string]: unknown };

/** A chat line as the page sends it. */
const say = (text: string) => JSON.stringify({ type: "message", text });

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

Deno.test("chat sends history first, then joins, messages and leaves to everyone", async () => {
  await using chat = await serveChat();
  const alice = await chat.join("r1", "alice");
  assert.deepEqual(await alice.nextJson(), { type: "history", messages: [] });
  assert.deepEqual(await alice.nextJson(), { type: "joined", name: "alice" });
  const bob = await chat.join("r1", "bob");
  assert.deepEqual(await bob.nextJson(), { type: "history", messages: [] });
  assert.deepEqual(await bob.nextJson(), { type: "joined", name: "bob" });
  assert.deepEqual(await alice.nextJson(), { type: "joined", name: "bob" });
  alice.socket.send(say("hello"));
  const expected = { type: "message", from: "alice", text: "hello" };
  assert.deepEqual(await alice.nextJson(), expected);
  assert.deepEqual(await bob.nextJson(), expected);
  alice.socket.send(say("x".repeat(2001)));
  assert.deepEqual(await alice.nextJson(), { type: "error", code: "message_too_long" });
  alice.socket.send(new Uint8Array([1, 2])); // ignored
  alice.socket.send("hello"); // not a chat frame
  assert.deepEqual(await alice.nextJson(), { type: "error", code: "bad_message" });
  alice.socket.send("ping");
  assert.equal(await alice.next(), "pong");
  await bob.close();
  assert.deepEqual(await alice.nextJson(), { type: "left", name: "bob" });
  const carol = await chat.join("r1", "carol");
  assert.deepEqual(await carol.nextJson(), {
    type: "history",
    messages: [{ from: "alice", text: "hello" }],
  });
});

Deno.test("chat keeps the nickname across hibernation and answers ping while hibernated", async () => {
  await using chat = await serveChat();
  const alice = await chat.join("r2", "alice");
  await alice.nextJson();
  await alice.nextJson();
  const id = chat.app.env.ROOM.idFromName("r2");
  await chat.clock.advance(10_000);
  assert.equal(objectStatus(chat.app, "ROOM", id), "hibernated");
  alice.socket.send("ping");
  assert.equal(await alice.next(), "pong");
  assert.equal(objectStatus(chat.app, "ROOM", id), "hibernated");
  alice.socket.send(say("still me"));
  assert.deepEqual(await alice.nextJson(), { type: "message", from: "alice", text: "still me" });
});

Deno.test("chat keeps the last 100 messages", async () => {
  await using chat = await serveChat();
  const alice = await chat.join("r3", "alice");
  await alice.nextJson();
  await alice.nextJson();
  for (let i = 1; i <= 105; i++) alice.socket.send(say(`m${i}`));
  for (let i = 1; i <= 105; i++) {
    assert.equal((await alice.nextJson<{ text: string }>()).text, `m${i}`);
  }
  const id = chat.app.env.ROOM.idFromName("r3");
  await hibernateNow(chat.app, "ROOM", id);
  const bob = await chat.join("r3", "bob");
  const history = await bob.nextJson<{ messages: Array<{ text: string }> }>();
  assert.equal(history.messages.length, 100);
  assert.equal(history.messages[0]!.text, "m6");
  assert.equal(history.messages[99]!.text, "m105");
});

Deno.test("chat deletes the history of a room left empty past the TTL", async () => {
  await using chat = await serveChat();
  const alice = await chat.join("r4", "alice");
  await alice.nextJson();
  await alice.nextJson();
  alice.socket.send(say("remember me"));
  await alice.nextJson();
  await alice.close();
  await chat.clock.advance(61_000);
  const bob = await chat.join("r4", "bob");
  assert.deepEqual(await bob.nextJson(), { type: "history", messages: [] });
});

Deno.test("chat broadcasts the text ping sent as a chat line, while the keep-alive ping is answered without waking the room", async () => {
  await using chat = await serveChat();
  const alice = await chat.join("r5", "alice");
  const bob = await chat.join("r5", "bob");
  await alice.nextJson(); // history
  await alice.nextJson(); // alice joined
  await alice.nextJson(); // bob joined
  await bob.nextJson(); // history
  await bob.nextJson(); // bob joined
  const id = chat.app.env.ROOM.idFromName("r5");
  await hibernateNow(chat.app, "ROOM", id);
  const before = chat.app.stats().objects.find((o) => o.id === id.toString())!;

  alice.socket.send("ping"); // the page's keep-alive
  assert.equal(await alice.next(), "pong");
  const after = chat.app.stats().objects.find((o) => o.id === id.toString())!;
  assert.equal(after.status, "hibernated");
  assert.equal(after.wakes, before.wakes);
  assert.equal(after.events, before.events);

  alice.socket.send(say("ping")); // the word typed into the page
  const line = { type: "message", from: "alice", text: "ping" };
  assert.deepEqual(await alice.nextJson(), line);
  assert.deepEqual(await bob.nextJson(), line);
  const carol = await chat.join("r5", "carol");
  assert.deepEqual(await carol.nextJson(), {
    type: "history",
    messages: [{ from: "alice", text: "ping" }],
  });
});

Deno.test("chat's POST /rooms/:room/announce reaches every member of a hibernated room without waking it, and refuses an empty text with 400", async () => {
  await using chat = await serveChat();
  const alice = await chat.join("news", "alice");
  const bob = await chat.join("news", "bob");
  for (const client of [alice, bob]) {
    while ((await client.nextJson<Event>()).name !== "bob"); // history and joins
  }
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
    assert.deepEqual(await client.nextJson(), {
      type: "announcement",
      text: "maintenance at noon",
    });
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
