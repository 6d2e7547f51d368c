/**
 * {@linkcode EngineStorage}: the `ObjectStorage` surface shared by the KV and
 * in-memory storages; both only differ in the backend they give the engine.
 *
 * @module
 */

import { alarmTime } from "./_codec.ts";
import { markNotCloneable } from "../structured_clone/not_cloneable.ts";
import type { StorageEngine } from "./_engine.ts";
import type {
  ObjectStorage,
  StorageGetOptions,
  StorageListOptions,
  StoragePutOptions,
  StorageTransaction,
} from "./object_storage.ts";

/**
 * Marks a promise as handled and returns it. Code that does not await a
 * write (as Cloudflare allows: the output gate covers it) must not turn a
 * failed commit into an unhandled rejection, which would end the process;
 * the object host reports the failure instead. Awaiting callers still get it.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/**
 * Cloudflare's storage API over a storage engine. Use {@linkcode KvStorage}
 * or `MemoryStorage`; this base only holds their common methods.
 *
 * @example Usage
 * ```ts
 * import { EngineStorage } from "./engine_storage.ts";
 * import { MemoryStorage } from "./memory_storage.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new MemoryStorage() instanceof EngineStorage);
 * ```
 */
export abstract class EngineStorage implements ObjectStorage {
  readonly #engine: StorageEngine;

  /**
   * Wraps an engine (made by a subclass).
   *
   * @param engine The engine holding the backend, hooks and alarm access.
   */
  protected constructor(engine: unknown) {
    this.#engine = engine as StorageEngine;
  }

  /** Reads one key; `undefined` if absent. */
  get<T = unknown>(key: string, options?: StorageGetOptions): Promise<T | undefined>;
  /** Reads up to 128 keys; the map holds the keys that exist, in key order. */
  get<T = unknown>(keys: string[], options?: StorageGetOptions): Promise<Map<string, T>>;
  get<T>(
    keys: string | string[],
    options?: StorageGetOptions,
  ): Promise<T | undefined | Map<string, T>> {
    return handled(this.#engine.get(keys, options)) as Promise<T | undefined | Map<string, T>>;
  }

  /** Writes one key; resolves when durable (immediately in memory). */
  put<T>(key: string, value: T, options?: StoragePutOptions): Promise<void>;
  /** Writes up to 128 keys atomically; resolves when durable. */
  put<T>(entries: Record<string, T>, options?: StoragePutOptions): Promise<void>;
  put(keyOrEntries: unknown, value?: unknown, options?: StoragePutOptions): Promise<void> {
    return handled(this.#engine.put(keyOrEntries, value, options));
  }

  /** Deletes one key; resolves to whether it existed. */
  delete(key: string, options?: StoragePutOptions): Promise<boolean>;
  /** Deletes up to 128 keys atomically; resolves to how many existed. */
  delete(keys: string[], options?: StoragePutOptions): Promise<number>;
  delete(keys: string | string[], options?: StoragePutOptions): Promise<boolean | number> {
    return handled(this.#engine.delete(keys, options));
  }

  /** Lists entries in UTF-8 byte order of their keys. */
  list<T = unknown>(options?: StorageListOptions): Promise<Map<string, T>> {
    return handled(this.#engine.list(options)) as Promise<Map<string, T>>;
  }

  /** Deletes every key of the object and its alarm, in as many commits as needed. */
  deleteAll(options?: StoragePutOptions): Promise<void> {
    return handled(this.#engine.deleteAll(options));
  }

  /** Runs `fn` as an optimistic transaction, rerun on conflict (up to 10 times). */
  transaction<T>(fn: (txn: StorageTransaction) => Promise<T>): Promise<T> {
    return handled(this.#engine.transaction(fn));
  }

  /** The time of the object's alarm, or `null`. */
  getAlarm(options?: StorageGetOptions): Promise<number | null> {
    return handled(this.#engine.getAlarm(options));
  }

  /** Sets or replaces the object's alarm. */
  setAlarm(scheduledTime: number | Date, options?: StoragePutOptions): Promise<void> {
    let time: number;
    try {
      time = alarmTime(scheduledTime);
    } catch (error) {
      return handled(Promise.reject(error));
    }
    return handled(this.#engine.setAlarm(time, options));
  }

  /** Removes the object's alarm. */
  deleteAlarm(options?: StoragePutOptions): Promise<void> {
    return handled(this.#engine.deleteAlarm(options));
  }
}
markNotCloneable(EngineStorage.prototype, "DurableObjectStorage");
