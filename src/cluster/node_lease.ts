/**
 * {@linkcode NodeLease}: one lease per node (one app start) in Deno KV, under
 * `["dormant", "boot", node]`. The node renews it every third of its TTL
 * through the injected clock; the expiry is kept in the value (KV's
 * `expireIn` is only garbage collection and may lag). Socket records carry
 * the same node id, so a dead node's records are garbage once its lease is.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { bootLeaseKey } from "../kv/keys.ts";
import { currentPid, machineId, processAlive } from "../kv/process_info.ts";
import { CONTENDED_RETRY_DELAYS, retryTransient } from "../kv/retry.ts";

/** What a node lease holds. */
export interface LeaseValue {
  /** Last renewal (clock time). */
  readonly beat: number;
  /** Until when the node may act as owner (clock time); absent in leases of older versions. */
  readonly expiresAt?: number;
  /** Process id and machine boot id, to tell a crashed local process at once. */
  readonly pid: number;
  readonly machine: string | null;
}

/** A lease without `expiresAt` (written by an older version) lives this long after its beat. */
export const LEGACY_LEASE_TTL_MS = 90_000;

/**
 * The clock skew between nodes the leases tolerate: another node takes over
 * only this long after a lease expired, and an owner stops this long before
 * its lease expires. A quarter of the TTL, at most 1 s.
 */
export function skewMarginMs(ttlMs: number): number {
  return Math.min(1_000, Math.floor(ttlMs / 4));
}

/**
 * Whether a lease (as read from KV, `null` when absent) belongs to a node
 * that can no longer own objects or hold sockets: absent, expired for longer
 * than `skewMs`, or its process is gone from this machine.
 */
export function leaseDead(
  value: unknown,
  now: number,
  skewMs: number,
  machine: string | null,
): boolean {
  const lease = value as LeaseValue | null | undefined;
  if (lease === null || lease === undefined || typeof lease !== "object") return true;
  if (typeof lease.expiresAt === "number") {
    if (now > lease.expiresAt + skewMs) return true;
  } else if (now - lease.beat >= LEGACY_LEASE_TTL_MS) return true;
  // Same machine: a process that is gone owns nothing, whatever its last beat.
  if (lease.machine !== null && lease.machine === machine) {
    return processAlive(lease.pid) === false;
  }
  return false;
}

/** Options of {@linkcode NodeLease}. */
export interface NodeLeaseOptions {
  readonly kv: Deno.Kv;
  readonly clock: Clock;
  readonly ttlMs: number;
  /** Called with the number of mutations of each commit. */
  readonly onCommit?: (mutations: number) => void;
}

/**
 * This node's lease. `join()` writes it, `renew()` extends it by compare and
 * swap (a lease another node deleted, because it had expired, stays lost),
 * `leave()` deletes it.
 */
export class NodeLease {
  /** This node's id (new for every join after a loss). */
  node: string = newNodeId();
  readonly #kv: Deno.Kv;
  readonly #clock: Clock;
  readonly #ttl: number;
  readonly #margin: number;
  readonly #onCommit: (mutations: number) => void;
  readonly #machine = machineId();
  #versionstamp: string | null = null;
  #expiresAt = -Infinity;
  #renewing: Promise<"ok" | "lost"> | null = null;

  constructor(options: NodeLeaseOptions) {
    this.#kv = options.kv;
    this.#clock = options.clock;
    this.#ttl = options.ttlMs;
    this.#margin = skewMarginMs(options.ttlMs);
    this.#onCommit = options.onCommit ?? (() => {});
  }

  /** The lease's TTL in ms. */
  get ttlMs(): number {
    return this.#ttl;
  }

  /** This machine's boot id (`null` when unknown). */
  get machine(): string | null {
    return this.#machine;
  }

  /** The check that this node's lease is still the one it wrote (for claims). */
  get check(): Deno.AtomicCheck {
    return { key: bootLeaseKey(this.node), versionstamp: this.#versionstamp };
  }

  /** Whether the node must stop acting as owner at `now` (its lease is about to lapse, or lapsed). */
  lapsed(now: number): boolean {
    return now >= this.#expiresAt - this.#margin;
  }

  /** Writes a fresh lease under a new node id when `fresh`, else under the current one. */
  async join(fresh = false): Promise<void> {
    if (fresh) this.node = newNodeId();
    this.#versionstamp = null;
    this.#expiresAt = -Infinity;
    if (await this.renew() === "lost") {
      throw new Error(`Cannot join as node ${this.node}: its lease already exists`);
    }
  }

  /**
   * Extends the lease; `"lost"` when it is no longer the one this node wrote.
   * Concurrent calls share one renewal (two would fail each other's check).
   */
  renew(): Promise<"ok" | "lost"> {
    return this.#renewing ??= this.#renew().finally(() => {
      this.#renewing = null;
    });
  }

  async #renew(): Promise<"ok" | "lost"> {
    const now = this.#clock.now();
    const value: LeaseValue = {
      beat: now,
      expiresAt: now + this.#ttl,
      pid: currentPid(),
      machine: this.#machine,
    };
    const key = bootLeaseKey(this.node);
    const result = await retryTransient(
      () =>
        this.#kv.atomic().check({ key, versionstamp: this.#versionstamp }).set(key, value).commit(),
      CONTENDED_RETRY_DELAYS,
    );
    if (!result.ok) return "lost";
    this.#onCommit(1);
    this.#versionstamp = result.versionstamp;
    this.#expiresAt = value.expiresAt!;
    return "ok";
  }

  /** Deletes the lease if it is still this node's (graceful stop, or giving up a lost one). */
  async leave(): Promise<void> {
    const key = bootLeaseKey(this.node);
    const result = await retryTransient(
      () => this.#kv.atomic().check({ key, versionstamp: this.#versionstamp }).delete(key).commit(),
      CONTENDED_RETRY_DELAYS,
    );
    if (result.ok) this.#onCommit(1);
    this.#versionstamp = null;
    this.#expiresAt = -Infinity;
  }
}

/** A node id: 16 hex characters, unique per join. */
export function newNodeId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}
