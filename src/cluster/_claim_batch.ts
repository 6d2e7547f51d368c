// Claims of unowned objects, coalesced: claims that arrive while a batch is
// being committed wait for it and go together in the next one (one `getMany`
// per 10 objects, one atomic for all absent records). Nothing waits when the
// node is idle; under load (a burst of first connections), one KV commit
// claims up to CLAIM_BATCH objects instead of one each.

import { KV_MAX_CHECKS, KV_MAX_GET_MANY } from "../kv/keys.ts";
import { CONTENDED_RETRY_DELAYS, retryTransient } from "../kv/retry.ts";

/** Objects per batch: each costs one check, and the node's lease one more. */
const CLAIM_BATCH = KV_MAX_CHECKS - 1;

/** A batch claim's outcome: claimed (absent record, now this node's at epoch 1), or the record as read. */
export type BatchOutcome =
  | { readonly claimed: true; readonly versionstamp: string }
  | { readonly claimed: false; readonly entry: Deno.KvEntryMaybe<unknown> };

interface Waiting {
  readonly key: Deno.KvKey;
  resolve(outcome: BatchOutcome): void;
  reject(error: unknown): void;
}

/** Who claims: this node's id and the check that its lease is still the one it wrote. */
export interface Claimant {
  readonly node: string;
  readonly check: Deno.AtomicCheck;
}

/** Coalesces first claims of absent owner records into shared reads and commits. */
export class ClaimBatch {
  readonly #kv: Deno.Kv;
  readonly #claimant: () => Claimant;
  #queue: Waiting[] = [];
  #running = false;
  /** Commits that claimed objects. */
  commits = 0;

  constructor(kv: Deno.Kv, claimant: () => Claimant) {
    this.#kv = kv;
    this.#claimant = claimant;
  }

  /** Claims the object at `key` if it has no owner record, else resolves to the record as read. */
  claimIfAbsent(key: Deno.KvKey): Promise<BatchOutcome> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ key, resolve, reject });
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, CLAIM_BATCH);
        try {
          await this.#claim(batch);
        } catch (error) {
          for (const waiting of batch) waiting.reject(error);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  async #claim(batch: Waiting[]): Promise<void> {
    const groups: Waiting[][] = [];
    for (let i = 0; i < batch.length; i += KV_MAX_GET_MANY) {
      groups.push(batch.slice(i, i + KV_MAX_GET_MANY));
    }
    const entries = (await Promise.all(
      groups.map((group) =>
        retryTransient(() => this.#kv.getMany(group.map((w) => w.key)), CONTENDED_RETRY_DELAYS)
      ),
    )).flat();
    const absent = batch.filter((_, i) => entries[i]!.versionstamp === null);
    batch.forEach((waiting, i) => {
      if (entries[i]!.versionstamp !== null) {
        waiting.resolve({ claimed: false, entry: entries[i]! });
      }
    });
    if (absent.length === 0) return;
    const { node, check } = this.#claimant();
    const result = await retryTransient(() => {
      const atomic = this.#kv.atomic().check(check);
      for (const waiting of absent) {
        atomic.check({ key: waiting.key, versionstamp: null }).set(waiting.key, { node, epoch: 1 });
      }
      return atomic.commit();
    }, CONTENDED_RETRY_DELAYS);
    if (result.ok) {
      this.commits++;
      for (const waiting of absent) {
        waiting.resolve({ claimed: true, versionstamp: result.versionstamp });
      }
    } else {
      // Someone claimed one of them meanwhile (or this node's lease is gone): one by one.
      for (const waiting of absent) {
        waiting.resolve({
          claimed: false,
          entry: { key: waiting.key, value: null, versionstamp: null },
        });
      }
    }
  }
}
