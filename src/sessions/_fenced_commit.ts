// One atomic of the session log's group commit: the entries and session records of several
// objects, each object's ownership checked in the same atomic (one fence check per object), so a
// node that lost an object can never append to its log.

import { commitObjectsFenced, type Fence } from "../kv/fence.ts";
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
export function commitLogs<L extends LoggedObject>(
  kv: Deno.Kv,
  fence: Fence | undefined,
  batch: readonly LogMutation<L>[],
  logs: Set<L>,
): Promise<number> {
  const writes = batch.map((m) => ({ key: m.key, value: m.value, object: m.log }));
  return commitObjectsFenced(kv, fence, writes, logs, (log) => [log.storageName, log.hex]);
}
