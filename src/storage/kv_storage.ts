/**
 * {@linkcode KvStorage}: an object's durable storage (`ctx.storage`) on Deno KV.
 *
 * @module
 */

import type { AlarmScheduler } from "../alarms/alarm_scheduler.ts";
import { alarmTime } from "./_codec.ts";
import { StorageEngine } from "./_engine.ts";
import { KvBackend } from "./_kv_backend.ts";
import { KvLayout } from "./_kv_layout.ts";
import type {
  ObjectStorage,
  StorageGetOptions,
  StorageHooks,
  StorageListOptions,
  StoragePutOptions,
  StorageTransaction,
} from "./object_storage.ts";

const STORAGE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const OBJECT_ID = /^[0-9a-f]{64}$/;

/** Options of {@linkcode KvStorage}. */
export interface KvStorageOptions {
  /** The process's shared KV handle. */
  kv: Deno.Kv;
  /** The class's storage name: 1–64 characters of `[A-Za-z0-9_-]`. */
  storageName: string;
  /** The object id: 64 lowercase hex characters. */
  id: string;
  /** The object host's gates and counters. */
  hooks: StorageHooks;
  /** The app's alarm scheduler, which owns the object's alarm. */
  alarms: AlarmScheduler;
}

/**
 * An object's storage on Deno KV, under `["dormant", "s", storageName, id]`.
 *
 * - Puts and deletes issued without an `await` between them commit in one KV
 *   atomic at the end of the microtask turn; each call resolves when it is
 *   durable, and reads see the writes before that.
 * - Values over 64 KiB (up to 128 KiB) are split over two KV entries written
 *   in one atomic and never read half-written.
 * - `transaction()` is optimistic: it records the versionstamps it read,
 *   commits with `atomic().check()`, and reruns the function on a conflict.
 * - Transient KV errors ("database is locked") are retried a few times with
 *   a short backoff, then reported as `KvError`.
 *
 * Each key costs two KV mutations per write (the value and its possible
 * continuation), which is what the host's commit counter reports.
 *
 * @example Usage
 * ```ts
 * import { KvStorage } from "./kv_storage.ts";
 * import { AlarmScheduler } from "../alarms/alarm_scheduler.ts";
 * import { systemClock } from "../runtime/clock.ts";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * const alarms = new AlarmScheduler({ kv, clock: systemClock, deliver: async () => {}, onException: () => {} });
 * const hooks = { inputGate: { close() {}, open() {} }, trackWrite() {}, onCommit() {} };
 * try {
 *   const storage = new KvStorage({ kv, storageName: "ROOM", id: "a".repeat(64), hooks, alarms });
 *   storage.put("a", 1);
 *   storage.put("b", new Map([["x", 2]])); // same atomic as "a"
 *   assert.equal(await storage.get("a"), 1);
 *   assert.deepEqual([...(await storage.list()).keys()], ["a", "b"]);
 * } finally {
 *   alarms.close();
 *   kv.close();
 * }
 * ```
 */
export class KvStorage implements ObjectStorage {
  readonly #engine: StorageEngine;

  /**
   * Creates the storage of one object. Nothing is read until the first call.
   *
   * @param options The KV handle, the object's identity, the host's hooks and the alarm scheduler.
   * @throws {TypeError} If the storage name or id is malformed.
   */
  constructor(options: KvStorageOptions) {
    const { kv, storageName, id, hooks, alarms } = options;
    if (typeof storageName !== "string" || !STORAGE_NAME.test(storageName)) {
      throw new TypeError(
        `Cannot create storage as the storage name must be 1-64 characters of [A-Za-z0-9_-]: current value is "${
          String(storageName)
        }"`,
      );
    }
    if (typeof id !== "string" || !OBJECT_ID.test(id)) {
      throw new TypeError(
        `Cannot create storage as the id must be 64 lowercase hex characters: current value is "${
          String(id)
        }"`,
      );
    }
    this.#engine = new StorageEngine(new KvBackend(kv, new KvLayout(storageName, id)), hooks, {
      get: () => alarms.get(storageName, id),
      set: (time) => alarms.set(storageName, id, time),
      delete: () => alarms.delete(storageName, id),
    });
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

  /** Writes one key; resolves when durable. */
  put<T>(key: string, value: T, options?: StoragePutOptions): Promise<void>;
  /** Writes up to 128 keys atomically; resolves when durable. */
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

  /** Deletes every key of the object and its alarm, in as many commits as needed. */
  deleteAll(options?: StoragePutOptions): Promise<void> {
    return this.#engine.deleteAll(options);
  }

  /** Runs `fn` as an optimistic transaction, rerun on conflict (up to 10 times). */
  transaction<T>(fn: (txn: StorageTransaction) => Promise<T>): Promise<T> {
    return this.#engine.transaction(fn);
  }

  /** The time of the object's alarm, or `null`. */
  getAlarm(options?: StorageGetOptions): Promise<number | null> {
    return this.#engine.getAlarm(options);
  }

  /** Sets or replaces the object's alarm. */
  async setAlarm(scheduledTime: number | Date, options?: StoragePutOptions): Promise<void> {
    await this.#engine.setAlarm(alarmTime(scheduledTime), options);
  }

  /** Removes the object's alarm. */
  deleteAlarm(options?: StoragePutOptions): Promise<void> {
    return this.#engine.deleteAlarm(options);
  }
}
