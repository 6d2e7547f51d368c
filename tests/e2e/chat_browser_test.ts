import assert from "node:assert/strict";
import { createChatApp } from "../../examples/chat/app.ts";
import { ManualClock } from "../../src/testing/mod.ts";
import { TcpRelay } from "../_tcp_relay.ts";
import { type BrowserPage, launchBrowser } from "./_browser.ts";

/** The chat app served on 127.0.0.1 (`port` 0 = any) with its own handle on the KV file. */
async function serveChat(kvPath: string, port = 0) {
  const kv = await Deno.openKv(kvPath);
  const app = createChatApp({ kv, clock: new ManualClock(Date.now()) });
  const server = await app.serve({
    hostname: "127.0.0.1",
    port,
    handleSignals: false,
    onListen: () => {},
  });
  let stopped = false;
  return {
    port: server.addr.port,
    /** Graceful shutdown; `restart` closes the sockets with 1012 (Service Restart). */
    async stop(restart = false) {
      if (stopped) return;
      stopped = true;
      await server.shutdown({ restart });
      await server.finished;
      kv.close();
    },
  };
}

/** Helpers installed into a page after each load: short expressions in the test. */
const HELPERS = `
  globalThis.$status = () => document.getElementById("status").textContent;
  globalThis.$members = () =>
    [...document.querySelectorAll("#members li")].map((li) => li.textContent.trim());
  globalThis.$lines = () => [...document.querySelectorAll("#log li")].map((li) => ({
    text: li.textContent,
    mine: li.classList.contains("mine"),
    at: li.querySelector("time")?.dateTime ?? "",
    cls: li.className,
  }));
  true;
`;

async function say(page: BrowserPage, text: string) {
  await page.type("#text", text);
  await page.click("#sendButton");
}

const lineWith = (text: string) => `$lines().find((l) => l.text.includes(${JSON.stringify(text)}))`;

Deno.test("chat in Chromium, two people in one room", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "dormant-chat-browser-" });
  const kvPath = `${dir}/chat.sqlite3`;
  try {
    let server = await serveChat(kvPath);
    const port = server.port;
    const base = `http://127.0.0.1:${port}/`;
    // Page A reaches the server through a relay the test can cut (a lost network).
    const relay = new TcpRelay(port);
    const baseA = `http://127.0.0.1:${relay.port}/`;
    try {
      await using browser = await launchBrowser();
      const a = await browser.newPage(); // separate browser contexts: two people
      const b = await browser.newPage();
      for (const page of [a, b]) {
        await page.goto(page === a ? baseA : base);
        await page.evaluate(HELPERS);
        await page.type("#room", "garden");
        await page.type("#name", "sam");
        await page.click("#join button");
        await page.waitFor(`$status().startsWith("Connected")`, "the page to connect");
      }

      await t.step(
        "each page lists both members, two people named sam told apart, itself marked (you)",
        async () => {
          const lists = [];
          for (const page of [a, b]) {
            const members = await page.waitFor<string[]>(
              `$members().length === 2 && $members()`,
              "two members",
            );
            assert.ok(members.every((m) => m.startsWith("sam#")), members.join(", "));
            assert.notEqual(members[0], members[1]);
            assert.equal(members.filter((m) => m.endsWith("(you)")).length, 1);
            lists.push(members.map((m) => m.replace("(you)", "")));
          }
          assert.deepEqual(lists[0], lists[1]);
        },
      );

      await t.step(
        "a line typed in A appears in B with the server's time, marked as own in A only",
        async () => {
          await say(a, "hello from A");
          for (const page of [a, b]) await page.waitFor(lineWith("hello from A"), "the line");
          const inA = await a.evaluate<{ mine: boolean; at: string }>(lineWith("hello from A"));
          const inB = await b.evaluate<{ mine: boolean; at: string }>(lineWith("hello from A"));
          assert.equal(inA.mine, true);
          assert.equal(inB.mine, false);
          assert.ok(!Number.isNaN(Date.parse(inB.at)), `a timestamp: "${inB.at}"`);
          assert.equal(inA.at, inB.at, "one server time on both pages");
        },
      );

      await t.step("POST /rooms/:room/announce is a notice on both pages", async () => {
        const posted = await fetch(`${base}rooms/garden/announce`, {
          method: "POST",
          body: "tea at five",
        });
        assert.deepEqual(await posted.json(), { sent: 2 });
        for (const page of [a, b]) {
          const notice = await page.waitFor<{ cls: string }>(lineWith("tea at five"), "the notice");
          assert.equal(notice.cls, "notice");
        }
      });

      await t.step(
        "A cut off while B says five lines comes back by itself and shows each once, in order; nobody left or joined",
        async () => {
          await relay.cut();
          await a.waitFor(`$status().startsWith("Reconnecting")`, "A to notice");
          const missed = [1, 2, 3, 4, 5].map((n) => `while A was away ${n}`);
          for (const text of missed) {
            await say(b, text);
            await b.waitFor(lineWith(text), "the line in B");
          }
          relay.restore();
          await a.waitFor(`$status().startsWith("Connected")`, "A to reconnect", 15_000);
          await a.waitFor(lineWith(missed[4]!), "the last missed line in A");
          const shown = await a.evaluate<string[]>(
            `$lines().map((l) => l.text).filter((t) => t.includes("while A was away"))`,
          );
          assert.deepEqual(shown.map((text) => text.slice(text.indexOf("while"))), missed);
          for (const page of [a, b]) {
            const notes = await page.evaluate<string[]>(
              `$lines().filter((l) => l.cls === "note").map((l) => l.text)`,
            );
            assert.ok(notes.every((note) => !note.endsWith(" left")), notes.join(" | "));
            assert.equal(await page.evaluate<number>(`$members().length`), 2);
            const text = await page.evaluate<string>(`document.body.innerText`);
            assert.ok(!text.includes("Join again"), "no 'Join again'");
          }
        },
      );

      await t.step(
        "after a server restart (1012) on the same port and KV, both pages reconnect by themselves and chat again",
        async () => {
          await server.stop(true);
          for (const page of [a, b]) {
            await page.waitFor(`$status().startsWith("Reconnecting")`, "the reconnecting status");
          }
          server = await serveChat(kvPath, port);
          for (const page of [a, b]) {
            await page.waitFor(
              `$status().startsWith("Connected")`,
              "the page to reconnect",
              15_000,
            );
            await page.waitFor(`$members().length === 2`, "both members again");
            const text = await page.evaluate<string>(`document.body.innerText`);
            assert.ok(!text.includes("Join again"), "no 'Join again'");
          }
          await say(b, "back again");
          for (const page of [a, b]) {
            await page.waitFor(lineWith("back again"), "the new line");
            // The line from before the restart is shown once, not again with the history.
            const count = await page.evaluate<number>(
              `$lines().filter((l) => l.text.includes("hello from A")).length`,
            );
            assert.equal(count, 1);
          }
          assert.equal((await a.evaluate<{ mine: boolean }>(lineWith("hello from A"))).mine, true);
          assert.equal((await b.evaluate<{ mine: boolean }>(lineWith("back again"))).mine, true);
          assert.equal((await a.evaluate<{ mine: boolean }>(lineWith("back again"))).mine, false);
        },
      );

      await t.step(
        "a reloaded page rejoins by itself, its earlier lines still marked as own",
        async () => {
          await a.goto(baseA);
          await a.evaluate(HELPERS);
          await a.waitFor(`$status().startsWith("Connected")`, "the reloaded page to connect");
          await a.waitFor(lineWith("back again"), "the history");
          assert.equal((await a.evaluate<{ mine: boolean }>(lineWith("hello from A"))).mine, true);
          assert.equal((await a.evaluate<{ mine: boolean }>(lineWith("back again"))).mine, false);
          await a.waitFor(`$members().length === 2`, "both members after the reload");
        },
      );

      assert.deepEqual([...a.errors, ...b.errors], [], "no error in the pages");
    } finally {
      await relay.close();
      await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
