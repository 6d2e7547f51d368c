import type { Transport } from "./transport.ts";

/**
 * How an app joins a cluster: the nodes (isolates, processes, machines)
 * sharing one Deno KV database. Ownership and fencing are always on; a
 * transport lets a node that holds a socket or a request reach an object
 * owned by another node.
 */
export interface ClusterOptions {
  /**
   * How nodes reach each other (`BroadcastChannel` between the isolates of
   * one process, Redis between processes and machines, a KV inbox on Deno
   * Deploy). `null` turns bridging off: an event for an object owned by
   * another live node is then refused with 503.
   * @default a `BroadcastChannelTransport` (reaches the isolates of this process)
   */
  readonly transport?: Transport | null;
  /**
   * How long a node's lease lives without renewal, in ms; renewed every
   * third of it. An object whose owner died is taken over after this.
   * @default 10000
   */
  readonly leaseTtlMs?: number;
}
