/**
 * {@linkcode MemoryStorage}: an object's storage in memory, with the same
 * semantics and limits as `KvStorage`. For tests, examples and apps that
 * need no persistence.
 *
 * @module
 */

import type { AlarmScheduler } from "../alarms/alarm_scheduler.ts";
import { EngineStorage } from "./engine_storage.ts";
import type { AlarmAccess } from "./_backend.ts";
import { StorageEngine } from "./_engine.ts";
import { KvLayout } from "./_kv_layout.ts";
import { MemoryBackend } from "./_memory_backend.ts";
import type { StorageHooks } from "./object_storage.ts";

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

function noop(): void {}

const NO_HOOKS: StorageHooks = {
  inputGate: { close: () => noop },
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
export class MemoryStorage extends EngineStorage {
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
    super(new StorageEngine(backend, options.hooks ?? NO_HOOKS, alarm));
  }
}
