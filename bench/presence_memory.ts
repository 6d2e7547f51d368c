/**
 * Idle bytes per connection with presence on and off: a server process per
 * mode holds N hibernated WebSockets (default 1,000) in one room, each with
 * the attachment `{ room, n, user: { name, color } }`; with presence on, the
 * class takes presence from `user` (kept in memory while the room
 * hibernates; the attachment is dropped from memory either way). This
 * process opens the clients and reads the server's `heapUsed` after a forced
 * GC, before and after connecting.
 *
 *   deno run -A bench/presence_memory.ts [connections] [rounds]
 *
 * Prints one line per round and mode, then the medians.
 *
 * @module
 */
import { App, durableObject, type DurableObjectState, onConnect, type WebSocket } from "../mod.ts";

const [mode, portArg] = Deno.args;

if (mode === "plain" || mode === "presence") await serve(mode, Number(portArg));
else await measure(Number(Deno.args[0] ?? 1000), Number(Deno.args[1] ?? 3));

async function serve(mode: "plain" | "presence", port: number): Promise<void> {
  class Room {
    n = 0;
    constructor(readonly ctx: DurableObjectState) {}
    @onConnect
    connect(ws: WebSocket): void {
      this.ctx.acceptWebSocket(ws, ["room"]);
      const n = this.n++;
      ws.serializeAttachment({ room: "room", n, user: { name: `user-${n}`, color: "teal" } });
    }
  }
  @durableObject({ name: "plain", hibernateAfterMs: 200 })
  class Plain extends Room {}
  @durableObject({ name: "present", hibernateAfterMs: 200, presence: "user" })
  class Present extends Room {}
  const dir = await Deno.makeTempDir();
  const app = new App({
    objects: { ROOM: mode === "plain" ? Plain : Present },
    routes: [{ pattern: "/room/:name", object: "ROOM" }],
    kvPath: `${dir}/kv.sqlite3`,
    worker: {
      fetch(request: Request): Response {
        if (new URL(request.url).pathname !== "/gc") {
          return new Response("not found", { status: 404 });
        }
        for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
        const stats = app.stats();
        return Response.json({
          heapUsed: Deno.memoryUsage().heapUsed,
          connections: stats.connections,
          hibernated: stats.objects.every((o) => o.status === "hibernated"),
        });
      },
    },
  });
  await app.serve({ hostname: "127.0.0.1", port, onListen: () => console.log("listening") });
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

interface Gc {
  heapUsed: number;
  connections: number;
  hibernated: boolean;
}

async function measure(connections: number, rounds: number): Promise<void> {
  const results: Record<string, number[]> = { plain: [], presence: [] };
  for (let round = 0; round < rounds; round++) {
    for (const mode of ["plain", "presence"] as const) {
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--v8-flags=--expose-gc", import.meta.filename!, mode, String(port)],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      while (!((await reader.read()).value ?? "").includes("listening"));
      const gc = async (): Promise<Gc> => (await fetch(`http://127.0.0.1:${port}/gc`)).json();
      // Warm up: the room exists, one client came and went.
      const warm = new WebSocket(`ws://127.0.0.1:${port}/room/r`);
      await new Promise((resolve) => warm.onopen = resolve);
      warm.close();
      await new Promise((resolve) => warm.onclose = resolve);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const before = await gc();
      const sockets: globalThis.WebSocket[] = [];
      for (let i = 0; i < connections; i += 100) {
        await Promise.all(Array.from({ length: Math.min(100, connections - i) }, () => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/room/r`);
          sockets.push(ws);
          return new Promise((resolve) => ws.onopen = resolve);
        }));
      }
      await new Promise((resolve) => setTimeout(resolve, 1500)); // hibernates after 200 ms idle
      const after = await gc();
      const perConnection = (after.heapUsed - before.heapUsed) / connections;
      results[mode]!.push(perConnection);
      console.log(
        `round ${
          round + 1
        } ${mode}: ${after.connections} connections, hibernated ${after.hibernated}, ` +
          `${Math.round(perConnection)} heap bytes per connection`,
      );
      for (const ws of sockets) ws.close();
      child.kill("SIGTERM");
      await child.status;
      await reader.cancel().catch(() => {});
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const plain = median(results.plain!);
  const presence = median(results.presence!);
  console.log(
    `median heap bytes per connection: plain ${Math.round(plain)}, presence ${
      Math.round(presence)
    }, presence adds ${Math.round(presence - plain)}`,
  );
}
