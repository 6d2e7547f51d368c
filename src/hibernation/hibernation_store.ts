import { KvError } from "../errors.ts";
import type { Clock, ClockTimer } from "../clock.ts";
import type { Connection } from "../sockets/connection.ts";
import { RECORD, TIMESTAMP } from "../sockets/connection_owner.ts";
import {
  ACCEPTED_AT,
  ATTACHMENT,
  AUTO_RESPONSE_AT,
  DIRTY,
  LOAD_ATTACHMENT,
  PRESENCE,
  RECORD_KEY,
  SID,
  TAGS,
} from "../sockets/connection_internals.ts";
import {
  FLUSH_MAX_KEY_TOTAL,
  FLUSH_MAX_MUTATIONS,
  FLUSH_MAX_PAYLOAD,
  kvKeySize,
  settingsKey,
  socketRecordKey,
  timestampKey,
} from "../kv/keys.ts";
import { MAX_PRESENCE_BYTES } from "../sockets/presence.ts";
import type { Fence } from "../kv/fence.ts";
import { FENCE_CHECKS, KV_MAX_CHECKS } from "../kv/keys.ts";
import { commitObjects } from "./_fenced_flush.ts";
import { BootLeases } from "./boot_leases.ts";
import {
  type ObjectSettings,
  readObjectRecords,
  socketRef,
  storedSettings,
  storedSocket,
} from "./socket_records.ts";

export { LEASE_BEAT_MS } from "./boot_leases.ts";

/** Data waiting to be written keeps the process alive until it is (other timers do not). */
const KEEP_ALIVE = { keepAlive: true } as const;

/**
 * What the store needs from an object whose sockets it persists (the object
 * host implements it): where its records live, its settings, and which of its
 * sockets may have had their attachment unloaded.
 */
export interface HibernatingObject extends ObjectSettings {
  /** Root of the object's records: `hibernationRoot(storageName, id)`. */
  readonly keyBase: Deno.KvKey;
  /** The listed (open) sockets. */
  list(): Iterable<Connection>;
  /** Sockets with a queued event: closing ones are no longer listed, but the event may read the attachment. */
  queuedSockets(): Iterable<Connection>;
  /** Settings read back from KV on wake (unless changed since). */
  restoreSettings(settings: ObjectSettings): void;
  /** A KV commit included this object's records. */
  countCommit(): void;
}

type Mutation = { key: Deno.KvKey; value?: unknown; bytes: number; host: HibernatingObject };

/** Options of {@linkcode HibernationStore}. */
export interface HibernationStoreOptions {
  kv: Deno.Kv;
  clock: Clock;
  /** Unique per process start; socket records carry it. */
  boot: string;
  /** Delay before dirty records are written (coalescing window). */
  flushDelayMs: number;
  onCommit(mutations: number): void;
  report(error: unknown, operation: string): void;
  /** Checks each object's ownership in every commit that writes its records (none: unfenced). */
  fence?: Fence;
  /** Whether a node's lease (as read from KV) is dead: its socket records are then deleted. */
  leaseDead(lease: unknown, now: number): boolean;
}

// Objects per flush atomic: each costs one fence check.
const FLUSH_MAX_OBJECTS = Math.floor(KV_MAX_CHECKS / FENCE_CHECKS);

/**
 * Write-behind persistence of socket records (tags, attachment, accept time),
 * auto-response timestamps and per-object settings. Changes are coalesced and
 * committed in batched `atomic()`s — never one commit per message or ping:
 * timestamps alone never schedule a flush, they ride along with the next one
 * (hibernation, shutdown, or other changes).
 */
export class HibernationStore {
  readonly #kv: Deno.Kv;
  readonly #clock: Clock;
  #boot: string;
  readonly #fence: Fence | undefined;
  readonly #delay: number;
  readonly #onCommit: (mutations: number) => void;
  readonly #report: (error: unknown, operation: string) => void;
  readonly #leases: BootLeases;
  #sockets = new Map<Connection, HibernatingObject>();
  #configs = new Set<HibernatingObject>();
  #deletes: Mutation[] = [];
  #persisted = new WeakMap<Connection, number>();
  #forgotten = new WeakSet<Connection>();
  #timer: ClockTimer | null = null;
  #running: Promise<void> = Promise.resolve();
  #queued: Promise<void> | null = null;
  #failures = 0;
  #closed = false;

  constructor(options: HibernationStoreOptions) {
    this.#kv = options.kv;
    this.#clock = options.clock;
    this.#boot = options.boot;
    this.#fence = options.fence;
    this.#delay = options.flushDelayMs;
    this.#onCommit = options.onCommit;
    this.#report = options.report;
    this.#leases = new BootLeases(options);
  }

  /** Socket records and timestamps waiting to be written. */
  get pending(): number {
    return this.#sockets.size + this.#configs.size + this.#deletes.length;
  }

  /** The record (`RECORD`) or timestamp (`TIMESTAMP`) of `host`'s socket `ws` changed. */
  markSocket(host: HibernatingObject, ws: Connection, what: number): void {
    // No flush is scheduled: a socket record is only needed once its object
    // hibernates (and drops the attachment from memory), so it is written by
    // that flush. Connects and messages of an active object cost no KV write.
    ws[DIRTY] |= what;
    this.#sockets.set(ws, host);
  }

  /** The settings of `host` changed: written after the coalescing delay. */
  markConfig(host: HibernatingObject): void {
    this.#configs.add(host);
    this.#schedule();
  }

  /** `host`'s socket `ws` is gone: its written records are deleted. */
  forgetSocket(host: HibernatingObject, ws: Connection): void {
    this.#sockets.delete(ws);
    this.#forgotten.add(ws);
    ws[DIRTY] = 0;
    this.#deleteWritten(host, ws, this.#persisted.get(ws) ?? 0);
  }

  #deleteWritten(host: HibernatingObject, ws: Connection, persisted: number): void {
    if (persisted === 0) return; // never written: nothing to delete (churn costs no KV write)
    if (persisted & RECORD) {
      this.#deletes.push(this.#mutation(host, socketRecordKey(host.keyBase, ...this.#ref(ws))));
    }
    if (persisted & TIMESTAMP) {
      this.#deletes.push(this.#mutation(host, timestampKey(host.keyBase, ...this.#ref(ws))));
    }
    this.#persisted.delete(ws);
    this.#schedule();
  }

  /** Where a socket's records live: its holder's boot and id for a socket another node holds. */
  #ref(ws: Connection): readonly [string, string] {
    return ws[RECORD_KEY] ?? [this.#boot, ws[SID]];
  }

  #mutation(host: HibernatingObject, key: Deno.KvKey, value?: unknown, bytes = 0): Mutation {
    return { key, value, bytes: bytes + kvKeySize(key), host };
  }

  #schedule(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = null;
        this.flush().catch(() => {});
      },
      this.#delay,
      KEEP_ALIVE,
    );
  }

  /** Writes everything dirty now. Concurrent calls share one pass. */
  flush(): Promise<void> {
    if (this.#queued) return this.#queued;
    const next = this.#running.then(() => {
      this.#queued = null;
      return this.#flushOnce(true);
    });
    this.#queued = next;
    this.#running = next.catch(() => {});
    return next;
  }

  /**
   * Writes object settings and pending deletions, not socket records: at
   * shutdown every socket is about to close, so their records would be stale
   * the moment they were written.
   */
  flushSettings(): Promise<void> {
    const next = this.#running.then(() => this.#flushOnce(false));
    this.#running = next.catch(() => {});
    return next;
  }

  /** Resolves once no flush is running or queued. */
  async idle(): Promise<void> {
    while (true) {
      const running = this.#running;
      await running;
      if (running === this.#running) return;
    }
  }

  async #flushOnce(withSockets: boolean): Promise<void> {
    if (this.#timer !== null) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = null;
    }
    const sockets = withSockets ? [...this.#sockets] : [];
    const configs = [...this.#configs];
    const deletes = this.#deletes;
    if (withSockets) this.#sockets.clear();
    this.#configs.clear();
    this.#deletes = [];
    const sets: Mutation[] = [];
    const marks: Array<[Connection, HibernatingObject, number]> = [];
    for (const [ws, host] of sockets) {
      const what = ws[DIRTY];
      ws[DIRTY] = 0;
      marks.push([ws, host, what]);
      if (what & RECORD) {
        const bytes = ws[ATTACHMENT];
        if (bytes === undefined) continue; // unloaded: already persisted
        const tags = ws[TAGS];
        sets.push(
          this.#mutation(
            host,
            socketRecordKey(host.keyBase, ...this.#ref(ws)),
            storedSocket(tags, bytes, ws[ACCEPTED_AT], ws[PRESENCE]),
            // Tags count too: 10 tags of 256 bytes are 2.5 KB, which the 800 KiB per atomic must hold.
            // Presence adds at most MAX_PRESENCE_BYTES (the codec writes V8's own format).
            (bytes?.byteLength ?? 0) + 64 + tagBytes(tags) +
              (ws[PRESENCE] === null ? 0 : MAX_PRESENCE_BYTES),
          ),
        );
      }
      if (what & TIMESTAMP) {
        sets.push(
          this.#mutation(
            host,
            timestampKey(host.keyBase, ...this.#ref(ws)),
            ws[AUTO_RESPONSE_AT],
            16,
          ),
        );
      }
    }
    for (const host of configs) {
      const auto = host.autoResponse;
      const size = auto === null ? 16 : auto.request.length * 3 + auto.response.length * 3 + 16;
      sets.push(this.#mutation(host, settingsKey(host.keyBase), storedSettings(host), size));
    }
    try {
      await this.#commitAll([...deletes, ...sets]);
      this.#failures = 0;
    } catch (error) {
      // Nothing is dropped: everything goes back to dirty and is retried with backoff.
      for (const [ws, host, what] of marks) {
        if (!this.#forgotten.has(ws)) this.markSocket(host, ws, ws[DIRTY] | what);
      }
      for (const host of configs) this.#configs.add(host);
      this.#deletes.push(...deletes);
      this.#failures++;
      this.#report(new KvError("flush", error), "kv.flush");
      if (!this.#closed && this.#timer === null) {
        const wait = Math.min(30_000, this.#delay * 2 ** this.#failures);
        this.#timer = this.#clock.setTimeout(
          () => {
            this.#timer = null;
            this.flush().catch(() => {});
          },
          wait,
          KEEP_ALIVE,
        );
      }
      throw error;
    }
    for (const [ws, host, what] of marks) {
      // Closed while its record was being written: delete what was just written.
      if (this.#forgotten.has(ws)) this.#deleteWritten(host, ws, what);
      else this.#persisted.set(ws, (this.#persisted.get(ws) ?? 0) | what);
    }
  }

  async #commitAll(mutations: Mutation[]): Promise<void> {
    let start = 0;
    while (start < mutations.length) {
      let end = start;
      let bytes = 0;
      let keys = 0;
      const hosts = new Set<HibernatingObject>();
      while (
        end < mutations.length && end - start < FLUSH_MAX_MUTATIONS &&
        bytes + mutations[end]!.bytes < FLUSH_MAX_PAYLOAD &&
        keys + kvKeySize(mutations[end]!.key) < FLUSH_MAX_KEY_TOTAL &&
        (hosts.has(mutations[end]!.host) || hosts.size < FLUSH_MAX_OBJECTS)
      ) {
        bytes += mutations[end]!.bytes;
        keys += kvKeySize(mutations[end]!.key);
        hosts.add(mutations[end]!.host);
        end++;
      }
      const written = await commitObjects(
        this.#kv,
        this.#fence,
        mutations.slice(start, end),
        hosts,
      );
      if (written > 0) {
        this.#onCommit(written);
        for (const host of hosts) host.countCommit();
      }
      start = end;
    }
  }

  /**
   * Reads one object's records back with a single `list`: its settings and
   * the attachments of its sockets that were dropped from memory.
   */
  async load(host: HibernatingObject): Promise<void> {
    const unloaded = new Map<string, Connection>();
    const ref = (ws: Connection) => socketRef(...this.#ref(ws));
    for (const ws of host.list()) if (ws[ATTACHMENT] === undefined) unloaded.set(ref(ws), ws);
    // A socket that closed (or failed) while hibernated is no longer listed, but its queued
    // webSocketClose/webSocketError may read the attachment: restore it too.
    for (const ws of host.queuedSockets()) {
      if (ws[ATTACHMENT] === undefined) unloaded.set(ref(ws), ws);
    }
    const records = await readObjectRecords(this.#kv, host.keyBase);
    for (const [at, ws] of unloaded) {
      // A socket with no record yet was never unloaded; nothing to restore for it.
      ws[LOAD_ATTACHMENT](records.sockets.get(at)?.attachment ?? null);
    }
    if (records.settings !== null && !this.#configs.has(host)) {
      host.restoreSettings(records.settings);
    }
  }

  /** This node joined again under a new id: records are written under it from now on. */
  rejoin(boot: string): void {
    this.#boot = boot;
    this.#leases.rejoin(boot);
  }

  /** Deletes the records of dead boots (see {@linkcode BootLeases.cleanup}). */
  cleanup(): Promise<number> {
    return this.#leases.cleanup();
  }

  /** Stops the flush timer; call `flush()` first to keep what is dirty. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}

/** An upper bound of the serialized size of a socket's tags (UTF-8: ≤ 3 bytes per UTF-16 unit). */
function tagBytes(tags: readonly string[]): number {
  let n = 0;
  for (const tag of tags) n += tag.length * 3 + 8;
  return n;
}
