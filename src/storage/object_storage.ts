/**
 * The durable storage API of an object (`ctx.storage`), named after
 * Cloudflare's `DurableObjectStorage` so ported code runs unchanged.
 * One implementation, `Storage`, runs over two backends (Deno KV and
 * memory) that share one conformance suite.
 *
 * Semantics on every backend:
 *
 * - Keys are strings of at most 1,536 UTF-8 bytes (Deno KV's 2,048-byte keys
 *   minus the framework prefix; Cloudflare allows 2 KiB). `list()` returns
 *   keys in UTF-8 byte order, as Cloudflare does.
 * - Values are structured-clone values (serialized with `node:v8`) of at most
 *   131,072 bytes; `get()` always returns a fresh copy.
 * - Writes issued without an `await` between them are coalesced into one
 *   atomic commit at the end of the current microtask turn; reads see writes
 *   that are not committed yet.
 * - Limits are checked before anything is written and throw a `RangeError`
 *   (or `TypeError` for a wrong type) that names the limit and the value.
 *
 * @module
 */

/**
 * Options of the read methods. Accepted for Cloudflare compatibility.
 *
 * @example Usage
 * ```ts
 * import { Storage } from "./storage.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * import type { StorageGetOptions } from "./object_storage.ts";
 * import assert from "node:assert/strict";
 *
 * const options: StorageGetOptions = { allowConcurrency: true };
 * const storage = new Storage({ backend: new MemoryBackend() });
 * assert.equal(await storage.get("missing", options), undefined);
 * ```
 */
export interface StorageGetOptions {
  /**
   * Do not close the input gate while this read runs, so other events of the
   * object may be delivered meanwhile.
   *
   * @default {false}
   */
  allowConcurrency?: boolean;
  /** Ignored: there is no storage cache to bypass. */
  noCache?: boolean;
}

/**
 * Options of the write methods. Accepted for Cloudflare compatibility.
 *
 * @example Usage
 * ```ts
 * import { Storage } from "./storage.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * import type { StoragePutOptions } from "./object_storage.ts";
 * import assert from "node:assert/strict";
 *
 * const options: StoragePutOptions = { allowUnconfirmed: true };
 * const storage = new Storage({ backend: new MemoryBackend() });
 * await storage.put("k", 1, options);
 * assert.equal(await storage.get("k"), 1);
 * ```
 */
export interface StoragePutOptions {
  /**
   * Do not close the input gate while this write commits.
   *
   * @default {false}
   */
  allowConcurrency?: boolean;
  /**
   * Do not hold the object's outgoing messages until this write is durable
   * (the output gate).
   *
   * @default {false}
   */
  allowUnconfirmed?: boolean;
  /** Ignored: there is no storage cache. */
  noCache?: boolean;
}

/**
 * Options of {@linkcode ObjectStorage.list}. Bounds are compared in UTF-8
 * byte order. `start` and `startAfter` cannot be combined.
 *
 * @example Usage
 * ```ts
 * import { Storage } from "./storage.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * import type { StorageListOptions } from "./object_storage.ts";
 * import assert from "node:assert/strict";
 *
 * const storage = new Storage({ backend: new MemoryBackend() });
 * await storage.put({ "user:1": "a", "user:2": "b", "room:1": "c" });
 * const options: StorageListOptions = { prefix: "user:", reverse: true, limit: 1 };
 * assert.deepEqual([...(await storage.list(options)).keys()], ["user:2"]);
 * ```
 */
export interface StorageListOptions extends StorageGetOptions {
  /** Only keys that start with this string. */
  prefix?: string;
  /** Only keys greater than or equal to this one. */
  start?: string;
  /** Only keys strictly greater than this one. */
  startAfter?: string;
  /** Only keys strictly less than this one. */
  end?: string;
  /**
   * Return keys in descending order (with `limit`: the last keys).
   *
   * @default {false}
   */
  reverse?: boolean;
  /** At most this many entries (a positive integer). */
  limit?: number;
}

/**
 * Reads and writes shared by {@linkcode ObjectStorage} and
 * {@linkcode StorageTransaction} (Cloudflare's names and overloads).
 *
 * @example Usage
 * ```ts
 * import { Storage } from "./storage.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * import type { StorageOperations } from "./object_storage.ts";
 * import assert from "node:assert/strict";
 *
 * async function bump(ops: StorageOperations): Promise<number> {
 *   const n = ((await ops.get<number>("n")) ?? 0) + 1;
 *   await ops.put("n", n);
 *   return n;
 * }
 * const storage = new Storage({ backend: new MemoryBackend() });
 * assert.equal(await bump(storage), 1);
 * assert.equal(await storage.transaction(bump), 2);
 * ```
 */
export interface StorageOperations {
  /**
   * Reads one key.
   *
   * @throws {TypeError} If the key is not a well-formed string.
   * @throws {RangeError} If the key exceeds 1,536 UTF-8 bytes.
   */
  get<T = unknown>(key: string, options?: StorageGetOptions): Promise<T | undefined>;
  /**
   * Reads up to 128 keys; the map holds only keys that exist, in key order.
   *
   * @throws {RangeError} If more than 128 keys are given.
   */
  get<T = unknown>(keys: string[], options?: StorageGetOptions): Promise<Map<string, T>>;
  /**
   * Writes one key. Resolves when the write is durable.
   *
   * @throws {TypeError} If the value is `undefined`.
   * @throws {DOMException} `DataCloneError` if the value cannot be structured-cloned.
   * @throws {RangeError} If the serialized value exceeds 131,072 bytes, or the
   * coalesced commit would exceed one Deno KV atomic.
   */
  put<T>(key: string, value: T, options?: StoragePutOptions): Promise<void>;
  /**
   * Writes up to 128 keys atomically.
   *
   * @throws {RangeError} If more than 128 keys are given or the commit would
   * exceed one Deno KV atomic (1,000 mutations, 819,200 bytes, 81,920 bytes of keys).
   */
  put<T>(entries: Record<string, T>, options?: StoragePutOptions): Promise<void>;
  /** Deletes one key; resolves to whether it existed. */
  delete(key: string, options?: StoragePutOptions): Promise<boolean>;
  /** Deletes up to 128 keys atomically; resolves to how many existed. */
  delete(keys: string[], options?: StoragePutOptions): Promise<number>;
  /**
   * Lists entries in UTF-8 byte order of their keys.
   *
   * @throws {TypeError} If both `start` and `startAfter` are given.
   * @throws {RangeError} If `limit` is not a positive integer.
   */
  list<T = unknown>(options?: StorageListOptions): Promise<Map<string, T>>;
}

/**
 * The storage API available inside {@linkcode ObjectStorage.transaction}.
 * Reads see the transaction's own writes; writes become visible to others
 * only when the transaction commits.
 *
 * @example Usage
 * ```ts
 * import { Storage } from "./storage.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * import type { StorageTransaction } from "./object_storage.ts";
 * import assert from "node:assert/strict";
 *
 * const storage = new Storage({ backend: new MemoryBackend() });
 * async function increment(txn: StorageTransaction): Promise<number> {
 *   const next = ((await txn.get<number>("n")) ?? 0) + 1;
 *   await txn.put("n", next);
 *   return next;
 * }
 * assert.equal(await storage.transaction(increment), 1);
 * ```
 */
export interface StorageTransaction extends StorageOperations {
  /** Discards every write of the transaction; the function's result is still returned. */
  rollback(): void;
}

/**
 * The durable storage of one object (`ctx.storage`).
 *
 * @example Usage
 * ```ts
 * import { Storage } from "./storage.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * import type { ObjectStorage } from "./object_storage.ts";
 * import assert from "node:assert/strict";
 *
 * const storage: ObjectStorage = new Storage({ backend: new MemoryBackend() });
 * await storage.put("count", 1);
 * assert.equal(await storage.get<number>("count"), 1);
 * assert.equal(await storage.delete("count"), true);
 * ```
 */
export interface ObjectStorage extends StorageOperations {
  /**
   * Deletes every key of the object and its alarm. Not atomic: it may take
   * several commits, as on Cloudflare.
   */
  deleteAll(options?: StoragePutOptions): Promise<void>;
  /**
   * Runs `fn` as an optimistic transaction: all its writes commit together
   * or not at all. On a conflict with another write the function runs again
   * (up to 10 times). If `fn` throws, nothing is written and the error is
   * rethrown.
   *
   * @throws {KvError} If the transaction keeps conflicting.
   */
  transaction<T>(fn: (txn: StorageTransaction) => Promise<T>): Promise<T>;
  /** The time of the object's alarm in milliseconds since the epoch, or `null`. */
  getAlarm(options?: StorageGetOptions): Promise<number | null>;
  /**
   * Sets (or replaces) the object's single alarm. A time in the past fires
   * as soon as possible.
   *
   * @throws {TypeError} If the time is not a finite number or a valid `Date`.
   */
  setAlarm(scheduledTime: number | Date, options?: StoragePutOptions): Promise<void>;
  /** Removes the object's alarm, if any. */
  deleteAlarm(options?: StoragePutOptions): Promise<void>;
  /**
   * Resolves once every write issued so far (also those made with
   * `allowUnconfirmed`) has committed; at once when none is pending.
   */
  sync(): Promise<void>;
}

/**
 * What the object host gives a storage so storage I/O follows Cloudflare's
 * gates. Every storage implementation calls these hooks the same way.
 *
 * @example Count commits
 * ```ts
 * import { Storage } from "./storage.ts";
 * import { MemoryBackend } from "./memory_backend.ts";
 * import type { StorageHooks } from "./object_storage.ts";
 * import assert from "node:assert/strict";
 *
 * let closed = 0;
 * let mutations = 0;
 * const hooks: StorageHooks = {
 *   inputGate: { close: () => (closed++, () => closed--) },
 *   trackWrite: () => {},
 *   onCommit: (n) => mutations += n,
 * };
 * const storage = new Storage({ backend: new MemoryBackend(), hooks });
 * await storage.put("a", 1);
 * assert.equal(closed, 0);
 * assert.ok(mutations > 0);
 * ```
 */
export interface StorageHooks {
  /**
   * The input gate: `close()` when a storage operation starts I/O; the
   * function it returns is called exactly once, when the result is ready
   * (before the awaiting code resumes), also when the operation fails. It
   * opens what that `close()` closed: the host ties each operation to the
   * instance that started it, whose gate a reset may have discarded meanwhile.
   */
  readonly inputGate: {
    close(): () => void;
  };
  /**
   * Called with a promise for every write as soon as the write is issued;
   * it settles when the write is durable (rejects if it failed). The host
   * holds outgoing messages until it settles (the output gate).
   */
  trackWrite(commit: Promise<unknown>): void;
  /** Called after every successful KV atomic commit with its mutation count. */
  onCommit(mutations: number): void;
}
