/**
 * The bench app: the framework used the way a user would, serving the routes
 * the benchmark harness (`BENCH_DIR`, see `bench/run.sh`) drives, ported from
 * the harness's workerd server (`servers/workerd/worker.mjs`). One object per room
 * (`idFromName(room)` through the router), each socket tagged with its room
 * and given a small attachment, `ping` answered `pong` by the auto-response,
 * broadcast over `ctx.getWebSockets()`.
 *
 *   /echo/<room>   @onMessage → ws.send(message)
 *   /bcast/<room>  @onMessage → send to every ctx.getWebSockets()
 *   /idle/<room>   accept and hold; messages are echoed
 *   /secho/<room>, /sbcast/<room>   the same rooms with resumable sessions for clients that
 *                  ask for one (subprotocol `dormant.session.v1`; the first frame is the session's
 *                  hello, see docs/sessions.md); plain clients get plain sockets there
 *   /stats         app.stats() summary (connections, kvCommits, …) + Deno.memoryUsage()
 *   /gc            forces a V8 GC (needs --v8-flags=--expose-gc), then Deno.memoryUsage()
 *
 * Run from the repo root: `deno run -A bench/app.ts [port]` (PORT env also
 * accepted). KV is a file in a fresh temporary directory per start. Prints
 * `fw listening <port> pid <pid>` once listening; SIGTERM shuts down (app.serve).
 *
 * @module
 */
import {
  App,
  type AppStats,
  durableObject,
  type DurableObjectState,
  onClose,
  onConnect,
  onMessage,
  type WebSocket,
  WebSocketRequestResponsePair,
} from "../mod.ts";

const port = Number(Deno.args[0] ?? Deno.env.get("PORT") ?? 8000);

/** What echo/idle and broadcast rooms share: accept with a tag and an attachment. */
class Room {
  /** Sockets accepted by this instance (the attachment's `n`). */
  n = 0;

  constructor(readonly ctx: DurableObjectState, readonly env: unknown) {
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  @onConnect
  connect(ws: WebSocket, _request: Request): void {
    const room = this.ctx.id.name ?? "default";
    this.ctx.acceptWebSocket(ws, [room]);
    ws.serializeAttachment({ room, n: this.n++ });
  }

  @onClose
  closed(_ws: WebSocket, _code: number, _reason: string): void {
    // Nothing to do: Deno already answered the client's Close frame before this
    // handler runs, unlike workerd, where worker.mjs must call ws.close() here.
  }
}

/** Echo and idle rooms: reply with the same data. */
@durableObject({ name: "echo" })
class EchoRoom extends Room {
  @onMessage
  message(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(message);
  }
}

/** Broadcast rooms: relay every message to every socket of the object, sender included. */
@durableObject({ name: "bcast" })
class BcastRoom extends Room {
  @onMessage
  message(_ws: WebSocket, message: string | ArrayBuffer): void {
    for (const ws of this.ctx.getWebSockets()) ws.send(message);
  }

  /** `POST /live/<room>`: a broadcast from the awake instance (RPC, then `ctx.broadcast`). */
  shout(message: string): number {
    return this.ctx.broadcast(message);
  }
}

const kvDir = await Deno.makeTempDir({ prefix: "dormant-bench-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(kvDir, { recursive: true });
  } catch {
    // best effort
  }
});

// BENCH_ROOM=socket: every echo socket gets an object of its own (spread over the nodes of a
// cluster, each owned where its socket landed) instead of one object per room name.
let sockets = 0;
const ISOLATE = crypto.randomUUID(); // the isolates of `deno serve --parallel` share a pid
const echoName = Deno.env.get("BENCH_ROOM") === "socket"
  ? (params: Record<string, string | undefined>) => `${params.name}-${ISOLATE}-${sockets++}`
  : "name";
// BENCH_KV_PATH: one KV file shared by several nodes (`deno serve --parallel`, processes).
const kvPath = Deno.env.get("BENCH_KV_PATH") || `${kvDir}/kv.sqlite3`;
const redisUrl = Deno.env.get("BENCH_REDIS_URL");
const transport = redisUrl
  ? (await import("@dormant/dormant/redis")).redisTransport(redisUrl)
  : undefined;

const hibernateMs = Number(Deno.env.get("BENCH_HIBERNATE_MS") || 0);
const app = new App({
  objects: { ECHO: EchoRoom, BCAST: BcastRoom },
  ...(hibernateMs > 0 ? { hibernateAfterMs: hibernateMs } : {}),
  cluster: { transport },
  routes: [
    { pattern: "/echo/:name", object: "ECHO", name: echoName },
    { pattern: "/idle/:name", object: "ECHO" },
    { pattern: "/bcast/:name", object: "BCAST" },
    { pattern: "/secho/:name", object: "ECHO", resumable: true },
    { pattern: "/sbcast/:name", object: "BCAST", resumable: true },
  ],
  kvPath,
  async fallback(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    // POST /announce/<room>: a broadcast from outside, the room left hibernated.
    // POST /live/<room>: the same through the instance (woken if needed).
    const [, verb, room] = path.split("/");
    if (request.method === "POST" && (verb === "announce" || verb === "live") && room) {
      const text = await request.text();
      const id = app.env.BCAST.idFromName(room);
      const sent = verb === "announce"
        ? await app.env.BCAST.broadcast(id, text)
        : await (app.env.BCAST.get(id) as unknown as { shout(m: string): Promise<number> })
          .shout(text);
      return Response.json({ sent });
    }
    if (path === "/stats") {
      const s: AppStats = app.stats();
      let sockets = 0;
      let active = 0;
      let wakes = 0;
      for (const o of s.objects) {
        sockets += o.sockets;
        wakes += o.wakes;
        if (o.status === "active") active++;
      }
      return Response.json({
        connections: s.connections,
        kvCommits: s.kvCommits,
        kvMutations: s.kvMutations,
        pendingWrites: s.pendingWrites,
        objects: s.objects.length,
        activeObjects: active,
        wakes,
        sockets,
        ...Deno.memoryUsage(),
      });
    }
    if (path === "/gc") { // only with --v8-flags=--expose-gc
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      return Response.json({ gc: !!gc, ...Deno.memoryUsage() });
    }
    return new Response("Not Found", { status: 404 });
  },
});

/** `deno serve --parallel bench/app.ts` with BENCH_SERVE=1: each isolate is a node. */
export default { fetch: app.fetch };

if (Deno.env.get("BENCH_SERVE") === "1") {
  console.log(`fw listening ${port} pid ${Deno.pid}`);
} else {
  await app.serve({
    hostname: "127.0.0.1",
    port,
    onListen: (addr: Deno.NetAddr) => console.log(`fw listening ${addr.port} pid ${Deno.pid}`),
  });
}
