/**
 * The chat server.
 *
 *   deno run --allow-net --allow-env --allow-read --allow-write examples/chat/main.ts
 *
 * It is also a `deno serve` module (`export default { fetch }`): with
 * `DENO_SERVE_ADDRESS` set, as `deno task start:parallel` does, `deno serve
 * --parallel` serves it on every worker and the workers form one cluster.
 *
 * Environment: DORMANT_HOSTNAME (default 0.0.0.0), PORT (default 8000; 0 = any),
 * DORMANT_KV_PATH (default ./.data/chat.sqlite3; ":memory:" allowed; unset on
 * Deno Deploy = Deploy's database), DORMANT_HIBERNATE_MS (default 10000),
 * CHAT_HISTORY_TTL_MS (default 3600000), DORMANT_REDIS_URL (processes sharing
 * DORMANT_KV_PATH reach each other through this Redis; default: the isolates of
 * this process only), DORMANT_LEASE_TTL_MS (default 10000: how soon a dead
 * node's rooms are taken over).
 */
import type { Transport } from "@dormant/dormant";
import { createChatApp } from "./app.ts";

function numberFromEnv(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot start chat as ${name} must be a non-negative integer: current value is "${raw}"`,
    );
  }
  return value;
}

const hostname = Deno.env.get("DORMANT_HOSTNAME") || "0.0.0.0";
const port = numberFromEnv("PORT", 8000);
const onDeploy = Deno.env.get("DENO_DEPLOY") === "1";
const kvPath = Deno.env.get("DORMANT_KV_PATH") || (onDeploy ? undefined : "./.data/chat.sqlite3");
const redisUrl = Deno.env.get("DORMANT_REDIS_URL");

// Loaded only when asked for, so the chat (like the package) runs without the Redis client.
let transport: Transport | undefined;
if (redisUrl) {
  const { redisTransport } = await import("@dormant/dormant/redis");
  transport = redisTransport(redisUrl);
}

const app = createChatApp({
  kvPath,
  hibernateAfterMs: numberFromEnv("DORMANT_HIBERNATE_MS", 10_000),
  historyTtlMs: numberFromEnv("CHAT_HISTORY_TTL_MS", 3_600_000),
  cluster: { transport, leaseTtlMs: numberFromEnv("DORMANT_LEASE_TTL_MS", 10_000) },
});

// Which isolate answered: lets a person (and the tests) see where a socket landed.
const node = crypto.randomUUID().slice(0, 8);

/** The `deno serve` entry: each response names the isolate that answered in `x-chat-node`. */
export default {
  async fetch(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    const response = await app.fetch(request, info);
    try {
      response.headers.set("x-chat-node", node);
    } catch {
      // A response with immutable headers (a fetched one) goes out as it is.
    }
    return response;
  },
} satisfies Deno.ServeDefaultExport;

// `deno serve` sets DENO_SERVE_ADDRESS (the task does) and serves the default export itself.
if (!Deno.env.has("DENO_SERVE_ADDRESS")) {
  // Prints where to open the chat: `Listening on http://localhost:8000/`.
  await app.serve({ hostname, port });
}
