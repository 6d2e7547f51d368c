/**
 * Round trip and pipelined throughput of each cluster transport between two
 * nodes: "ping" here, "echo" (bench/_transport_echo.ts) in a Worker of this
 * process (BroadcastChannel; KV on one file, as under `deno serve --parallel`),
 * or in a second process (Redis; it starts its own redis-server).
 *
 *   deno run --allow-all --unstable-kv bench/transport_rtt.ts [bc,redis,kv] [payload bytes…]
 */

import { RedisServer } from "../tests/_redis.ts";
import { type EchoConfig, makeTransport } from "./_transport_echo.ts";

const kinds = (Deno.args[0] ?? "bc,redis,kv").split(",") as EchoConfig["kind"][];
const sizes = Deno.args.length > 1 ? Deno.args.slice(1).map(Number) : [64, 65_536, 1_048_576];
const ECHO = new URL("./_transport_echo.ts", import.meta.url);

async function startEcho(config: EchoConfig): Promise<() => Promise<void>> {
  if (config.kind === "redis") {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--unstable-kv", ECHO.pathname, JSON.stringify(config)],
      stdout: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    while (!(await reader.read()).value?.includes("ready"));
    return async () => {
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel();
    };
  }
  const worker = new Worker(ECHO, { type: "module" });
  const ready = Promise.withResolvers<void>();
  worker.onmessage = () => ready.resolve();
  worker.postMessage(config);
  await ready.promise;
  return () => Promise.resolve(worker.terminate());
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(config: EchoConfig, size: number) {
  const stop = await startEcho(config);
  const { t, done } = await makeTransport(config);
  let wake: (() => void) | null = null;
  let received = 0;
  await t.listen(`ping-${crypto.randomUUID().slice(0, 6)}`, () => {
    received++;
    wake?.();
  });
  const payload = new Uint8Array(size).fill(7);
  const until = (n: number) =>
    new Promise<void>((resolve) => {
      if (received >= n) return resolve();
      wake = () => received >= n && resolve();
    });
  const small = size <= 1024;
  const slow = config.kind === "kv";
  // Large messages cross isolates slowly over BroadcastChannel (hundreds of ms per MiB): fewer rounds.
  const warm = small ? (slow ? 50 : 200) : 5, seq = small ? (slow ? 500 : 2000) : 30;
  const piped = small ? (slow ? 5000 : 20_000) : 60, window = small ? 100 : 10;
  for (let i = 0; i < warm; i++) {
    t.send("echo", payload);
    await until(received + 1);
  }
  const rtts: number[] = [];
  for (let i = 0; i < seq; i++) {
    const start = performance.now();
    t.send("echo", payload);
    await until(received + 1);
    rtts.push(performance.now() - start);
  }
  rtts.sort((a, b) => a - b);
  const base = received;
  const start = performance.now();
  let sent = 0;
  while (sent < piped) {
    while (sent < piped && sent - (received - base) < window) {
      t.send("echo", payload);
      sent++;
    }
    await until(Math.min(base + piped, received + 1));
  }
  await until(base + piped);
  const secs = (performance.now() - start) / 1000;
  await t.close();
  done();
  await stop();
  return { p50: quantile(rtts, 0.5), p99: quantile(rtts, 0.99), perSec: piped / secs };
}

const fmt = (n: number) => n.toFixed(3);
console.log(
  "| transport | between | payload | RTT p50 (ms) | RTT p99 (ms) | pipelined round trips/s |",
);
console.log("|---|---|---|---|---|---|");
for (const kind of kinds) {
  let redis: RedisServer | null = null;
  let dir: string | null = null;
  const config: EchoConfig = { kind };
  if (kind === "redis") config.redisUrl = (redis = await RedisServer.start()).url;
  if (kind === "kv") config.kvPath = `${(dir = await Deno.makeTempDir())}/kv.sqlite3`;
  const between = kind === "redis" ? "two processes" : "two isolates, one process";
  for (const size of sizes) {
    if (kind === "kv" && size > 512 * 1024) continue;
    const r = await measure(config, size);
    console.log(
      `| ${kind} | ${between} | ${size} B | ${fmt(r.p50)} | ${fmt(r.p99)} | ${
        Math.round(r.perSec)
      } |`,
    );
  }
  await redis?.stop();
  if (dir !== null) await Deno.remove(dir, { recursive: true });
}
