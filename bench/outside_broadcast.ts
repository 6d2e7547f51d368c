/**
 * Broadcast to a hibernated room from outside vs from its awake instance.
 *
 * Starts `bench/app.ts` (pinned to CPU 0; this client pins itself to CPU 1
 * when run under `taskset -c 1`), connects RECEIVERS sockets to one
 * broadcast room, then alternates rounds: BROADCASTS messages posted to
 * `POST /announce/<room>` (`env.BCAST.broadcast(id, …)`, the room left
 * hibernated) and the same number to `POST /live/<room>` (an RPC into the
 * awake instance, which calls `ctx.broadcast`). Each message is sent once
 * every receiver has the previous one. Prints deliveries/s and fan-out
 * p50/p99 per mode, the ratio outside/live, and how many instances were
 * built during the outside rounds (0 expected).
 *
 *   taskset -c 1 deno run -A bench/outside_broadcast.ts [receivers=1000] [broadcasts=200] [rounds=3]
 *
 * @module
 */

const RECEIVERS = Number(Deno.args[0] ?? 1000);
const BROADCASTS = Number(Deno.args[1] ?? 200);
const ROUNDS = Number(Deno.args[2] ?? 3);
const ROOM = "h";

const port = 20_000 + Math.floor(Math.random() * 20_000);
const server = new Deno.Command("taskset", {
  args: ["-c", "0", Deno.execPath(), "run", "-A", "bench/app.ts", String(port)],
  env: { BENCH_HIBERNATE_MS: "300" },
  stdout: "null",
  stderr: "piped",
}).spawn();
const base = `http://127.0.0.1:${port}`;
for (let i = 0;; i++) {
  try {
    await (await fetch(`${base}/stats`)).body?.cancel();
    break;
  } catch {
    if (i > 100) throw new Error("server did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
}
const stats = async () => await (await fetch(`${base}/stats`)).json();

let waiting = 0;
let done: (() => void) | null = null;
const sockets: WebSocket[] = [];
await Promise.all(
  Array.from({ length: RECEIVERS }, () =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/bcast/${ROOM}`);
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("connect failed"));
      ws.onmessage = () => {
        if (--waiting === 0) done?.();
      };
      sockets.push(ws);
    })),
);

async function round(verb: "announce" | "live"): Promise<{ rate: number; lat: number[] }> {
  const lat: number[] = [];
  const started = performance.now();
  for (let i = 0; i < BROADCASTS; i++) {
    const t0 = performance.now();
    waiting = RECEIVERS;
    const all = new Promise<void>((resolve) => done = resolve);
    const response = await fetch(`${base}/${verb}/${ROOM}`, {
      method: "POST",
      body: `m${i}`.padEnd(64, "."),
    });
    await response.body?.cancel();
    await all;
    lat.push(performance.now() - t0);
  }
  const seconds = (performance.now() - started) / 1000;
  return { rate: (BROADCASTS * RECEIVERS) / seconds, lat };
}

async function hibernated(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await stats()).activeObjects === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("room did not hibernate");
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))]!;
const results = { announce: [] as number[], live: [] as number[] };
const lats = { announce: [] as number[], live: [] as number[] };
let builtOutside = 0;
await round("live"); // warm-up (also wakes and builds the instance once)
for (let r = 0; r < ROUNDS; r++) {
  await hibernated();
  const before = (await stats()).wakes;
  const out = await round("announce");
  builtOutside += (await stats()).wakes - before;
  const live = await round("live");
  results.announce.push(out.rate);
  results.live.push(live.rate);
  lats.announce.push(...out.lat);
  lats.live.push(...live.lat);
}
const median = (xs: number[]) => pct(xs, 0.5);
for (const mode of ["announce", "live"] as const) {
  console.log(
    `${mode === "announce" ? "outside (hibernated)" : "live instance       "}: ${
      Math.round(median(results[mode]))
    } deliveries/s (rounds ${results[mode].map(Math.round).join(", ")}), fan-out p50 ${
      pct(lats[mode], 0.5).toFixed(2)
    } ms, p99 ${pct(lats[mode], 0.99).toFixed(2)} ms`,
  );
}
const ratios = results.announce.map((x, i) => x / results.live[i]!);
console.log(
  `ratio outside/live per round: ${ratios.map((r) => r.toFixed(2)).join(", ")}; median ${
    median(ratios).toFixed(2)
  }×; instances built during outside rounds: ${builtOutside}`,
);
for (const ws of sockets) ws.close();
server.kill("SIGTERM");
await server.stderr.cancel();
await server.status;
