/**
 * {@linkcode Fence}: how a commit proves its node still owns the object it
 * writes. The owner of an object keeps the versionstamp of its owner record
 * as it claimed it; every commit for the object checks that versionstamp in
 * the same atomic, so a node that lost the object (another node took it
 * over) can run for a while but can never write.
 *
 * @module
 */

import { ObjectMovedError } from "../errors.ts";
import { withRetry } from "./retry.ts";

/** The fencing side of ownership, as the KV writers see it. */
export interface Fence {
  /**
   * The check on the object's owner record as this node claimed it.
   *
   * @throws {ObjectMovedError} If this node does not own the object (any more).
   */
  check(storageName: string, id: string): Deno.AtomicCheck;
  /**
   * A commit carrying `check` was rejected. Resolves to `true` when the owner
   * record moved (the write was fenced; this node has stepped down for the
   * object), `false` when another check of the commit failed.
   */
  rejected(storageName: string, id: string, check: Deno.AtomicCheck): Promise<boolean>;
}

/**
 * Commits the atomic `build()` makes, with the object's fence check added
 * (none without a fence), retrying transient contention.
 *
 * @returns The commit's result (`ok: false` when another check failed).
 * @throws {ObjectMovedError} If the commit was fenced.
 * @throws {KvError} If KV failed.
 */
export async function commitFenced(
  fence: Fence | undefined,
  storageName: string,
  id: string,
  operation: string,
  build: () => Deno.AtomicOperation,
): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
  const check = fence?.check(storageName, id);
  const result = await withRetry(operation, () => {
    const atomic = build();
    if (check !== undefined) atomic.check(check);
    return atomic.commit();
  });
  if (!result.ok && check !== undefined && await fence!.rejected(storageName, id, check)) {
    throw new ObjectMovedError(storageName, id);
  }
  return result;
}
