// Extra latency of a bridged echo against a local echo: one client, 2,000 round trips each,
// on two apps in one process sharing a KV file and joined by the in-memory test transport
// (one macrotask per message). Prints p50/p99 in ms. Run: deno run -A bench/bridge_latency.ts
import { DurableObject, type WebSocket } from "../mod.ts";
import { startCluster } from "../tests/cluster/_cluster.ts";

class Echo extends DurableObject {
  static readonly storageName = "echo";
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(message);
  }
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
}
