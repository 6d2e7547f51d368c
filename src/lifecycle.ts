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
import type { Admission } from "./http/admission.ts";
import { HibernationStore, LEASE_BEAT_MS } from "./hibernation/hibernation_store.ts";
import { TERMINATE } from "./sockets/connection_internals.ts";
import { defaultKvPath, type KvLease, openKv } from "./kv/open_kv.ts";
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
  };
  readonly clock: Clock;
  readonly admission: Admission;
  readonly report: Report;
  /** The registered classes (alarms are delivered to them; shutdown closes their sockets). */
  objects(): Bindings;
  /** Pending `ctx.waitUntil()` promises of the worker. */
  workerWaits(): number;
  /** The node's cluster side (transport, socket bridge), if it is in a cluster. */
  readonly cluster?: {
    start(): Promise<void>;
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
  readonly #boot = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  #ready: Promise<void> | null = null;
  #lease: KvLease | null = null;
  #kv: Deno.Kv | null = null;
  #store: HibernationStore | null = null;
  #alarms: AlarmScheduler | null = null;
  #beatTimer: ClockTimer | null = null;
  #kvCommits = 0;
  #kvMutations = 0;

  /** Creates the instance; nothing starts before {@linkcode Lifecycle.ready}. */
  constructor(parts: LifecycleParts) {
    this.#parts = parts;
    this.#clock = parts.clock;
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

  /** This process start's id: the boot lease and socket records are keyed by it. */
  get boot(): string {
    return this.#boot;
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
      if (this.#beatTimer !== null) this.#clock.clearTimeout(this.#beatTimer);
      this.#beatTimer = null;
      this.#store?.close();
      this.#store = null;
      this.#alarms?.close();
      this.#alarms = null;
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
    this.#store = new HibernationStore({
      kv: this.#kv,
      clock: this.#clock,
      boot: this.#boot,
      flushDelayMs: positive("flushDelayMs", options.flushDelayMs, 250, true),
      onCommit,
      report: (error, operation) => this.#parts.report(error, { namespace: "*", operation }),
    });
    // The lease tells other apps on this database that our records are live.
    await this.#store.renewLease();
    await this.#store.cleanup();
    this.#scheduleBeat(0);
    const objects = this.#parts.objects();
    this.#alarms = new AlarmScheduler({
      kv: this.#kv,
      clock: this.#clock,
      onCommit,
      // Stored with the alarm: after a restart it is the only place the object's name is known.
      nameOf: (storageName, id) => objects.nameOf(storageName, id),
      deliver: (storageName, id, info, name) => objects.alarm(storageName, id, info, name),
      // The scheduler knows storage names; the hook documents binding names.
      onException: (error, context) =>
        this.#parts.report(error, {
          ...context,
          namespace: objects.bindingOf(context.namespace) ?? context.namespace,
        }),
    });
    await this.#alarms.start();
    await this.#parts.cluster?.start();
  }

  /** Renews the boot lease every 30 s; every third beat also cleans dead boots' records. */
  #scheduleBeat(beat: number): void {
    if (this.#parts.admission.draining) return;
    this.#beatTimer = this.#clock.setTimeout(async () => {
      this.#beatTimer = null;
      try {
        await this.#store!.renewLease();
        if (beat % 3 === 2) await this.#store!.cleanup();
      } catch (error) {
        if (!this.#parts.admission.draining) {
          this.#parts.report(new KvError("lease", error), {
            namespace: "*",
            operation: "kv.lease",
          });
        }
      }
      this.#scheduleBeat(beat + 1);
    }, LEASE_BEAT_MS);
  }

  /** The storage of one object, on the app's KV (after {@linkcode Lifecycle.ready}). */
  createStorage(host: ObjectHost, hooks: StorageHooks): ObjectStorage {
    if (!this.#kv || !this.#alarms) throw new Error("Cannot use storage before the app is ready");
    const onCommit = hooks.onCommit;
    return new Storage({
      backend: new KvBackend(this.#kv, host.runtime.storageName, host.hex),
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
   * settings, closes every socket with 1001 (1012 when `restart`), then
   * releases the lease and KV.
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
    if (this.#ready) {
      try {
        await this.#ready;
        await this.#store!.flushSettings();
      } catch (error) {
        this.#parts.report(error, { namespace: "*", operation: "shutdown flush" });
      }
    }
    for (const host of objects.hosts()) {
      for (const ws of [...host.list(), ...host.sockets.unlisted()]) {
        ws[TERMINATE](
          restart ? 1012 : 1001,
          restart ? "Server restarting" : "Server shutting down",
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
    if (this.#beatTimer !== null) this.#clock.clearTimeout(this.#beatTimer);
    this.#beatTimer = null;
    // No flush may start or still run once KV is released ("Bad resource ID").
    this.#store?.close();
    try {
      await this.#store?.idle();
      // Our sockets are closed: their records are stale for whoever starts next.
      await this.#store?.dropLease();
    } catch (error) {
      this.#parts.report(error, { namespace: "*", operation: "shutdown lease" });
    }
    this.#alarms?.close();
    await this.#parts.cluster?.close();
    this.#lease?.release();
  }
}
