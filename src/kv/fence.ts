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
import { retryTransient, withRetry } from "./retry.ts";

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

/** One write of a multi-object commit: a set (`value`) or a delete (`undefined`). */
export interface ObjectWrite<O> {
  readonly key: Deno.KvKey;
  readonly value?: unknown;
  /** The object the write belongs to. */
  readonly object: O;
}

/**
 * Commits `batch` (writes of the objects in `objects`) in one atomic, with
 * one fence check per object. The writes of an object this node no longer
 * owns are dropped (the fence has made the node step down for it) and the
 * others committed again; such objects are removed from `objects`. Resolves
 * to the number of writes committed (0 when none was left).
 *
 * @param addressOf The storage name and id of an object.
 * @throws {Error} If the atomic was rejected for another reason, or KV failed.
 */
export async function commitObjectsFenced<O>(
  kv: Deno.Kv,
  fence: Fence | undefined,
  batch: readonly ObjectWrite<O>[],
  objects: Set<O>,
  addressOf: (object: O) => readonly [storageName: string, id: string],
): Promise<number> {
  while (batch.length > 0) {
    const checks = new Map<O, Deno.AtomicCheck>();
    const moved = new Set<O>();
    if (fence !== undefined) {
      for (const object of objects) {
        try {
          checks.set(object, fence.check(...addressOf(object)));
        } catch (error) {
          if (!(error instanceof ObjectMovedError)) throw error;
          moved.add(object);
        }
      }
    }
    if (moved.size === 0) {
      const result = await retryTransient(() => {
        const op = kv.atomic();
        for (const check of checks.values()) op.check(check);
        for (const m of batch) {
          if (m.value === undefined) op.delete(m.key);
          else op.set(m.key, m.value);
        }
        return op.commit();
      });
      if (result.ok) return batch.length;
      // Only fence checks are in this atomic: find the objects that moved.
      const rejected = await Promise.all(
        [...checks].map(([object, check]) => fence!.rejected(...addressOf(object), check)),
      );
      [...checks.keys()].forEach((object, i) => rejected[i] && moved.add(object));
      if (moved.size === 0) throw new Error("atomic commit was rejected");
    }
    batch = batch.filter((m) => !moved.has(m.object));
    for (const object of moved) objects.delete(object);
  }
  return 0;
}
