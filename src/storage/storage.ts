/**
 * {@linkcode Storage}: an object's durable storage (`ctx.storage`):
 * Cloudflare's storage API, written once over a {@linkcode StorageBackend}
 * (`KvBackend` or `MemoryBackend`), so the backends cannot drift apart.
 *
 * - Puts and deletes issued without an `await` between them commit in one
 *   atomic at the end of the microtask turn; each call resolves when it is
 *   durable, and reads see the writes before that.
 * - Every write (batch, transaction, `deleteAll()`, alarm change) commits in
 *   the order it was issued.
 * - `transaction()` is optimistic: it records the versions it read, commits
 *   with checks on them, and reruns the function on a conflict.
 * - Every backend is held to the limits of one Deno KV atomic.
 * - Storage I/O closes the host's input gate; writes hold its output gate
 *   until they are durable (the {@linkcode StorageHooks}).
 *
 * @module
 */

import { markNotCloneable } from "../objects/structured_codec.ts";
import type { StorageBackend } from "./backend.ts";
import { AtomicMeter } from "./_atomic_size.ts";
import { runTransaction, type TransactionContext } from "./_transaction.ts";
import {
  deleteOps,
  validateAlarmTime,
  validateKey,
  validateKeyArg,
  validateKeys,
  validateListOptions,
  validatePut,
  type ValidKey,
} from "./_validate.ts";
import { decodeValue, type FoundEntry, getResult } from "./_values.ts";
import { WriteQueue } from "./_write_queue.ts";
import type { WriteOp } from "./backend.ts";
import type {
  ObjectStorage,
  StorageGetOptions,
  StorageHooks,
  StorageListOptions,
  StoragePutOptions,
  StorageTransaction,
} from "./object_storage.ts";

/** Where the alarms of objects are kept (the app's alarm scheduler). */
export interface AlarmBook {
  /** The time of the object's alarm, or `null`. */
  get(storageName: string, id: string): Promise<number | null>;
  /** Sets or replaces the object's alarm. */
  set(storageName: string, id: string, time: number): Promise<void>;
  /** Removes the object's alarm. */
  delete(storageName: string, id: string): Promise<void>;
}

/** Options of {@linkcode Storage}. */
export interface StorageOptions {
  /** Where the values live. */
  backend: StorageBackend;
  /**
   * The object host's gates and counters.
   *
   * @default {no-op hooks}
   */
  hooks?: StorageHooks;
  /** An alarm scheduler; without one, the alarm is a plain record that never fires. */
  alarms?: AlarmBook;
}

/** The object's alarm, as the storage sees it. */
interface AlarmAccess {
  get(): Promise<number | null>;
  set(time: number): Promise<void>;
  delete(): Promise<void>;
}

function noop(): void {}

const NO_HOOKS: StorageHooks = {
  inputGate: { close: () => noop },
  trackWrite() {},
  onCommit() {},
};

function alarmAccess(book: AlarmBook | undefined, storageName: string, id: string): AlarmAccess {
  if (book) {
    return {
      get: () => book.get(storageName, id),
      set: (time) => book.set(storageName, id, time),
      delete: () => book.delete(storageName, id),
    };
  }
  let local: number | null = null;
  return {
    get: () => Promise.resolve(local),
    set: (time) => Promise.resolve(void (local = time)),
    delete: () => Promise.resolve(void (local = null)),
  };
}

/**
 * Marks a promise as handled and returns it. Code that does not await a
 * write (as Cloudflare allows: the output gate covers it) must not turn a
 * failed commit into an unhandled rejection, which would end the process;
 * the object host reports the failure instead. Awaiting callers still get it.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(noop);
  return promise;
}

/**
 * Cloudflare's storage API over a backend. Values are structured-clone
 * copies on put and on get.
 *
 * @example Usage
 * ```ts
 * import { Storage } from "./storage.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * import assert from "node:assert/strict";
 *
 * const storage = new Storage({ backend: new MemoryBackend() });
 * const value = { tags: new Set(["a"]) };
 * storage.put("k", value);
 * storage.put("n", 1); // same atomic commit as "k"
 * value.tags.add("b"); // the stored copy is not affected
 * assert.deepEqual(await storage.get("k"), { tags: new Set(["a"]) });
 *
 * await storage.setAlarm(new Date(Date.UTC(2030, 0, 1)));
 * assert.equal(await storage.getAlarm(), Date.UTC(2030, 0, 1));
 * ```
 */
export class Storage implements ObjectStorage {
  readonly #backend: StorageBackend;
  readonly #hooks: StorageHooks;
  readonly #meter: AtomicMeter;
  readonly #alarm: AlarmAccess;
  readonly #writes: WriteQueue;
  readonly #transactions: TransactionContext;

  /**
   * Creates the storage of one object. Nothing is read until the first call.
   *
   * @param options The backend, the host's hooks and the alarm scheduler.
   */
  constructor(options: StorageOptions) {
    const backend = options.backend;
    const meter = new AtomicMeter(backend.storageName, backend.id);
    this.#backend = backend;
    this.#hooks = options.hooks ?? NO_HOOKS;
    this.#meter = meter;
    this.#alarm = alarmAccess(options.alarms, backend.storageName, backend.id);
    this.#writes = new WriteQueue(backend, this.#hooks, meter);
    this.#transactions = {
      backend,
      meter,
      writes: this.#writes,
      trackWrite: (commit) => this.#hooks.trackWrite(commit),
      io: (concurrent, fn) => this.#io(concurrent, fn),
    };
  }

  /** Reads one key; `undefined` if absent. */
  get<T = unknown>(key: string, options?: StorageGetOptions): Promise<T | undefined>;
  /** Reads up to 128 keys; the map holds the keys that exist, in key order. */
  get<T = unknown>(keys: string[], options?: StorageGetOptions): Promise<Map<string, T>>;
  get<T>(
    keys: string | string[],
    options?: StorageGetOptions,
  ): Promise<T | undefined | Map<string, T>> {
    return handled(this.#get(keys, options)) as Promise<T | undefined | Map<string, T>>;
  }

  async #get(arg: unknown, options?: StorageGetOptions): Promise<unknown> {
    const concurrent = options?.allowConcurrency === true;
    const many = Array.isArray(arg);
    const keys = validateKeyArg(arg, "get");
    for (const k of keys) this.#meter.checkKey(k.bytes, "get key");
    const found: FoundEntry[] = [];
    const missing: ValidKey[] = [];
    for (const k of keys) {
      const hit = this.#writes.lookup(k.key);
      if (hit === undefined) missing.push(k);
      else if (hit !== null) found.push([k.bytes, k.key, hit]);
    }
    if (missing.length > 0) {
      const values = await this.#io(
        concurrent,
        () => this.#backend.read(missing.map((k) => k.bytes)),
      );
      missing.forEach((k, i) => {
        const value = values[i];
        if (value) found.push([k.bytes, k.key, value.bytes]);
      });
    }
    return getResult(found, many);
  }

  /** Writes one key; resolves when durable. */
  put<T>(key: string, value: T, options?: StoragePutOptions): Promise<void>;
  /** Writes up to 128 keys atomically; resolves when durable. */
  put<T>(entries: Record<string, T>, options?: StoragePutOptions): Promise<void>;
  put(keyOrEntries: unknown, value?: unknown, options?: StoragePutOptions): Promise<void> {
    return handled(this.#put(keyOrEntries, value, options));
  }

  async #put(arg: unknown, value?: unknown, options?: unknown): Promise<void> {
    const parsed = validatePut(arg, value, options);
    await this.#write(parsed.ops, parsed.action, parsed.options);
  }

  /** Deletes one key; resolves to whether it existed. */
  delete(key: string, options?: StoragePutOptions): Promise<boolean>;
  /** Deletes up to 128 keys atomically; resolves to how many existed. */
  delete(keys: string[], options?: StoragePutOptions): Promise<number>;
  delete(keys: string | string[], options?: StoragePutOptions): Promise<boolean | number> {
    return handled(this.#delete(keys, options));
  }

  async #delete(arg: unknown, options?: StoragePutOptions): Promise<boolean | number> {
    if (Array.isArray(arg)) {
      return await this.#write(deleteOps(validateKeys(arg, "delete")), "delete keys", options);
    }
    const key = validateKey(arg, "delete key");
    return (await this.#write(deleteOps([key]), "delete key", options)) > 0;
  }

  async #write(
    ops: WriteOp[],
    action: string,
    options: StoragePutOptions | undefined,
  ): Promise<number> {
    if (ops.length === 0) return 0; // put({}) and delete([]) write nothing
    const done = this.#writes.add(ops, action, options);
    return await this.#io(options?.allowConcurrency === true, () => done);
  }

  /** Lists entries in UTF-8 byte order of their keys. */
  list<T = unknown>(options?: StorageListOptions): Promise<Map<string, T>> {
    return handled(this.#list(options)) as Promise<Map<string, T>>;
  }

  async #list(options?: StorageListOptions): Promise<Map<string, unknown>> {
    const request = validateListOptions(options);
    const range = request.range;
    if (!range) return new Map();
    this.#meter.checkRange(range);
    // Listing waits for earlier writes to commit instead of merging the overlay.
    const entries = await this.#io(request.allowConcurrency, async () => {
      await this.#writes.sync();
      return await this.#backend.list(range, request.reverse, request.limit);
    });
    return new Map(entries.map((e) => [e.key, decodeValue(e.value.bytes)]));
  }

  /** Deletes every key of the object and its alarm, in as many commits as needed. */
  deleteAll(options?: StoragePutOptions): Promise<void> {
    const done = this.#writes.clear(options, () => this.#alarm.delete());
    return handled(this.#io(options?.allowConcurrency === true, () => done));
  }

  /** Runs `fn` as an optimistic transaction, rerun on conflict (up to 10 times). */
  transaction<T>(fn: (txn: StorageTransaction) => Promise<T>): Promise<T> {
    return handled(runTransaction(this.#transactions, fn));
  }

  /** The time of the object's alarm, or `null`. */
  getAlarm(options?: StorageGetOptions): Promise<number | null> {
    return handled(this.#io(options?.allowConcurrency === true, async () => {
      await this.#writes.sync();
      return await this.#alarm.get();
    }));
  }

  /** Sets or replaces the object's alarm. */
  setAlarm(scheduledTime: number | Date, options?: StoragePutOptions): Promise<void> {
    let time: number;
    try {
      time = validateAlarmTime(scheduledTime);
    } catch (error) {
      return handled(Promise.reject(error));
    }
    return handled(this.#ordered(options, () => this.#alarm.set(time)));
  }

  /** Removes the object's alarm. */
  deleteAlarm(options?: StoragePutOptions): Promise<void> {
    return handled(this.#ordered(options, () => this.#alarm.delete()));
  }

  /** Runs an ordered write that is not a batch (alarm changes). */
  async #ordered(options: StoragePutOptions | undefined, task: () => Promise<void>): Promise<void> {
    const done = this.#writes.ordered(options, task);
    await this.#io(options?.allowConcurrency === true, () => done);
  }

  /** Runs storage I/O behind the input gate (exactly one close, then its open). */
  async #io<T>(concurrent: boolean, fn: () => Promise<T>): Promise<T> {
    if (concurrent) return await fn();
    const open = this.#hooks.inputGate.close();
    try {
      return await fn();
    } finally {
      open();
    }
  }
}
markNotCloneable(Storage.prototype, "DurableObjectStorage");
