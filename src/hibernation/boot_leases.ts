import type { Clock } from "../clock.ts";
import {
  BOOT_LEASE_PREFIX,
  bootLeaseKey,
  bootOfLeaseKey,
  FLUSH_MAX_MUTATIONS,
  HIBERNATION_PREFIX,
  parseHibernationKey,
  SOCKET_RECORD,
  TIMESTAMP_RECORD,
} from "../kv/keys.ts";
import { commitWithRetry } from "../kv/retry.ts";

/** How often the records of dead nodes are looked for: every third beat. */
export const LEASE_BEAT_MS = 30_000;

/** Options of {@linkcode BootLeases}. */
export interface BootLeasesOptions {
  kv: Deno.Kv;
  clock: Clock;
  /** This node's id (unique per process start); socket records carry it. */
  boot: string;
  /** Called with the number of mutations of each commit. */
  onCommit(mutations: number): void;
  /**
   * Whether a node's lease, as read from KV at clock time `now`, belongs to a
   * node that can no longer hold sockets (the node leases define what a live
   * lease is; the app passes their rule).
   */
  leaseDead(lease: unknown, now: number): boolean;
}

/**
 * Socket records are written per node (one process start), and a socket dies
 * with its process. A running node renews its lease (`NodeLease`); records of
 * nodes whose lease expired, was dropped, or whose process is gone from this
 * machine are deleted at start (and periodically). Records of other running
 * apps sharing the database are kept.
 */
export class BootLeases {
  readonly #kv: Deno.Kv;
  readonly #clock: Clock;
  #boot: string;
  readonly #onCommit: (mutations: number) => void;
  readonly #leaseDead: (lease: unknown, now: number) => boolean;

  constructor(options: BootLeasesOptions) {
    this.#kv = options.kv;
    this.#clock = options.clock;
    this.#boot = options.boot;
    this.#onCommit = options.onCommit;
    this.#leaseDead = options.leaseDead;
  }

  /** This node joined again under a new id (its old records are now a dead node's). */
  rejoin(boot: string): void {
    this.#boot = boot;
  }

  /**
   * Deletes socket records whose process is gone (its sockets died with it)
   * and the leases of dead boots. Returns how many records were removed.
   */
  async cleanup(): Promise<number> {
    const leases = new Map<string, unknown>();
    for await (const entry of this.#kv.list({ prefix: BOOT_LEASE_PREFIX })) {
      leases.set(bootOfLeaseKey(entry.key) as string, entry.value);
    }
    const dead = new Set<string>();
    for (const [boot, lease] of leases) {
      if (boot !== this.#boot && this.#leaseDead(lease, this.#clock.now())) dead.add(boot);
    }
    const stale: Deno.KvKey[] = [...dead].map(bootLeaseKey);
    for await (const entry of this.#kv.list({ prefix: HIBERNATION_PREFIX }, { batchSize: 500 })) {
      const { kind, boot } = parseHibernationKey(entry.key);
      if (kind !== SOCKET_RECORD && kind !== TIMESTAMP_RECORD) continue;
      if (boot !== this.#boot && (dead.has(boot as string) || !leases.has(boot as string))) {
        stale.push(entry.key);
      }
    }
    for (let i = 0; i < stale.length; i += FLUSH_MAX_MUTATIONS) {
      await commitWithRetry(() => {
        const op = this.#kv.atomic();
        for (const key of stale.slice(i, i + FLUSH_MAX_MUTATIONS)) op.delete(key);
        return op;
      });
      this.#onCommit(Math.min(FLUSH_MAX_MUTATIONS, stale.length - i));
    }
    return stale.length;
  }
}
