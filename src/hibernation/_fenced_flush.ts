// One atomic of the write-behind flush: several objects' records, each
// object's ownership checked in the same atomic (one fence check per object).

import { commitObjectsFenced, type Fence } from "../kv/fence.ts";

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
export function commitObjects<H extends FlushedObject>(
  kv: Deno.Kv,
  fence: Fence | undefined,
  batch: readonly FlushMutation<H>[],
  hosts: Set<H>,
): Promise<number> {
  const writes = batch.map((m) => ({ key: m.key, value: m.value, object: m.host }));
  return commitObjectsFenced(kv, fence, writes, hosts, (host) => [
    host.keyBase[2] as string,
    host.keyBase[3] as string,
  ]);
}
