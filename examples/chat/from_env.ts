/**
 * The chat app as configured by the environment, for `main.ts` (`deno run`)
 * and `serve.ts` (`deno serve`).
 *
 * Environment: DORMANT_HOSTNAME (default 0.0.0.0), PORT (default 8000; 0 = any),
 * DORMANT_KV_PATH (default ./.data/chat.sqlite3; ":memory:" allowed; unset on
 * Deno Deploy = Deploy's database), DORMANT_HIBERNATE_MS (default 10000),
 * CHAT_HISTORY_TTL_MS (default 3600000), DORMANT_REDIS_URL (processes sharing
 * DORMANT_KV_PATH reach each other through this Redis; default: the isolates of
 * one process reach each other, other processes are refused with 503; on Deno
 * Deploy, instances reach each other through Deploy's KV),
 * DORMANT_LEASE_TTL_MS (default 10000: how soon a dead node's rooms are taken over).
 */
import { KvTransport, type Transport } from "@dormant/dormant";
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

export const hostname = Deno.env.get("DORMANT_HOSTNAME") || "0.0.0.0";
export const port = numberFromEnv("PORT", 8000);
const onDeploy = Deno.env.get("DENO_DEPLOY") === "1";
const kvPath = Deno.env.get("DORMANT_KV_PATH") || (onDeploy ? undefined : "./.data/chat.sqlite3");
const redisUrl = Deno.env.get("DORMANT_REDIS_URL");

// Loaded only when asked for, so the chat (like the package) runs without the Redis client.
let transport: Transport | undefined;
let kv: Deno.Kv | undefined;
if (redisUrl) {
  const { redisTransport } = await import("@dormant/dormant/redis");
  transport = redisTransport(redisUrl);
} else if (onDeploy && !Deno.env.get("DORMANT_KV_PATH")) {
  // Deploy's instances share nothing but KV (BroadcastChannel does not cross them): use it.
  kv = await Deno.openKv();
  transport = new KvTransport(kv);
}

export const app: ReturnType<typeof createChatApp> = createChatApp({
  kv,
  kvPath: kv ? undefined : kvPath,
  hibernateAfterMs: numberFromEnv("DORMANT_HIBERNATE_MS", 10_000),
  historyTtlMs: numberFromEnv("CHAT_HISTORY_TTL_MS", 3_600_000),
  cluster: { transport, leaseTtlMs: numberFromEnv("DORMANT_LEASE_TTL_MS", 10_000) },
});

// Which isolate answered: lets a person (and the tests) see where a socket landed.
const node = crypto.randomUUID().slice(0, 8);

/** `app.fetch`, naming the isolate that answered in the `x-chat-node` response header. */
export async function fetch(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
  const response = await app.fetch(request, info);
  try {
    response.headers.set("x-chat-node", node);
  } catch {
    // A response with immutable headers (a fetched one) goes out as it is.
  }
  return response;
}
