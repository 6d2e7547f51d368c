/**
 * {@linkcode MemoryStorage}: an object's storage in memory, with the same
 * semantics and limits as `KvStorage`. For tests, examples and apps that
 * need no persistence.
 *
 * @module
 */

import type { AlarmScheduler } from "../alarms/alarm_scheduler.ts";
import { alarmTime } from "./_codec.ts";
import type { AlarmAccess } from "./_backend.ts";
import { StorageEngine } from "./_engine.ts";
import { KvLayout } from "./_kv_layout.ts";
import { MemoryBackend } from "./_memory_backend.ts";
import type {
  ObjectStorage,
  StorageGetOptions,
  StorageHooks,
  StorageListOptions,
  StoragePutOptions,
  StorageTransaction,
} from "./object_storage.ts";

/** Options of {@linkcode MemoryStorage}. */
export interface MemoryStorageOptions {
  /**
   * The object host's gates and counters.
   *
   * @default {no-op hooks}
   */
  hooks?: StorageHooks;
  /** An alarm scheduler; without one, the alarm is a plain record that never fires. */
  alarms?: AlarmScheduler;
  /**
   * The storage name, used for the alarm and for KV-identical size limits.
   *
   * @default {"memory"}
   */
  storageName?: string;
  /**
   * The object id, used for the alarm and for KV-identical size limits.
   *
   * @default {"0".repeat(64)}
   */
  id?: string;
}

const NO_HOOKS: StorageHooks = {
  inputGate: { close() {}, open() {} },
  trackWrite() {},
  onCommit() {},
};

/**
 * An object's storage in memory. It behaves like `KvStorage` in every
 * observable way (coalescing, read-your-writes, transactions, limits, hooks,
 * structured-clone copies on put and get) except durability.
 *
 * @example Usage
 * ```ts
 * import { MemoryStorage } from "./memory_storage.ts";
 * import assert from "node:assert/strict";
 *
 * const storage = new MemoryStorage();
 * const value = { tags: new Set(["a"]) };
 * await storage.put("k", value);
 * value.tags.add("b"); // the stored copy is not affected
 * assert.deepEqual(await storage.get("k"), { tags: new Set(["a"]) });
 *
 * await storage.setAlarm(new Date(Date.UTC(2030, 0, 1)));
 * assert.equal(await storage.getAlarm(), Date.UTC(2030, 0, 1));
 * ```
 */
export class MemoryStorage implements ObjectStorage {
  readonly #engine: StorageEngine;

  /**
   * Creates an empty storage.
   *
   * @param options Hooks, an optional alarm scheduler and the object's identity.
   */
  constructor(options: MemoryStorageOptions = {}) {
    const storageName = options.storageName ?? "memory";
    const id = options.id ?? "0".repeat(64);
    const scheduler = options.alarms;
    let local: number | null = null;
    const alarm: AlarmAccess = scheduler
      ? {
        get: () => scheduler.get(storageName, id),
        set: (time) => scheduler.set(storageName, id, time),
        delete: () => scheduler.delete(storageName, id),
      }
      : {
        get: () => Promise.resolve(local),
        set: (time) => Promise.resolve(void (local = time)),
        delete: () => Promise.resolve(void (local = null)),
      };
    const backend = new MemoryBackend(new KvLayout(storageName, id));
    this.#engine = new StorageEngine(backend, options.hooks ?? NO_HOOKS, alarm);
  }

  /** Reads one key; `undefined` if absent. */
  get<T = unknown>(key: string, options?: StorageGetOptions): Promise<T | undefined>;
  /** Reads up to 128 keys; the map holds the keys that exist, in key order. */
  get<T = unknown>(keys: string[], options?: StorageGetOptions): Promise<Map<string, T>>;
  get<T>(
    keys: string | string[],
    options?: StorageGetOptions,
  ): Promise<T | undefined | Map<string, T>> {
    return this.#engine.get(keys, options) as Promise<T | undefined | Map<string, T>>;
  }

  /** Writes one key. */
  put<T>(key: string, value: T, options?: StoragePutOptions): Promise<void>;
  /** Writes up to 128 keys atomically. */
  put<T>(entries: Record<string, T>, options?: StoragePutOptions): Promise<void>;
  put(keyOrEntries: unknown, value?: unknown, options?: StoragePutOptions): Promise<void> {
    return this.#engine.put(keyOrEntries, value, options);
  }

  /** Deletes one key; resolves to whether it existed. */
  delete(key: string, options?: StoragePutOptions): Promise<boolean>;
  /** Deletes up to 128 keys atomically; resolves to how many existed. */
  delete(keys: string[], options?: StoragePutOptions): Promise<number>;
  delete(keys: string | string[], options?: StoragePutOptions): Promise<boolean | number> {
    return this.#engine.delete(keys, options);
  }

  /** Lists entries in UTF-8 byte order of their keys. */
  list<T = unknown>(options?: StorageListOptions): Promise<Map<string, T>> {
    return this.#engine.list(options) as Promise<Map<string, T>>;
  }

  /** Deletes every key and the alarm. */
  deleteAll(options?: StoragePutOptions): Promise<void> {
    return this.#engine.deleteAll(options);
  }

  /** Runs `fn` as an optimistic transaction, rerun on conflict (up to 10 times). */
  transaction<T>(fn: (txn: StorageTransaction) => Promise<T>): Promise<T> {
    return this.#engine.transaction(fn);
  }

  /** The time of the alarm, or `null`. */
  getAlarm(options?: StorageGetOptions): Promise<number | null> {
    return this.#engine.getAlarm(options);
  }

  /** Sets or replaces the alarm. */
  async setAlarm(scheduledTime: number | Date, options?: StoragePutOptions): Promise<void> {
    await this.#engine.setAlarm(alarmTime(scheduledTime), options);
  }

  /** Removes the alarm. */
  deleteAlarm(options?: StoragePutOptions): Promise<void> {
    return this.#engine.deleteAlarm(options);
  }
}
