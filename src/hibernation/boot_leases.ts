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
import { currentPid, machineId, processAlive } from "../kv/process_info.ts";

/** How often a running app renews its boot lease. */
export const LEASE_BEAT_MS = 30_000;
/** A lease not renewed for this long belongs to a dead boot. */
export const LEASE_TTL_MS = 90_000;

/** Stored under `bootLeaseKey(boot)` while a process runs. */
interface BootLease {
  /** Last renewal (clock time). */
  beat: number;
  /** Process id and machine boot id, to tell a crashed local process at once. */
  pid: number;
  machine: string | null;
}

/** Options of {@linkcode BootLeases}. */
export interface BootLeasesOptions {
  kv: Deno.Kv;
  clock: Clock;
  /** Unique per process start; socket records carry it. */
  boot: string;
  /** Called with the number of mutations of each commit. */
  onCommit(mutations: number): void;
}

/**
 * Boot leases: socket records are written per process start (boot), and a
 * socket dies with its process. A running app renews its lease; records of
 * boots whose lease expired, was dropped, or whose process is gone from this
 * machine are deleted at start (and periodically). Records of other running
 * apps sharing the database are kept.
 */
export class BootLeases {
  readonly #kv: Deno.Kv;
  readonly #clock: Clock;
  readonly #boot: string;
  readonly #onCommit: (mutations: number) => void;
  readonly #machine = machineId();

  constructor(options: BootLeasesOptions) {
    this.#kv = options.kv;
    this.#clock = options.clock;
    this.#boot = options.boot;
    this.#onCommit = options.onCommit;
  }

  /** Writes (or renews) this process's boot lease. */
  async renew(): Promise<void> {
    const lease: BootLease = { beat: this.#clock.now(), pid: currentPid(), machine: this.#machine };
    await commitWithRetry(() => this.#kv.atomic().set(bootLeaseKey(this.#boot), lease));
    this.#onCommit(1);
  }

  /** Removes this process's lease (graceful shutdown): its records become stale at once. */
  async drop(): Promise<void> {
    await commitWithRetry(() => this.#kv.atomic().delete(bootLeaseKey(this.#boot)));
    this.#onCommit(1);
  }

  /** Whether a lease belongs to a boot that can no longer hold sockets. */
  #dead(lease: BootLease | undefined): boolean {
    if (lease === undefined) return true;
    if (this.#clock.now() - lease.beat >= LEASE_TTL_MS) return true;
    // Same machine: a process that is gone holds no sockets, whatever its last beat.
    if (lease.machine !== null && lease.machine === this.#machine) {
      return processAlive(lease.pid) === false;
    }
    return false;
  }

  /**
   * Deletes socket records whose process is gone (its sockets died with it)
   * and the leases of dead boots. Returns how many records were removed.
   */
  async cleanup(): Promise<number> {
    const leases = new Map<string, BootLease>();
    for await (const entry of this.#kv.list<BootLease>({ prefix: BOOT_LEASE_PREFIX })) {
      leases.set(bootOfLeaseKey(entry.key) as string, entry.value);
    }
    const dead = new Set<string>();
    for (const [boot, lease] of leases) {
      if (boot !== this.#boot && this.#dead(lease)) dead.add(boot);
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
