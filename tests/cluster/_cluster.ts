// Two or three Apps in one test process, each served on its own port (real Deno.serve, real
// WebSocket clients), sharing one Deno KV file, joined by the in-memory transport; every object
// is owned by the node `owner` picks (node "a" unless told otherwise), or, with `kvPlacement`, by
// the real KV ownership of each app (the first node an event reaches claims the object).
import type { DurableObjectNamespace } from "../../mod.ts";
import { type ClusterTuning, withPlacement } from "../../src/cluster/cluster.ts";
import type { ObjectClass } from "../../src/options.ts";
import { serveApp, type Served } from "../_helpers.ts";
import { FixedPlacement } from "./_fixed_placement.ts";
import { MemoryNetwork, type MemoryTransport } from "./_memory_transport.ts";

/** One node of a test cluster. */
export interface TestNode<O extends Record<string, ObjectClass>> extends Served<O> {
  /** The node id its transport listens on (the app's own id with `kvPlacement`). */
  readonly node: string;
  /** The injected placement (not available with `kvPlacement`). */
  readonly placement: FixedPlacement;
  /** Its end of the network. */
  readonly transport: MemoryTransport | null;
  namespace(binding: string): DurableObjectNamespace<unknown>;
  /** Shuts this node down now (idempotent; the cluster's dispose skips it). */
  stop(): Promise<void>;
}

/** A test cluster; dispose it with `await using`. */
export interface TestCluster<O extends Record<string, ObjectClass>> {
  readonly network: MemoryNetwork;
  readonly nodes: TestNode<O>[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode startCluster}. */
export interface ClusterSetup {
  readonly nodes?: readonly string[];
  readonly env?: Record<string, unknown>;
  /** The owner of each object (a node id): "a" by default. */
  readonly owner?: string | ((storageName: string, id: string) => string);
  /** No transport at all (the nodes cannot reach each other). */
  readonly noTransport?: boolean;
  readonly tuning?: ClusterTuning;
  readonly leaseTtlMs?: number;
  /**
   * Real ownership (each app's own KV placement, claims and leases) instead of
   * the injected one: `owner` is ignored.
   */
  readonly kvPlacement?: boolean;
}

/** Starts the nodes; routes `/<binding>/:name` to each class. */
export async function startCluster<O extends Record<string, ObjectClass>>(
  objects: O,
  setup: ClusterSetup = {},
): Promise<TestCluster<O>> {
  const network = new MemoryNetwork();
  const dir = await Deno.makeTempDir();
  const path = `${dir}/cluster.sqlite3`;
  const nodes: TestNode<O>[] = [];
  const kvs: Deno.Kv[] = [];
  for (const node of setup.nodes ?? ["a", "b"]) {
    const kv = await Deno.openKv(path);
    kvs.push(kv);
    const placement = new FixedPlacement(node, setup.owner ?? "a");
    const transport = setup.noTransport ? null : network.transport();
    const options = {
      objects,
      env: setup.env,
      kv,
      routes: Object.keys(objects).map((binding) => ({
        pattern: `/${binding}/:name`,
        object: binding,
      })),
      cluster: { transport, leaseTtlMs: setup.leaseTtlMs ?? 3_000 },
    };
    const served = await serveApp(
      setup.kvPlacement ? options : withPlacement(options, placement, setup.tuning),
    );
    await served.app.ready();
    let stopped: Promise<void> | null = null;
    nodes.push({
      ...served,
      get node() {
        return setup.kvPlacement ? transport?.node ?? "" : node;
      },
      get placement(): FixedPlacement {
        if (setup.kvPlacement) throw new Error("This test cluster uses the apps' KV placement");
        return placement;
      },
      transport,
      namespace: (binding) =>
        (served.app.env as Record<string, DurableObjectNamespace<unknown>>)[binding]!,
      stop: () => stopped ??= served[Symbol.asyncDispose](),
    });
  }
  return {
    network,
    nodes,
    async [Symbol.asyncDispose]() {
      // Holders first: the owner then sees its remote sockets close.
      for (const node of [...nodes].reverse()) await node.stop();
      for (const kv of kvs) kv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
