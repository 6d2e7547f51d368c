/** Starting, stopping and talking to node processes (`_node.ts`) on one shared KV file. */
import assert from "node:assert/strict";
import { type ServerProcess, startServerProcess } from "../../_helpers.ts";

export const NODE = new URL("./_node.ts", import.meta.url).pathname;
export const CLAIMER = new URL("./_claimer.ts", import.meta.url).pathname;
export const TTL = 2_000;

/** No --allow-all: /proc is not readable, so a killed process is only known dead by its lease. */
export function startNode(kvPath: string): Promise<ServerProcess> {
  return startServerProcess(
    ["run", "--unstable-kv", "--allow-net", "--allow-env", "--allow-read", "--allow-write", NODE],
    { PORT: "0", DORMANT_KV_PATH: kvPath, LEASE_TTL_MS: String(TTL) },
  );
}

export async function stop(node: ServerProcess): Promise<string> {
  try {
    node.child.kill("SIGKILL");
  } catch {
    // already gone
  }
  await node.status;
  await node.stderr;
  return await node.stdout;
}

/** POSTs and reads the whole answer. */
export async function post(
  node: ServerProcess,
  path: string,
): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${node.port}${path}`, { method: "POST" });
  return { status: response.status, body: await response.text() };
}

export async function get<T>(node: ServerProcess, path: string): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${node.port}${path}`);
  assert.equal(response.status, 200, await response.clone().text());
  return await response.json();
}

/** POSTs until the node answers 200 (503 while the object is owned by a node not yet dead). */
export async function postUntilOk(
  node: ServerProcess,
  path: string,
  boundMs = 15_000,
): Promise<number> {
  const started = performance.now();
  while (true) {
    const response = await post(node, path);
    const body = response.body;
    if (response.status === 200) return performance.now() - started;
    assert.equal(response.status, 503, body);
    if (performance.now() - started > boundMs) throw new Error(`still ${response.status}: ${body}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function withCluster(
  count: number,
  fn: (nodes: ServerProcess[], kvPath: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/cluster.sqlite3`;
  const nodes: ServerProcess[] = [];
  try {
    for (let i = 0; i < count; i++) nodes.push(await startNode(kvPath));
    await fn(nodes, kvPath);
  } finally {
    for (const node of nodes) await stop(node);
    await Deno.remove(dir, { recursive: true });
  }
}
