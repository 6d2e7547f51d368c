/**
 * {@linkcode KvStorage}: an object's durable storage (`ctx.storage`) on Deno KV.
 *
 * @module
 */

import type { AlarmScheduler } from "../alarms/alarm_scheduler.ts";
import { EngineStorage } from "./engine_storage.ts";
import { StorageEngine } from "./_engine.ts";
import { KvBackend } from "./_kv_backend.ts";
import { KvLayout } from "./_kv_layout.ts";
import type { StorageHooks } from "./object_storage.ts";

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
 * const hooks = { inputGate: { close: () => () => {} }, trackWrite() {}, onCommit() {} };
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
export class KvStorage extends EngineStorage {
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
    super(
      new StorageEngine(new KvBackend(kv, new KvLayout(storageName, id)), hooks, {
        get: () => alarms.get(storageName, id),
        set: (time) => alarms.set(storageName, id, time),
        delete: () => alarms.delete(storageName, id),
      }),
    );
  }
}
