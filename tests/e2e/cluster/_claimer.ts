/**
 * Claims the same objects as its sibling processes, as fast as it can, on a
 * shared KV file: `deno run -A _claimer.ts <kvPath> <count> <ttlMs>`.
 * Prints one JSON line `{ node, won, lost, retries, ms }` (the ids it won and
 * their epochs), then waits for a line on stdin before it releases its
 * objects and leaves, so that siblings can never see a released record
 * during the race.
 */
import { KvPlacement } from "../../../src/cluster/kv_placement.ts";
import { systemClock } from "../../../src/clock.ts";
import {
  CONTENDED_RETRY_DELAYS,
  retryTransient,
  transientRetryCount,
} from "../../../src/kv/retry.ts";

const [path, count, ttl] = Deno.args;
// Opening a SQLite file that siblings are writing can itself meet "database is locked".
const kv = await retryTransient(() => Deno.openKv(path), CONTENDED_RETRY_DELAYS);
const placement = new KvPlacement({ kv, clock: systemClock, leaseTtlMs: Number(ttl) });
await placement.join();
const renewing = setInterval(() => placement.renew().catch(() => {}), Number(ttl) / 3);
const ids = Array.from({ length: Number(count) }, (_, i) => i.toString(16).padStart(64, "0"));
// Each process works through the ids in its own order, 16 claims at a time.
for (let i = ids.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [ids[i], ids[j]] = [ids[j]!, ids[i]!];
}
const won: Array<[string, number]> = [];
let lost = 0;
const started = performance.now();
let next = 0;
await Promise.all(Array.from({ length: 16 }, async () => {
  while (next < ids.length) {
    const id = ids[next++]!;
    const where = await placement.locate("RACE", id);
    if (where.local) won.push([id, placement.epochOf("RACE", id)!]);
    else lost++;
  }
}));
const ms = performance.now() - started;
console.log(
  JSON.stringify({ node: placement.node, won, lost, retries: transientRetryCount(), ms }),
);
// Hold the objects until told to release.
await Deno.stdin.readable.getReader().read();
clearInterval(renewing);
await placement.release();
await placement.leave();
kv.close();
