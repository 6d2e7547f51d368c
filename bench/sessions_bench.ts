/**
 * A quick in-process comparison of resumable sessions on and off against
 * raw Deno: echo (round trips per second over 50 clients) and a broadcast
 * to 1,000 sockets (deliveries per second); echo200 is echo with 200 clients. Servers and clients share this
 * process, so read the ratios, not the absolute numbers; the benchmark
 * harness (bench/run.sh) is the reference.
 *
 *   deno run -A bench/sessions_bench.ts [seconds per test]
 *
 * @module
 */
import { App, durableObject, type DurableObjectState, onMessage, type WebSocket } from "../mod.ts";
import { SESSION_PROTOCOL } from "../src/client/connect.js";

const SECONDS = Number(Deno.args[0] ?? 3);

@durableObject({ name: "echo" })
class Echo {
  @onMessage
  message(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(message);
  }
}

@durableObject({ name: "bcast" })
class Bcast {
  constructor(readonly ctx: DurableObjectState) {}
  @onMessage
  message(_ws: WebSocket, message: string | ArrayBuffer): void {
    for (const ws of this.ctx.getWebSockets()) ws.send(message);
  }
}

const dir = await Deno.makeTempDir();
const app = new App({
  objects: { ECHO: Echo, BCAST: Bcast },
  routes: [
    { pattern: "/echo/:name", object: "ECHO", resumable: true },
    { pattern: "/bcast/:name", object: "BCAST", resumable: true },
  ],
  kvPath: `${dir}/kv.sqlite3`,
});
const fw = await app.serve({ hostname: "127.0.0.1", port: 0, handleSignals: false, onListen() {} });

// Raw Deno: the same two routes with Deno.upgradeWebSocket and a Set of sockets.
const rooms = new Map<string, Set<globalThis.WebSocket>>();
const raw = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  const path = new URL(request.url).pathname;
  if (path.startsWith("/echo/")) socket.onmessage = (event) => socket.send(event.data);
  else {
    let room = rooms.get(path);
    if (room === undefined) rooms.set(path, room = new Set());
    const members = room;
    socket.onopen = () => members.add(socket);
    socket.onclose = () => members.delete(socket);
    socket.onmessage = (event) => {
      for (const ws of members) ws.send(event.data);
    };
  }
  return response;
});

type Client = {
  send(data: string): void;
  close(): void;
  onmessage: ((e: MessageEvent) => void) | null;
};

// A session client as light as the plain one (the server's cost is measured, not the client's):
// it asks for a session and skips the hello; the reconnecting client does the same plus events.
async function open(url: string, session: boolean): Promise<Client> {
  const ws = session ? new WebSocket(url, [SESSION_PROTOCOL]) : new WebSocket(url);
  if (session) {
    await new Promise((resolve) => (ws.onmessage = resolve)); // the hello
    if (ws.protocol !== SESSION_PROTOCOL) throw new Error("no session");
  } else await new Promise((resolve) => (ws.onopen = resolve));
  return ws as unknown as Client;
}

async function echo(port: number, session: boolean, size = 50): Promise<number> {
  const clients = await Promise.all(
    Array.from(
      { length: size },
      (_, i) => open(`ws://127.0.0.1:${port}/echo/r${i % 10}`, session),
    ),
  );
  let count = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(clients.map((ws) =>
    new Promise<void>((resolve) => {
      ws.onmessage = () => {
        count++;
        if (Date.now() < end) ws.send("ping-0123456789");
        else resolve();
      };
      ws.send("ping-0123456789");
    })
  ));
  for (const ws of clients) ws.close();
  return count / SECONDS;
}

async function bcast(port: number, session: boolean, room: string): Promise<number> {
  const clients: Client[] = [];
  for (let i = 0; i < 1000; i += 100) {
    clients.push(
      ...await Promise.all(
        Array.from({ length: 100 }, () => open(`ws://127.0.0.1:${port}/bcast/${room}`, session)),
      ),
    );
  }
  let got = 0;
  let rounds = 0;
  const end = Date.now() + SECONDS * 1000;
  await new Promise<void>((resolve) => {
    for (const ws of clients) {
      ws.onmessage = () => {
        if (++got < 1000) return;
        got = 0;
        rounds++;
        if (Date.now() < end) clients[0]!.send(`broadcast-${rounds}`);
        else resolve();
      };
    }
    clients[0]!.send("broadcast-0");
  });
  for (const ws of clients) ws.close();
  return (rounds * 1000) / SECONDS;
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 500));
const results: Record<string, number> = {};
results["echo raw"] = await echo(raw.addr.port, false);
await pause();
results["echo sessions off"] = await echo(fw.addr.port, false);
await pause();
results["echo sessions on"] = await echo(fw.addr.port, true);
await pause();
results["echo200 raw"] = await echo(raw.addr.port, false, 200);
await pause();
results["echo200 sessions on"] = await echo(fw.addr.port, true, 200);
await pause();
results["bcast1k raw"] = await bcast(raw.addr.port, false, "a");
await pause();
results["bcast1k sessions off"] = await bcast(fw.addr.port, false, "b");
await pause();
results["bcast1k sessions on"] = await bcast(fw.addr.port, true, "c");
for (const [name, value] of Object.entries(results)) {
  const base = results[`${name.split(" ")[0]} raw`]!;
  console.log(
    `${name.padEnd(22)} ${Math.round(value).toString().padStart(8)} /s  ${
      (value / base).toFixed(2)
    }×`,
  );
}
const stats = app.stats();
console.log(`kv commits ${stats.kvCommits}, mutations ${stats.kvMutations}`);
await pause();
await fw.shutdown();
await raw.shutdown();
await Deno.remove(dir, { recursive: true });
