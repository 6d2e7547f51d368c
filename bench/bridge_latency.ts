// Extra latency of a bridged echo against a local echo (one client, 2,000 round trips each),
// then a broadcast to 300 sockets all local against half of them on another node (50 rounds),
// on two apps in one process sharing a KV file and joined by the in-memory test transport.
// Prints p50/p99 in ms and the transport messages per broadcast. Run: deno run -A bench/bridge_latency.ts
import { DurableObject, type WebSocket } from "../mod.ts";
import { startCluster } from "../tests/cluster/_cluster.ts";

class Echo extends DurableObject {
  static readonly storageName = "echo";
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (message === "all") this.ctx.broadcast("hello everyone");
    else ws.send(message);
  }
}

/** Opens `n` sockets to `url`; resolves to them. */
async function open(url: string, n: number): Promise<globalThis.WebSocket[]> {
  const sockets: globalThis.WebSocket[] = [];
  for (let i = 0; i < n; i++) {
    const socket = new WebSocket(url);
    await new Promise((resolve) => socket.addEventListener("open", resolve, { once: true }));
    sockets.push(socket);
  }
  return sockets;
}

/** Time from a broadcast trigger until every socket got it, `rounds` times (sorted, ms). */
async function fanOut(
  trigger: globalThis.WebSocket,
  sockets: globalThis.WebSocket[],
  rounds: number,
): Promise<number[]> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    const all = sockets.map((s) =>
      new Promise((resolve) => s.addEventListener("message", resolve, { once: true }))
    );
    trigger.send("all");
    await Promise.all(all);
    times.push(performance.now() - start);
  }
  for (const s of sockets) s.close();
  await Promise.all(
    sockets.map((s) =>
      new Promise((resolve) => s.addEventListener("close", resolve, { once: true }))
    ),
  );
  return times.sort((a, b) => a - b);
}

const ROUNDS = 2_000;

async function measure(url: string): Promise<number[]> {
  const socket = new WebSocket(url);
  await new Promise((resolve) => socket.addEventListener("open", resolve, { once: true }));
  const times: number[] = [];
  for (let i = 0; i < ROUNDS + 200; i++) {
    const start = performance.now();
    const reply = new Promise((resolve) =>
      socket.addEventListener("message", resolve, { once: true })
    );
    socket.send("x");
    await reply;
    if (i >= 200) times.push(performance.now() - start); // after warm-up
  }
  socket.close();
  await new Promise((resolve) => socket.addEventListener("close", resolve, { once: true }));
  return times.sort((a, b) => a - b);
}

const pct = (sorted: number[], p: number) => sorted[Math.floor(sorted.length * p)]!.toFixed(3);

{
  await using cluster = await startCluster({ ECHO: Echo });
  const [a, b] = cluster.nodes;
  const local = await measure(`ws://127.0.0.1:${a!.port}/ECHO/one`);
  const bridged = await measure(`ws://127.0.0.1:${b!.port}/ECHO/one`);
  console.log(`local echo    p50 ${pct(local, 0.5)} ms  p99 ${pct(local, 0.99)} ms`);
  console.log(`bridged echo  p50 ${pct(bridged, 0.5)} ms  p99 ${pct(bridged, 0.99)} ms`);
  console.log(
    `extra         p50 ${(+pct(bridged, 0.5) - +pct(local, 0.5)).toFixed(3)} ms  p99 ${
      (+pct(bridged, 0.99) - +pct(local, 0.99)).toFixed(3)
    } ms`,
  );
  cluster.network.resetCounts();
  const roomLocal = await open(`ws://127.0.0.1:${a!.port}/ECHO/room`, 300);
  const localTimes = await fanOut(roomLocal[0]!, roomLocal, 50);
  const spread = [
    ...await open(`ws://127.0.0.1:${b!.port}/ECHO/room2`, 150),
    ...await open(`ws://127.0.0.1:${a!.port}/ECHO/room2`, 150),
  ];
  const before = cluster.network.sent;
  const spreadTimes = await fanOut(spread[0]!, spread, 50);
  console.log(
    `bcast300 local      p50 ${pct(localTimes, 0.5)} ms  p99 ${pct(localTimes, 0.99)} ms`,
  );
  console.log(
    `bcast300 half on b  p50 ${pct(spreadTimes, 0.5)} ms  p99 ${pct(spreadTimes, 0.99)} ms  (${
      (cluster.network.sent - before) / 50
    } transport messages per broadcast, closes included)`,
  );
}
