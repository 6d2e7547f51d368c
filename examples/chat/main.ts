/**
 * The chat server.
 *
 *   deno run --allow-net --allow-env --allow-read --allow-write examples/chat/main.ts
 *
 * Environment: DORMANT_HOSTNAME (default 0.0.0.0), PORT (default 8000; 0 = any),
 * DORMANT_KV_PATH (default ./.data/chat.sqlite3; ":memory:" allowed; unset on
 * Deno Deploy = Deploy's database), DORMANT_HIBERNATE_MS (default 10000),
 * CHAT_HISTORY_TTL_MS (default 3600000).
 */
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

const app = createChatApp({
  kvPath,
  hibernateAfterMs: numberFromEnv("DORMANT_HIBERNATE_MS", 10_000),
  historyTtlMs: numberFromEnv("CHAT_HISTORY_TTL_MS", 3_600_000),
});

// Prints where to open the chat: `Listening on http://localhost:8000/`.
await app.serve({ hostname, port });
