import { KvError } from "../errors.ts";
import type { Clock, ClockTimer } from "../clock.ts";
import type { HostStore, PersistedObject } from "../objects/persisted_object.ts";
import { type Connection, RECORD, TIMESTAMP } from "../sockets/connection.ts";
import {
  BOOT_LEASE_PREFIX,
  bootLeaseKey,
  bootOfLeaseKey,
  FLUSH_MAX_KEY_TOTAL,
  FLUSH_MAX_MUTATIONS,
  FLUSH_MAX_PAYLOAD,
  HIBERNATION_PREFIX,
  kvKeySize,
  parseHibernationKey,
  SETTINGS_RECORD,
  settingsKey,
  SOCKET_RECORD,
  socketRecordKey,
  TIMESTAMP_RECORD,
  timestampKey,
} from "./keys.ts";
import { commitWithRetry } from "./retry.ts";
import { currentPid, machineId, processAlive } from "./process_info.ts";

/** Data waiting to be written keeps the process alive until it is (other timers do not). */
const KEEP_ALIVE = { keepAlive: true } as const;

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

/** Stored per socket under `socketRecordKey(keyBase, boot, sid)`. */
interface SocketRecord {
  /** Tags. */
  t: readonly string[];
  /** Serialized user attachment, or null. */
  a: Uint8Array | null;
  /** Accept time. */
  c: number;
}

/** Stored per object under `settingsKey(keyBase)`. */
interface ConfigRecord {
  /** Auto-response `[request, response]`, or null. */
  ar: readonly [string, string] | null;
  /** Event timeout in ms, 0 = none. */
  et: number;
}

type Mutation = { key: Deno.KvKey; value?: unknown; bytes: number; host: PersistedObject };

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
}

/**
 * Write-behind persistence of socket records (tags, attachment, accept time),
 * auto-response timestamps and per-object settings. Changes are coalesced and
 * committed in batched `atomic()`s — never one commit per message or ping:
 * timestamps alone never schedule a flush, they ride along with the next one
 * (hibernation, shutdown, or other changes).
 */
export class HibernationStore implements HostStore {
  readonly #kv: Deno.Kv;
  readonly #clock: Clock;
  readonly #boot: string;
  readonly #delay: number;
  readonly #onCommit: (mutations: number) => void;
  readonly #report: (error: unknown, operation: string) => void;
  #sockets = new Set<Connection>();
  #configs = new Set<PersistedObject>();
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
    this.#delay = options.flushDelayMs;
    this.#onCommit = options.onCommit;
    this.#report = options.report;
  }

  /** Socket records and timestamps waiting to be written. */
  get pending(): number {
    return this.#sockets.size + this.#configs.size + this.#deletes.length;
  }

  markSocket(ws: Connection, what: number): void {
    // No flush is scheduled: a socket record is only needed once its object
    // hibernates (and drops the attachment from memory), so it is written by
    // that flush. Connects and messages of an active object cost no KV write.
    ws.dirty |= what;
    this.#sockets.add(ws);
  }

  markConfig(host: PersistedObject): void {
    this.#configs.add(host);
    this.#schedule();
  }

  forgetSocket(ws: Connection): void {
    this.#sockets.delete(ws);
    this.#forgotten.add(ws);
    ws.dirty = 0;
    this.#deleteWritten(ws, this.#persisted.get(ws) ?? 0);
  }

  #deleteWritten(ws: Connection, persisted: number): void {
    if (persisted === 0) return; // never written: nothing to delete (churn costs no KV write)
    const host = ws.owner as PersistedObject;
    if (persisted & RECORD) {
      this.#deletes.push(this.#mutation(host, socketRecordKey(host.keyBase, this.#boot, ws.sid)));
    }
    if (persisted & TIMESTAMP) {
      this.#deletes.push(this.#mutation(host, timestampKey(host.keyBase, this.#boot, ws.sid)));
    }
    this.#persisted.delete(ws);
    this.#schedule();
  }

  #mutation(host: PersistedObject, key: Deno.KvKey, value?: unknown, bytes = 0): Mutation {
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
    const marks: Array<[Connection, number]> = [];
    for (const ws of sockets) {
      const host = ws.owner as PersistedObject;
      const what = ws.dirty;
      ws.dirty = 0;
      marks.push([ws, what]);
      if (what & RECORD) {
        const bytes = ws.attachmentBytes;
        if (bytes === undefined) continue; // unloaded: already persisted
        const record: SocketRecord = { t: ws.tags, a: bytes, c: ws.acceptedAt };
        sets.push(
          this.#mutation(
            host,
            socketRecordKey(host.keyBase, this.#boot, ws.sid),
            record,
            // Tags count too: 10 tags of 256 bytes are 2.5 KB, which the 800 KiB per atomic must hold.
            (bytes?.byteLength ?? 0) + 64 + tagBytes(ws.tags),
          ),
        );
      }
      if (what & TIMESTAMP) {
        sets.push(
          this.#mutation(
            host,
            timestampKey(host.keyBase, this.#boot, ws.sid),
            ws.autoResponseAt,
            16,
          ),
        );
      }
    }
    for (const host of configs) {
      const auto = host.settings.autoResponse;
      const record: ConfigRecord = {
        ar: auto === null ? null : [auto.request, auto.response],
        et: host.settings.eventTimeoutMs,
      };
      const size = auto === null ? 16 : auto.request.length * 3 + auto.response.length * 3 + 16;
      sets.push(this.#mutation(host, settingsKey(host.keyBase), record, size));
    }
    try {
      await this.#commitAll([...deletes, ...sets]);
      this.#failures = 0;
    } catch (error) {
      // Nothing is dropped: everything goes back to dirty and is retried with backoff.
      for (const [ws, what] of marks) {
        if (!this.#forgotten.has(ws)) this.markSocket(ws, ws.dirty | what);
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
    for (const [ws, what] of marks) {
      // Closed while its record was being written: delete what was just written.
      if (this.#forgotten.has(ws)) this.#deleteWritten(ws, what);
      else this.#persisted.set(ws, (this.#persisted.get(ws) ?? 0) | what);
    }
  }

  async #commitAll(mutations: Mutation[]): Promise<void> {
    let start = 0;
    while (start < mutations.length) {
      let end = start;
      let bytes = 0;
      let keys = 0;
      while (
        end < mutations.length && end - start < FLUSH_MAX_MUTATIONS &&
        bytes + mutations[end]!.bytes < FLUSH_MAX_PAYLOAD &&
        keys + kvKeySize(mutations[end]!.key) < FLUSH_MAX_KEY_TOTAL
      ) {
        bytes += mutations[end]!.bytes;
        keys += kvKeySize(mutations[end]!.key);
        end++;
      }
      const batch = mutations.slice(start, end);
      await commitWithRetry(() => {
        const op = this.#kv.atomic();
        for (const m of batch) {
          if (m.value === undefined) op.delete(m.key);
          else op.set(m.key, m.value);
        }
        return op;
      });
      this.#onCommit(batch.length);
      const hosts = new Set<PersistedObject>();
      for (const m of batch) hosts.add(m.host);
      for (const host of hosts) host.committed();
      start = end;
    }
  }

  /**
   * Reads one object's records back with a single `list`: its settings and
   * the attachments of its sockets that were dropped from memory.
   */
  async load(host: PersistedObject): Promise<void> {
    const unloaded = new Map<string, Connection>();
    for (const ws of host.list()) if (!ws.attachmentLoaded) unloaded.set(ws.sid, ws);
    // A socket that closed (or failed) while hibernated is no longer listed, but its queued
    // webSocketClose/webSocketError may read the attachment: restore it too.
    for (const ws of host.queuedSockets()) if (!ws.attachmentLoaded) unloaded.set(ws.sid, ws);
    let config: ConfigRecord | null = null;
    for await (
      const entry of this.#kv.list({ prefix: host.keyBase as Deno.KvKey }, { batchSize: 500 })
    ) {
      const { kind, boot, sid } = parseHibernationKey(entry.key);
      if (kind === SETTINGS_RECORD) config = entry.value as ConfigRecord;
      else if (kind === SOCKET_RECORD && boot === this.#boot) {
        const ws = unloaded.get(sid as string);
        if (ws) ws.loadAttachment((entry.value as SocketRecord).a);
      }
    }
    // A socket with no record yet was never unloaded; nothing to restore for it.
    for (const ws of unloaded.values()) ws.loadAttachment(null);
    if (config && !this.#configs.has(host)) {
      host.settings.restore(
        config.ar === null
          ? null
          : Object.freeze({ request: config.ar[0], response: config.ar[1] }),
        config.et,
      );
    }
  }

  /** Writes (or renews) this process's boot lease. */
  async renewLease(): Promise<void> {
    const lease: BootLease = { beat: this.#clock.now(), pid: currentPid(), machine: this.#machine };
    await commitWithRetry(() => this.#kv.atomic().set(bootLeaseKey(this.#boot), lease));
    this.#onCommit(1);
  }

  /** Removes this process's lease (graceful shutdown): its records become stale at once. */
  async dropLease(): Promise<void> {
    await commitWithRetry(() => this.#kv.atomic().delete(bootLeaseKey(this.#boot)));
    this.#onCommit(1);
  }

  readonly #machine = machineId();

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
   * and the leases of dead boots. Records of other running apps sharing the
   * database are kept. Returns how many records were removed.
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
