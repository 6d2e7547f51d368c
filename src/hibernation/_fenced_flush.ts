// One atomic of the write-behind flush: several objects' records, each
// object's ownership checked in the same atomic (one fence check per object).

import { ObjectMovedError } from "../errors.ts";
import type { Fence } from "../kv/fence.ts";
import { retryTransient } from "../kv/retry.ts";

/** An object whose records a flush writes: `keyBase` is `["dormant", "h", storageName, id]`. */
export interface FlushedObject {
  readonly keyBase: Deno.KvKey;
}

/** One record to write (`value`) or delete (`undefined`), of `host`. */
export interface FlushMutation<H> {
  readonly key: Deno.KvKey;
  readonly value?: unknown;
  readonly host: H;
}

/**
 * Commits `batch` (the records of `hosts`) in one atomic. The records of an
 * object this node no longer owns are dropped (the fence has made it step
 * down: its sockets are closed) and the others committed again; such objects
 * are removed from `hosts`. Resolves to the number of mutations committed (0
 * when none was left).
 */
export async function commitObjects<H extends FlushedObject>(
  kv: Deno.Kv,
  fence: Fence | undefined,
  batch: readonly FlushMutation<H>[],
  hosts: Set<H>,
): Promise<number> {
  while (batch.length > 0) {
    const checks = new Map<H, Deno.AtomicCheck>();
    const moved = new Set<H>();
    if (fence !== undefined) {
      for (const host of hosts) {
        try {
          checks.set(host, fence.check(host.keyBase[2] as string, host.keyBase[3] as string));
        } catch (error) {
          if (!(error instanceof ObjectMovedError)) throw error;
          moved.add(host);
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
        [...checks].map(([host, check]) =>
          fence!.rejected(host.keyBase[2] as string, host.keyBase[3] as string, check)
        ),
      );
      [...checks.keys()].forEach((host, i) => rejected[i] && moved.add(host));
      if (moved.size === 0) throw new Error("atomic commit was rejected");
    }
    batch = batch.filter((m) => !moved.has(m.host));
    for (const host of moved) hosts.delete(host);
  }
  return 0;
}
