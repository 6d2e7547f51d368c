/**
 * Whether a node's transport reaches another node, told from that node's
 * lease (its process id and machine): a `BroadcastChannel` reaches only the
 * isolates of its own process. Cached per node (a node id is one process
 * start, so the answer never changes).
 *
 * @module
 */

import { bootLeaseKey } from "../kv/keys.ts";
import { retryTransient } from "../kv/retry.ts";
import type { LeaseValue } from "./node_lease.ts";
import type { Transport } from "./transport.ts";

// Node ids churn with restarts: the cache is dropped whole past this size.
const MAX_CACHED = 1_024;

/**
 * `unreachable(node)`: why `transport` cannot reach `node` (`null` when it
 * can, or when the node's lease does not tell).
 */
export function unreachableBy(
  transport: Transport,
  kv: () => Deno.Kv,
): (node: string) => string | null | Promise<string | null> {
  const known = new Map<string, string | null>();
  return (node) => {
    const cached = known.get(node);
    if (cached !== undefined) return cached;
    return retryTransient(() => kv().get<LeaseValue>(bootLeaseKey(node))).then((entry) => {
      const lease = entry.value;
      // No lease (the node is gone): the usual path finds out; nothing cached.
      if (lease === null || typeof lease.pid !== "number") return null;
      const peer = { pid: lease.pid, machine: lease.machine ?? null };
      const why = transport.reaches!(peer)
        ? null
        : `it runs in process ${peer.pid}${
          peer.machine === null ? "" : ` on machine ${peer.machine.slice(0, 8)}`
        }, and a BroadcastChannel links only the isolates of one process`;
      if (known.size >= MAX_CACHED) known.clear();
      known.set(node, why);
      return why;
    });
  };
}
