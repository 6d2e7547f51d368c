/**
 * {@linkcode Transport}: how the nodes of one cluster (isolates, processes,
 * machines) send each other bytes. Implementations: `BroadcastChannel` (the
 * isolates of one process), Redis pub/sub (processes and machines), and a
 * Deno KV inbox with a doorbell key (Deno Deploy without a broker). Every
 * implementation runs the shared transport conformance suite.
 *
 * Reliability (sequence numbers, acks, resends) sits above this interface,
 * in the bridge, written once for every transport.
 *
 * @module
 */

/** Whether a transport can currently deliver. */
export type TransportStatus = "up" | "down";

/** Where a node runs, as its lease tells. */
export interface TransportPeer {
  /** Its process id. */
  readonly pid: number;
  /** Its machine's boot id; `null` when unknown. */
  readonly machine: string | null;
}

/**
 * Point-to-point messages between nodes. Per (sender, receiver) pair,
 * messages arrive in the order they were sent, at most once; a message to a
 * node that does not listen (or while the transport is down) is dropped
 * without an error.
 */
export interface Transport {
  /**
   * Starts delivering the messages addressed to `node` to `onMessage`, with
   * the sender's node id. Resolves once messages sent from now on arrive.
   * One listener per transport: called again (the node rejoined under a new
   * id), it moves the listener to `node`; messages to the old id vanish and
   * messages sent from then on carry the new id.
   */
  listen(node: string, onMessage: (from: string, bytes: Uint8Array) => void): Promise<void>;
  /** Sends `bytes` to `to` (a node id). Never throws for delivery problems; see `status`. */
  send(to: string, bytes: Uint8Array): void;
  /** `"up"` while messages can flow. */
  readonly status: TransportStatus;
  /** Called on every status change (a broker lost and found again). */
  onStatus(listener: (status: TransportStatus) => void): void;
  /**
   * Whether this transport can reach a node running in process `peer.pid`
   * on machine `peer.machine` (from the node's lease). Absent: any node.
   * A transport that cannot (`BroadcastChannel` across processes) lets the
   * caller refuse at once instead of waiting for an answer that never comes.
   */
  reaches?(peer: TransportPeer): boolean;
  /** Stops listening and releases every resource; idempotent. */
  close(): Promise<void>;
}
