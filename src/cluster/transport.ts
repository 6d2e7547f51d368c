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
  /** Stops listening and releases every resource; idempotent. */
  close(): Promise<void>;
}
