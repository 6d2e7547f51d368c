// A Placement for tests: every object is owned by one fixed node (or the node a function picks),
// with no KV and no leases; `invalidate` is counted, `lose` fires the onLost listeners.
import type { Location, LossReason, Placement } from "../../src/cluster/placement.ts";

/** Ownership decided by `ownerOf(storageName, id)` (a node id). */
export class FixedPlacement implements Placement {
  readonly node: string;
  ownerOf: (storageName: string, id: string) => string;
  invalidated = 0;
  readonly #lost: Array<(storageName: string, id: string, reason: LossReason) => void> = [];

  constructor(node: string, ownerOf: string | ((storageName: string, id: string) => string)) {
    this.node = node;
    this.ownerOf = typeof ownerOf === "string" ? () => ownerOf : ownerOf;
  }

  locate(storageName: string, id: string): Promise<Location> {
    const owner = this.ownerOf(storageName, id);
    return Promise.resolve(owner === this.node ? { local: true } : { local: false, node: owner });
  }

  invalidate(): void {
    this.invalidated++;
  }

  onLost(listener: (storageName: string, id: string, reason: LossReason) => void): void {
    this.#lost.push(listener);
  }

  /** This node stops owning the object. */
  lose(storageName: string, id: string, reason: LossReason = "released"): void {
    for (const listener of this.#lost) listener(storageName, id, reason);
  }
}
