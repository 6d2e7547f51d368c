/**
 * The far end of bench/transport_rtt.ts: a node "echo" that sends every
 * message straight back to its sender. Runs as a Worker (configured by its
 * first message) or as a process (`deno run … bench/_transport_echo.ts <json>`).
 */

import { BroadcastChannelTransport } from "../src/cluster/broadcast_channel_transport.ts";
import { KvTransport } from "../src/cluster/kv_transport.ts";
import { RedisTransport } from "../src/cluster/redis_transport.ts";
import type { Transport } from "../src/cluster/transport.ts";

/** How to build the transport under test. */
export interface EchoConfig {
  kind: "bc" | "redis" | "kv";
  redisUrl?: string;
  kvPath?: string;
}

/** Builds the transport `config` names. */
export async function makeTransport(config: EchoConfig): Promise<{ t: Transport; done(): void }> {
  if (config.kind === "bc") {
    return { t: new BroadcastChannelTransport({ cluster: "bench" }), done() {} };
  }
  if (config.kind === "redis") {
    return { t: new RedisTransport({ url: config.redisUrl, cluster: "bench" }), done() {} };
  }
  const kv = await Deno.openKv(config.kvPath);
  return { t: new KvTransport(kv, { pollMs: 1000 }), done: () => kv.close() };
}

async function serve(config: EchoConfig, ready: () => void): Promise<void> {
  const { t } = await makeTransport(config);
  await t.listen("echo", (from, bytes) => t.send(from, bytes));
  ready();
}

// deno-lint-ignore no-explicit-any
const self_ = globalThis as any;
if (typeof self_.WorkerGlobalScope !== "undefined") {
  self_.onmessage = (event: MessageEvent<EchoConfig>) =>
    serve(event.data, () => self_.postMessage("ready"));
} else if (import.meta.main) {
  await serve(JSON.parse(Deno.args[0]!), () => console.log("ready"));
}
