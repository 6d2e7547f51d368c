/**
 * One cluster node for the fault tests: a real process on a shared KV file.
 * Env: PORT (0 = any), DORMANT_KV_PATH, LEASE_TTL_MS. Prints
 * `Listening on http://…/` on stderr, and every exception as a JSON line on
 * stdout.
 *
 * Object `O` (`/o/:name/:op`, plain HTTP):
 * - `POST write?seq=N`: appends `{ seq, pid }` to the object's log in one
 *   transaction with the log's length (`n`); answers the entry's index.
 * - `POST slow?ms=M&seq=N`: the same after waiting `M` ms inside the handler.
 * - `GET log`: the log, in order.
 * - `POST alarm?in=M`: sets the alarm `M` ms from now.
 * - `GET fired`: the pids of the processes whose alarm handler ran.
 * `/ws/:name` accepts a WebSocket for the same object.
 */
import {
  App,
  DurableObject,
  durableObject,
  WebSocketPair,
  webSocketResponse,
} from "../../../mod.ts";

@durableObject({ name: "fault" })
class O extends DurableObject {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (request.headers.get("upgrade") === "websocket") {
      const [client, server] = Object.values(new WebSocketPair());
      this.ctx.acceptWebSocket(server);
      return webSocketResponse(client);
    }
    const op = url.pathname.split("/").at(-1);
    const seq = Number(url.searchParams.get("seq") ?? -1);
    if (op === "write") return Response.json(await this.#append(seq));
    if (op === "slow") {
      await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get("ms"))));
      return Response.json(await this.#append(seq));
    }
    if (op === "log") {
      const log = await this.ctx.storage.list<{ seq: number; pid: number }>({ prefix: "log/" });
      return Response.json([...log.values()]);
    }
    if (op === "alarm") {
      await this.ctx.storage.setAlarm(Date.now() + Number(url.searchParams.get("in")));
      return Response.json({ ok: true });
    }
    if (op === "fired") return Response.json(await this.ctx.storage.get("fired") ?? []);
    return new Response("no such op", { status: 404 });
  }

  #append(seq: number): Promise<number> {
    return this.ctx.storage.transaction(async (txn) => {
      const n = await txn.get<number>("n") ?? 0;
      txn.put("n", n + 1);
      txn.put(`log/${String(n).padStart(8, "0")}`, { seq, pid: Deno.pid });
      return n;
    });
  }

  async alarm(): Promise<void> {
    const fired = await this.ctx.storage.get<number[]>("fired") ?? [];
    await this.ctx.storage.put("fired", [...fired, Deno.pid]);
  }
}

const app = new App({
  objects: { O },
  routes: [
    { pattern: "/o/:name/:op", object: "O", websocket: false },
    { pattern: "/ws/:name", object: "O" },
  ],
  kvPath: Deno.env.get("DORMANT_KV_PATH")!,
  cluster: { leaseTtlMs: Number(Deno.env.get("LEASE_TTL_MS") ?? 2_000) },
  onException: (error, context) => {
    const code = (error as { code?: string }).code;
    console.log(JSON.stringify({ pid: Deno.pid, code, context, error: String(error) }));
  },
});
await app.serve({ hostname: "127.0.0.1", port: Number(Deno.env.get("PORT") ?? 0) });
