/**
 * {@linkcode KvPlacement}: ownership of objects on Deno KV. Each node holds a
 * {@linkcode NodeLease}; each object an owner record
 * `["dormant", "own", storageName, id] → { node, epoch, released? }`,
 * claimed by compare and swap. It is also the {@linkcode Fence} every KV
 * writer checks: the owner record's versionstamp as this node claimed it.
 *
 * @module
 */

import { KvError, ObjectMovedError } from "../errors.ts";
import type { Clock } from "../clock.ts";
import type { Fence } from "../kv/fence.ts";
import { BOOT_LEASE_PREFIX, bootLeaseKey, KV_MAX_CHECKS, ownerKey } from "../kv/keys.ts";
import { CONTENDED_RETRY_DELAYS, retryTransient } from "../kv/retry.ts";
import { leaseDead, type LeaseValue, NodeLease, skewMarginMs } from "./node_lease.ts";
import type { Location, LossReason, Placement } from "./placement.ts";
import { ClaimBatch } from "./_claim_batch.ts";

/** An owner record as stored. */
export interface OwnerRecord {
  /** The owning node. */
  readonly node: string;
  /** Raised by one each time the object changes node. */
  readonly epoch: number;
  /** Set by a graceful stop: any node may claim the object at once. */
  readonly released?: boolean;
}

/** Options of {@linkcode KvPlacement}. */
export interface KvPlacementOptions {
  readonly kv: Deno.Kv;
  readonly clock: Clock;
  /** Node lease TTL in ms. */
  readonly leaseTtlMs: number;
  /** Called with the number of mutations of each commit. */
  readonly onCommit?: (mutations: number) => void;
  /** This node's lease was lost and it joined again under a new id (after `onLost` for each object). */
  readonly onRejoin?: (node: string, previous: string) => void;
}

interface Owned {
  readonly check: Deno.AtomicCheck;
  readonly epoch: number;
}

const LOCAL: Location = Object.freeze({ local: true });
const LOCAL_PROMISE: Promise<Location> = Promise.resolve(LOCAL);
// A contended claim on a shared SQLite file meets "database is locked" often: retry longer.
const CLAIM_RETRY_DELAYS = CONTENDED_RETRY_DELAYS;
const MAX_CLAIM_ATTEMPTS = 20;
// Release commits: one check per object, within KV's checks per atomic.
const RELEASE_BATCH = KV_MAX_CHECKS;

function isOwnerRecord(value: unknown): value is OwnerRecord {
  const r = value as OwnerRecord | null;
  return typeof r === "object" && r !== null && typeof r.node === "string" &&
    typeof r.epoch === "number";
}

/**
 * Placement and fencing on Deno KV: the node that first needs an unowned
 * object claims it; a claim takes over only a released record or one whose
 * node lease is dead, in one atomic that checks the owner record and that
 * lease as read. The epoch rises only when the object changes node.
 * `locate()` answers from memory for objects this node owns.
 */
export class KvPlacement implements Placement, Fence {
  readonly #kv: Deno.Kv;
  readonly #clock: Clock;
  readonly #lease: NodeLease;
  readonly #skew: number;
  readonly #onCommit: (mutations: number) => void;
  readonly #onRejoin: (node: string, previous: string) => void;
  readonly #owned = new Map<string, Owned>();
  readonly #remote = new Map<string, { node: string; until: number }>();
  readonly #claims = new Map<string, Promise<Location>>();
  readonly #batch: ClaimBatch;
  readonly #listeners: ((storageName: string, id: string, reason: LossReason) => void)[] = [];
  #fencing: Promise<void> | null = null;
  #closed = false;
  #claimCommits = 0;

  constructor(options: KvPlacementOptions) {
    this.#kv = options.kv;
    this.#clock = options.clock;
    this.#onCommit = options.onCommit ?? (() => {});
    this.#onRejoin = options.onRejoin ?? (() => {});
    this.#lease = new NodeLease({
      kv: options.kv,
      clock: options.clock,
      ttlMs: options.leaseTtlMs,
      onCommit: this.#onCommit,
    });
    this.#skew = skewMarginMs(options.leaseTtlMs);
    this.#batch = new ClaimBatch(options.kv, () => this.#lease);
  }

  get node(): string {
    return this.#lease.node;
  }

  /** Whether this node's lease may have lapsed by the clock (its event loop stalled, say). */
  stale(): boolean {
    return this.#lease.lapsed(this.#clock.now());
  }

  /** Objects this node owns now. */
  get ownedCount(): number {
    return this.#owned.size;
  }

  /** Successful claim commits so far (one may claim many objects). */
  get claims(): number {
    return this.#claimCommits + this.#batch.commits;
  }

  /** The epoch of an object this node owns, else `undefined`. */
  epochOf(storageName: string, id: string): number | undefined {
    return this.#owned.get(`${storageName}/${id}`)?.epoch;
  }

  /** Writes this node's lease. */
  join(): Promise<void> {
    return this.#lease.join();
  }

  /**
   * Renews the lease (every third of its TTL). A lease that was lost, or
   * that cannot be renewed before it lapses, makes the node step down from
   * every object and join again under a new id.
   */
  async renew(): Promise<void> {
    let outcome: "ok" | "lost";
    try {
      outcome = await this.#lease.renew();
    } catch (error) {
      if (this.#lease.lapsed(this.#clock.now())) await this.selfFence();
      throw error;
    }
    if (outcome === "lost") await this.selfFence();
  }

  locate(storageName: string, id: string): Promise<Location> {
    const key = `${storageName}/${id}`;
    if (this.#owned.has(key) && !this.#lease.lapsed(this.#clock.now())) return LOCAL_PROMISE;
    const remote = this.#remote.get(key);
    if (remote !== undefined && remote.until > this.#clock.now()) {
      return Promise.resolve({ local: false, node: remote.node });
    }
    // Concurrent first events of one object share one claim.
    let claim = this.#claims.get(key);
    if (claim === undefined) {
      claim = this.#resolve(storageName, id, key).finally(() => this.#claims.delete(key));
      this.#claims.set(key, claim);
    }
    return claim;
  }

  invalidate(storageName: string, id: string): void {
    this.#remote.delete(`${storageName}/${id}`);
  }

  onLost(listener: (storageName: string, id: string, reason: LossReason) => void): void {
    this.#listeners.push(listener);
  }

  // ---- Fence -----------------------------------------------------------------------------------

  check(storageName: string, id: string): Deno.AtomicCheck {
    const owned = this.#owned.get(`${storageName}/${id}`);
    if (owned === undefined) throw new ObjectMovedError(storageName, id);
    return owned.check;
  }

  async rejected(storageName: string, id: string, check: Deno.AtomicCheck): Promise<boolean> {
    const entry = await retryTransient(() => this.#kv.get(check.key), CLAIM_RETRY_DELAYS);
    if (entry.versionstamp === check.versionstamp) return false;
    const owned = this.#owned.get(`${storageName}/${id}`);
    if (owned !== undefined && owned.check.versionstamp === check.versionstamp) {
      this.#lose(storageName, id, "fenced");
    }
    return true;
  }

  // ---- claims ----------------------------------------------------------------------------------

  async #resolve(storageName: string, id: string, key: string): Promise<Location> {
    if (this.#lease.lapsed(this.#clock.now())) await this.#verifyLease();
    const oKey = ownerKey(storageName, id);
    // Most first claims find no record: those are coalesced with concurrent ones.
    let read: Deno.KvEntryMaybe<unknown> | null = null;
    if (!this.#closed) {
      const first = await this.#batch.claimIfAbsent(oKey);
      if (first.claimed) {
        this.#remote.delete(key);
        this.#owned.set(key, { check: { key: oKey, versionstamp: first.versionstamp }, epoch: 1 });
        return LOCAL;
      }
      read = first.entry;
    }
    for (let attempt = 1; attempt <= MAX_CLAIM_ATTEMPTS; attempt++) {
      if (this.#closed) {
        throw new KvError("claim", new Error(`the app is shutting down (${storageName}/${id})`));
      }
      const entry = read ?? await retryTransient(() => this.#kv.get(oKey), CLAIM_RETRY_DELAYS);
      read = null;
      const record = isOwnerRecord(entry.value) ? entry.value : null;
      const node = this.#lease.node;
      if (record !== null && record.node === node && !record.released) {
        // Ours already (a cache that was cleared): the record as read is the fence.
        this.#owned.set(key, {
          check: { key: oKey, versionstamp: entry.versionstamp },
          epoch: record.epoch,
        });
        return LOCAL;
      }
      let lease: Deno.KvEntryMaybe<unknown> | null = null;
      if (record !== null && !record.released) {
        lease = await retryTransient(
          () => this.#kv.get(bootLeaseKey(record.node)),
          CLAIM_RETRY_DELAYS,
        );
        if (!leaseDead(lease.value, this.#clock.now(), this.#skew, this.#lease.machine)) {
          const until = (lease.value as LeaseValue).expiresAt ?? this.#clock.now();
          this.#remote.set(key, { node: record.node, until });
          return { local: false, node: record.node };
        }
      }
      const epoch = record === null ? 1 : record.node === node ? record.epoch : record.epoch + 1;
      const value: OwnerRecord = { node, epoch };
      const result = await retryTransient(() => {
        const atomic = this.#kv.atomic()
          .check({ key: oKey, versionstamp: entry.versionstamp })
          .check(this.#lease.check) // a node whose lease is gone claims nothing
          .set(oKey, value);
        if (lease !== null) {
          // The dead owner's lease as read; deleting it tells that node, should it come back,
          // that it lost everything (its renewal fails).
          atomic.check({ key: lease.key, versionstamp: lease.versionstamp });
          if (lease.versionstamp !== null) atomic.delete(lease.key);
        }
        return atomic.commit();
      }, CLAIM_RETRY_DELAYS);
      if (result.ok) {
        this.#claimCommits++;
        this.#onCommit(lease?.versionstamp ? 2 : 1);
        this.#remote.delete(key);
        this.#owned.set(key, { check: { key: oKey, versionstamp: result.versionstamp }, epoch });
        return LOCAL;
      }
      // Someone else changed the record or a lease meanwhile: read again. Now and then make
      // sure it is not this node's own lease that is gone (then it joins again first).
      if (attempt % 3 === 0) await this.#verifyLease();
    }
    throw new KvError(
      "claim",
      new Error(
        `the owner record of ${storageName}/${id} kept changing during ${MAX_CLAIM_ATTEMPTS} attempts`,
      ),
    );
  }

  /** The clock says the lease may have lapsed: renew it, or step down if it was lost. */
  async #verifyLease(): Promise<void> {
    if (this.#fencing) return await this.#fencing;
    if (await this.#lease.renew() === "lost") await this.selfFence();
  }

  // ---- losing objects --------------------------------------------------------------------------

  #lose(storageName: string, id: string, reason: LossReason): void {
    if (!this.#owned.delete(`${storageName}/${id}`)) return;
    for (const listener of this.#listeners) listener(storageName, id, reason);
  }

  #loseAll(reason: LossReason): void {
    const all = [...this.#owned.keys()];
    this.#owned.clear();
    this.#remote.clear();
    for (const key of all) {
      const slash = key.indexOf("/");
      for (const listener of this.#listeners) {
        listener(key.slice(0, slash), key.slice(slash + 1), reason);
      }
    }
  }

  /**
   * This node's lease lapsed or was lost: it steps down from every object
   * (`onLost` with `"lease lost"`) and joins again under a new node id.
   * Single flight.
   */
  selfFence(): Promise<void> {
    return this.#fencing ??= (async () => {
      const previous = this.#lease.node;
      this.#loseAll("lease lost");
      try {
        await this.#lease.leave(); // only if it is still ours; anyway it is dead to the others
      } catch {
        // KV unreachable: the old lease expires by itself.
      }
      await this.#lease.join(true);
      this.#onRejoin(this.#lease.node, previous);
    })().finally(() => {
      this.#fencing = null;
    });
  }

  /**
   * Graceful stop: releases owned records by compare and swap (another node
   * may claim them at once), firing `onLost` with `"released"`; the objects
   * `first` names (`storageName/id`: those in memory) go first. Stops after
   * `budgetMs` (what is left is taken over once the lease expires). No claim
   * succeeds after this. Resolves to the number of records released.
   */
  async release(first: ReadonlySet<string> = new Set(), budgetMs = 400): Promise<number> {
    this.#closed = true;
    const deadline = performance.now() + budgetMs;
    const owned = [...this.#owned].sort(([a], [b]) => Number(first.has(b)) - Number(first.has(a)));
    let released = 0;
    for (let i = 0; i < owned.length && performance.now() < deadline; i += RELEASE_BATCH) {
      const batch = owned.slice(i, i + RELEASE_BATCH);
      const node = this.#lease.node;
      const commit = (items: typeof batch) =>
        retryTransient(() => {
          const atomic = this.#kv.atomic();
          for (const [, { check, epoch }] of items) {
            atomic.check(check).set(check.key, { node, epoch, released: true });
          }
          return atomic.commit();
        }, CLAIM_RETRY_DELAYS);
      if ((await commit(batch)).ok) released += batch.length;
      else {
        // One of them moved: release the others one by one.
        for (const item of batch) if ((await commit([item])).ok) released++;
      }
      this.#onCommit(batch.length);
    }
    this.#loseAll("released");
    return released;
  }

  /** The other nodes whose lease is live now. */
  async liveNodes(): Promise<string[]> {
    const nodes: string[] = [];
    const now = this.#clock.now();
    const leases = await retryTransient(async () => {
      const out: Deno.KvEntry<unknown>[] = [];
      for await (const entry of this.#kv.list({ prefix: BOOT_LEASE_PREFIX })) out.push(entry);
      return out;
    }, CLAIM_RETRY_DELAYS);
    for (const entry of leases) {
      const node = entry.key[2];
      if (typeof node !== "string" || node === this.#lease.node) continue;
      if (!leaseDead(entry.value, now, this.#skew, this.#lease.machine)) nodes.push(node);
    }
    return nodes;
  }

  /** Deletes this node's lease (after `release()`). */
  leave(): Promise<void> {
    this.#closed = true;
    return this.#lease.leave();
  }
}
