/**
 * {@linkcode Placement}: which node owns an object. The node that first
 * receives an event for an unowned object claims it; an owner record names
 * the node and an epoch, and every storage commit of the owner checks that
 * record in the same atomic (fencing), so a superseded owner can never
 * write.
 *
 * @module
 */

/** Where an object's instance lives. */
export type Location =
  /** This node owns the object (claimed now or earlier). */
  | { readonly local: true }
  /** Another live node owns it. */
  | { readonly local: false; readonly node: string };

/** Why this node stopped owning an object. */
export type LossReason = "fenced" | "lease lost" | "released";

/** The ownership of objects, as the directory and the hosts see it. */
export interface Placement {
  /** This node's id, unique per process start (a restarted process is a new node). */
  readonly node: string;
  /**
   * The owner of object `id` of storage `storageName`, claiming it for this
   * node when it has no live owner. Cached: an object this node owns
   * resolves without a KV read.
   */
  locate(storageName: string, id: string): Promise<Location>;
  /** The cached owner of the object is wrong (it did not answer, or said it is not the owner). */
  invalidate(storageName: string, id: string): void;
  /**
   * Calls `listener` when this node stops owning an object: a commit was
   * fenced, the node's lease lapsed, or it released the object.
   */
  onLost(listener: (storageName: string, id: string, reason: LossReason) => void): void;
}
