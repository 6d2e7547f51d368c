/**
 * Dormant across processes: three `bench/app.ts` processes sharing one KV
 * file and one Redis (`redis-server` on a free port, started and stopped
 * here), against the same traffic on one process.
 *
 * - bridged latency: sequential echo round trips on an object owned by
 *   process A, from a socket on A (local) and from a socket on B (bridged
 *   over Redis); p50/p99 and the difference.
 * - bcast: one sender and RECEIVERS receivers in one room, the sockets
 *   spread round-robin over the three processes, against all on process A;
 *   deliveries/s and fan-out p50/p99.
 *
 *   deno run -A bench/cluster_bench.ts [roundTrips=2000] [receivers=999] [broadcasts=100]
 *
 * The client is JavaScript in this process and shares the two cores with
 * the servers: compare the two columns of one run, not absolute numbers.
 *
 * @module
 */
import { RedisServer } from "../tests/_redis.ts";

const ROUND_TRIPS = Number(Deno.args[0] ?? 2000);
const RECEIVERS = Number(Deno.args[1] ?? 999);
const BROADCASTS = Number(Deno.args[2] ?? 100);

await using redis = await RedisServer.start();
const dir = await Deno.makeTempDir({ prefix: "dormant-cluster-bench-" });
const ports = [0, 1, 2].map(() => 20_000 + Math.floor(Math.random() * 20_000));
const servers = ports.map((port) =>
  new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "bench/app.ts", String(port)],
    env: { BENCH_KV_PATH: `${dir}/kv.sqlite3`, BENCH_REDIS_URL: redis.url },
    stdout: "null",
    stderr: "null",
  }).spawn()
);
for (const port of ports) {
  for (let i = 0;; i++) {
    try {
      await (await fetch(`http://127.0.0.1:${port}/stats`)).body?.cancel();
      break;
    } catch {
      if (i > 200) throw new Error(`server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function open(port: number, path: string, onMessage: (data: unknown) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`connect ${path} on ${port} failed`));
    ws.onmessage = (event) => onMessage(event.data);
  });
}
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))]!;

// ---- bridged latency -------------------------------------------------------------------------
async function echoLatency(port: number, room: string): Promise<number[]> {
  let reply: (() => void) | null = null;
  const ws = await open(port, `/echo/${room}`, () => reply?.());
  const out: number[] = [];
  for (let i = 0; i < ROUND_TRIPS + 200; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      reply = resolve;
      ws.send("x".repeat(64));
    });
    if (i >= 200) out.push(performance.now() - t0); // the first 200 warm up
  }
  ws.close();
  return out;
}
// The room's first socket lands on A, so A owns it; B's socket is then bridged to A.
const keep = await open(ports[0]!, "/echo/lat", () => {});
const local: number[] = [];
const bridged: number[] = [];
for (let round = 0; round < 3; round++) {
  local.push(...await echoLatency(ports[0]!, "lat"));
  bridged.push(...await echoLatency(ports[1]!, "lat"));
}
keep.close();
console.log(
  `echo round trip, local on the owner: p50 ${pct(local, 0.5).toFixed(3)} ms, p99 ${
    pct(local, 0.99).toFixed(3)
  } ms`,
);
console.log(
  `echo round trip, bridged over Redis: p50 ${pct(bridged, 0.5).toFixed(3)} ms, p99 ${
    pct(bridged, 0.99).toFixed(3)
  } ms`,
);
console.log(
  `bridge adds: p50 +${(pct(bridged, 0.5) - pct(local, 0.5)).toFixed(3)} ms, p99 +${
    (pct(bridged, 0.99) - pct(local, 0.99)).toFixed(3)
  } ms`,
);

// ---- broadcast spread over three processes ----------------------------------------------------
async function bcast(room: string, portOf: (i: number) => number) {
  let waiting = 0;
  let done: (() => void) | null = null;
  const count = () => {
    if (--waiting === 0) done?.();
  };
  const sender = await open(ports[0]!, `/bcast/${room}`, count);
  const receivers: WebSocket[] = [];
  for (let i = 0; i < RECEIVERS; i++) {
    receivers.push(await open(portOf(i), `/bcast/${room}`, count));
  }
  const lat: number[] = [];
  const started = performance.now();
  for (let i = 0; i < BROADCASTS; i++) {
    const t0 = performance.now();
    waiting = RECEIVERS + 1;
    await new Promise<void>((resolve) => {
      done = resolve;
      sender.send(`m${i}`.padEnd(64, "."));
    });
    lat.push(performance.now() - t0);
  }
  const rate = (BROADCASTS * (RECEIVERS + 1)) / ((performance.now() - started) / 1000);
  for (const ws of [sender, ...receivers]) ws.close();
  return { rate, lat };
}
const one = await bcast("one", () => ports[0]!);
const three = await bcast("three", (i) => ports[i % 3]!);
for (const [name, r] of [["all on one process", one], ["spread over 3", three]] as const) {
  console.log(
    `bcast ${RECEIVERS + 1} sockets, ${name}: ${Math.round(r.rate)} deliveries/s, fan-out p50 ${
      pct(r.lat, 0.5).toFixed(2)
    } ms, p99 ${pct(r.lat, 0.99).toFixed(2)} ms`,
  );
}
console.log(`ratio spread/one: ${(three.rate / one.rate).toFixed(2)}×`);

for (const server of servers) server.kill("SIGTERM");
await Promise.all(servers.map((s) => s.status));
await Deno.remove(dir, { recursive: true });
