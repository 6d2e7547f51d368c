/**
 * The app's start and stop. Start (once, on first use): open KV, renew the
 * boot lease and clean records of dead boots, then start the alarm scheduler.
 * Stop: drain, wait for running handlers, flush settings, close every socket,
 * release the lease and KV. In between it is the factory of each object's
 * storage and counts KV commits.
 *
 * @module
 */

import { AlarmScheduler } from "./alarms/alarm_scheduler.ts";
import type { Bindings } from "./bindings.ts";
import { KvError } from "./errors.ts";
import type { Report } from "./exception_sink.ts";
import type { Fence } from "./kv/fence.ts";
import type { Admission } from "./http/admission.ts";
import { HibernationStore, LEASE_BEAT_MS } from "./hibernation/hibernation_store.ts";
import { KvPlacement } from "./cluster/kv_placement.ts";
import { leaseDead } from "./cluster/node_lease.ts";
import type { ClusterOptions } from "./cluster/cluster_options.ts";
import { Ownership } from "./ownership.ts";
import { TERMINATE } from "./sockets/connection_internals.ts";
import { defaultKvPath, type KvLease, openKv } from "./kv/open_kv.ts";
import { machineId } from "./kv/process_info.ts";
import { positive } from "./options.ts";
import { type Clock, type ClockTimer, delay } from "./clock.ts";
import type { ObjectHost } from "./objects/object_host.ts";
import type { HostStore } from "./objects/persisted_object.ts";
import { KvBackend } from "./storage/kv_backend.ts";
import { Storage } from "./storage/storage.ts";
import type { ObjectStorage, StorageHooks } from "./storage/object_storage.ts";

/** What the lifecycle starts, stops and reports through. */
export interface LifecycleParts {
  readonly options: {
    readonly kv?: Deno.Kv;
    readonly kvPath?: string;
    readonly flushDelayMs?: number;
    readonly cluster?: ClusterOptions;
  };
  readonly clock: Clock;
  readonly admission: Admission;
  readonly report: Report;
  /** The registered classes (alarms are delivered to them; shutdown closes their sockets). */
  objects(): Bindings;
  /** Pending `ctx.waitUntil()` promises of the worker. */
  workerWaits(): number;
  /** Resumable sessions: restored once KV is open, their log written before it closes. */
  readonly sessions?: {
    start(kv: Deno.Kv, onCommit: (mutations: number) => void, fence?: Fence): Promise<void>;
    stop(): Promise<void>;
  };
  /** The node's cluster side (transport, socket bridge), if it is in a cluster. */
  readonly cluster?: {
    start(): Promise<void>;
    /** The node rejoined under a new id: the transport follows. */
    rejoin(): Promise<void>;
    shutdownSockets(restart: boolean): void;
    close(): Promise<void>;
  } | null;
}

/** KV, the boot lease, the hibernation store and the alarm scheduler of one app. */
export class Lifecycle {
  /** The write-behind persistence the hosts use (waits for the start where it needs KV). */
  readonly store: HostStore;
  readonly #parts: LifecycleParts;
  readonly #clock: Clock;
  readonly #ttl: number;
  #ownership: Ownership | null = null;
  #ready: Promise<void> | null = null;
  #lease: KvLease | null = null;
  #kv: Deno.Kv | null = null;
  #store: HibernationStore | null = null;
  #alarms: AlarmScheduler | null = null;
  /** The lease renewal and the cleanup beat. */
  readonly #timers = new Set<ClockTimer>();
  #kvCommits = 0;
  #kvMutations = 0;

  /** Creates the instance; nothing starts before {@linkcode Lifecycle.ready}. */
  constructor(parts: LifecycleParts) {
    this.#parts = parts;
    this.#clock = parts.clock;
    this.#ttl = leaseTtl(parts.options.cluster?.leaseTtlMs);
    this.store = {
      markSocket: (host, ws, what) => this.#store?.markSocket(host, ws, what),
      markConfig: (host) => this.#store?.markConfig(host),
      forgetSocket: (host, ws) => this.#store?.forgetSocket(host, ws),
      flush: async () => {
        await this.ready();
        await this.#store!.flush();
      },
      load: async (host) => {
        await this.ready();
        await this.#store!.load(host);
      },
    };
  }

  /** The app's KV (after {@linkcode Lifecycle.ready}). */
  get kv(): Deno.Kv {
    if (!this.#kv) throw new Error("Cannot use KV before the app is ready");
    return this.#kv;
  }

  /** KV commits made by the framework and storage. */
  get kvCommits(): number {
    return this.#kvCommits;
  }

  /** KV mutations committed. */
  get kvMutations(): number {
    return this.#kvMutations;
  }

  /** Records waiting in the write-behind buffer. */
  get pendingWrites(): number {
    return this.#store?.pending ?? 0;
  }

  /** Who owns which object (after {@linkcode Lifecycle.ready}). */
  get placement(): KvPlacement {
    if (!this.#ownership) throw new Error("Cannot use placement before the app is ready");
    return this.#ownership.placement;
  }

  /**
   * Makes sure this node owns the object before an instance of it is built:
   * claims it if no live node does. Resolves at once for an object it owns.
   *
   * @throws {ObjectElsewhereError} If another live node owns it.
   */
  async claim(host: ObjectHost): Promise<void> {
    if (this.#ownership === null) await this.ready();
    await this.#ownership!.claim(host);
  }

  /** Whether this node's lease may have lapsed (its event loop stalled): check before running. */
  stale(): boolean {
    return this.#ownership?.placement.stale() ?? false;
  }

  /** Opens KV, cleans records of earlier runs and starts alarms; idempotent. */
  ready(): Promise<void> {
    // A failed start is not cached: the next request tries again.
    return this.#ready ??= this.#init().catch((error) => {
      this.#ready = null;
      throw error;
    });
  }

  async #init(): Promise<void> {
    try {
      await this.#start();
    } catch (error) {
      this.#stopTimers();
      this.#store?.close();
      this.#store = null;
      this.#alarms?.close();
      this.#alarms = null;
      // A start that failed after joining leaves no live-looking lease behind.
      await this.#ownership?.placement.leave().catch(() => {});
      this.#ownership = null;
      this.#lease?.release();
      this.#lease = null;
      this.#kv = null;
      throw error;
    }
  }

  async #start(): Promise<void> {
    const options = this.#parts.options;
    if (options.kv) this.#kv = options.kv;
    else {
      this.#lease = await openKv(
        options.kvPath === undefined ? defaultKvPath() : options.kvPath,
      );
      this.#kv = this.#lease.kv;
    }
    const onCommit = (mutations: number) => {
      this.#kvCommits++;
      this.#kvMutations += mutations;
    };
    const placement = new KvPlacement({
      kv: this.#kv,
      clock: this.#clock,
      leaseTtlMs: this.#ttl,
      // Claims and lease renewals are ownership bookkeeping: not counted in kvCommits.
      // Every socket of the old node id was closed: records are written under the new one.
      onRejoin: (node) => {
        this.#store?.rejoin(node);
        void this.#parts.cluster?.rejoin();
      },
    });
    // The lease tells other apps on this database that our records and objects are live.
    await placement.join();
    this.#ownership = new Ownership(placement, this.#parts.objects, this.#parts.report);
    this.#store = new HibernationStore({
      kv: this.#kv,
      clock: this.#clock,
      boot: placement.node,
      fence: placement,
      flushDelayMs: positive("flushDelayMs", options.flushDelayMs, 250, true),
      onCommit,
      report: (error, operation) => this.#parts.report(error, { namespace: "*", operation }),
      leaseDead: bootLeaseDead(machineId()),
    });
    await this.#store.cleanup();
    // Every third 30 s beat cleans the records of dead nodes.
    let beat = 0;
    this.#every(LEASE_BEAT_MS, () => beat++ % 3 === 2 ? this.#store!.cleanup() : Promise.resolve());
    // A lost lease makes the node step down and rejoin.
    this.#every(Math.floor(this.#ttl / 3), () => this.#ownership!.placement.renew());
    const objects = this.#parts.objects();
    this.#alarms = new AlarmScheduler({
      kv: this.#kv,
      clock: this.#clock,
      onCommit,
      // Stored with the alarm: after a restart it is the only place the object's name is known.
      nameOf: (storageName, id) => objects.nameOf(storageName, id),
      deliver: (storageName, id, info, name) => objects.alarm(storageName, id, info, name),
      fence: placement,
      // Only the owner delivers: an alarm of an object another live node owns is left to it.
      owns: async (storageName, id) => (await placement.locate(storageName, id)).local,
      // Alarms other nodes set are found here too, should their owner die.
      rescanMs: this.#ttl,
      // The scheduler knows storage names; the hook documents binding names.
      onException: (error, context) =>
        this.#parts.report(error, {
          ...context,
          namespace: objects.bindingOf(context.namespace) ?? context.namespace,
        }),
    });
    await this.#alarms.start();
    await this.#parts.sessions?.start(this.#kv, onCommit, placement);
    await this.#parts.cluster?.start();
  }

  /** Runs `task` every `ms` until the app drains; a failure is reported as a lease error. */
  #every(ms: number, task: () => Promise<unknown>): void {
    if (this.#parts.admission.draining) return;
    const timer = this.#clock.setTimeout(async () => {
      this.#timers.delete(timer);
      try {
        await task();
      } catch (error) {
        if (!this.#parts.admission.draining) {
          this.#parts.report(new KvError("lease", error), {
            namespace: "*",
            operation: "kv.lease",
          });
        }
      }
      this.#every(ms, task);
    }, ms);
    this.#timers.add(timer);
  }

  /** The storage of one object, on the app's KV (after {@linkcode Lifecycle.ready}). */
  createStorage(host: ObjectHost, hooks: StorageHooks): ObjectStorage {
    if (!this.#kv || !this.#alarms) throw new Error("Cannot use storage before the app is ready");
    const onCommit = hooks.onCommit;
    return new Storage({
      backend: new KvBackend(
        this.#kv,
        host.runtime.storageName,
        host.hex,
        this.#ownership!.placement,
      ),
      alarms: this.#alarms,
      hooks: {
        ...hooks,
        onCommit: (mutations) => {
          onCommit(mutations);
          this.#kvCommits++;
          this.#kvMutations += mutations;
        },
      },
    });
  }

  /**
   * Refuses new work, waits for running handlers (up to `timeoutMs`), flushes
   * settings, releases the objects this node owns (another node may take
   * them over at once), closes every socket with 1001 (1012 when `restart`,
   * or when another node is live to take the clients over), then releases
   * the lease and KV.
   */
  async shutdown(restart: boolean, timeoutMs: number): Promise<void> {
    const admission = this.#parts.admission;
    const objects = this.#parts.objects();
    admission.drain();
    const deadline = Date.now() + timeoutMs;
    while (
      Date.now() < deadline &&
      (this.#parts.workerWaits() > 0 ||
        objects.hosts().some((h) =>
          h.blockers().some((b) => b !== "hibernation disabled" && b !== "non-hibernatable socket")
        ))
    ) {
      await delay(10);
    }
    let handedOver = false;
    if (this.#ready) {
      try {
        await this.#ready;
        await this.#store!.flushSettings();
      } catch (error) {
        this.#parts.report(error, { namespace: "*", operation: "shutdown flush" });
      }
      // Nothing may deliver once the objects are released (its bookkeeping would be fenced).
      this.#alarms?.close();
      try {
        if (this.#ownership) handedOver = await this.#ownership.release();
      } catch (error) {
        this.#parts.report(error, { namespace: "*", operation: "shutdown release" });
      }
    }
    const reconnect = restart || handedOver;
    for (const host of objects.hosts()) {
      for (const ws of [...host.list(), ...host.sockets.unlisted()]) {
        ws[TERMINATE](
          reconnect ? 1012 : 1001,
          reconnect ? "Server restarting" : "Server shutting down",
        );
      }
      host.dispose();
    }
    this.#parts.cluster?.shutdownSockets(restart);
    // Let the close handshakes just started finish (bounded): a peer that answers is
    // released cleanly, and no runtime timer of a closing socket outlives the app.
    const closing = Date.now() + 1_000;
    while (admission.connections > 0 && Date.now() < closing) await delay(5);
    await delay(0); // Deno's close() schedules a zero-delay timer once its frame is sent
    try {
      await this.#parts.sessions?.stop(); // sessions stay in KV: the next start restores them
    } catch (error) {
      this.#parts.report(error, { namespace: "*", operation: "shutdown sessions" });
    }
    this.#stopTimers();
    // No flush may start or still run once KV is released ("Bad resource ID").
    this.#store?.close();
    try {
      await this.#store?.idle();
      // Our sockets are closed: their records are stale for whoever starts next.
      await this.#ownership?.placement.leave();
    } catch (error) {
      this.#parts.report(error, { namespace: "*", operation: "shutdown lease" });
    }
    this.#alarms?.close();
    await this.#parts.cluster?.close();
    this.#lease?.release();
  }

  #stopTimers(): void {
    for (const timer of this.#timers) this.#clock.clearTimeout(timer);
    this.#timers.clear();
  }
}

/** `cluster.leaseTtlMs`, checked: at least 300 ms (renewed every third of it). */
function leaseTtl(value: number | undefined): number {
  const ttl = positive("cluster.leaseTtlMs", value, 10_000);
  if (ttl < 300) {
    throw new RangeError(
      `Cannot create App as cluster.leaseTtlMs must be at least 300 ms: current value is ${ttl}`,
    );
  }
  return ttl;
}

/** The boot cleanup's rule: a node's socket records die with its lease (1 s of clock skew allowed). */
function bootLeaseDead(machine: string | null): (lease: unknown, now: number) => boolean {
  return (lease, now) => leaseDead(lease, now, 1_000, machine);
}
