// One atomic of the session log's group commit: the entries and session records of several
// objects, each object's ownership checked in the same atomic (one fence check per object), so a
// node that lost an object can never append to its log.

import { ObjectMovedError } from "../errors.ts";
import type { Fence } from "../kv/fence.ts";
import { retryTransient } from "../kv/retry.ts";
import type { Mutation } from "./session_log.ts";

/** The object a log belongs to. */
export interface LoggedObject {
  readonly storageName: string;
  readonly hex: string;
}

/** A write of the log `log`. */
export interface LogMutation<L extends LoggedObject> extends Mutation {
  readonly log: L;
}

/**
 * Commits `batch` (the writes of `logs`) in one atomic. The writes of an
 * object this node no longer owns are dropped (the fence has made the node
 * step down for it) and the others committed again; such logs are removed
 * from `logs`. Resolves to the number of mutations committed.
 *
 * @throws {Error} If the atomic was rejected for another reason, or KV failed.
 */
export async function commitLogs<L extends LoggedObject>(
  kv: Deno.Kv,
  fence: Fence | undefined,
  batch: readonly LogMutation<L>[],
  logs: Set<L>,
): Promise<number> {
  while (batch.length > 0) {
    const checks = new Map<L, Deno.AtomicCheck>();
    const moved = new Set<L>();
    if (fence !== undefined) {
      for (const log of logs) {
        try {
          checks.set(log, fence.check(log.storageName, log.hex));
        } catch (error) {
          if (!(error instanceof ObjectMovedError)) throw error;
          moved.add(log);
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
        [...checks].map(([log, check]) => fence!.rejected(log.storageName, log.hex, check)),
      );
      [...checks.keys()].forEach((log, i) => rejected[i] && moved.add(log));
      if (moved.size === 0) throw new Error("atomic commit was rejected");
    }
    batch = batch.filter((m) => !moved.has(m.log));
    for (const log of moved) logs.delete(log);
  }
  return 0;
}
