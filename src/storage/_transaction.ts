// Optimistic transactions: one attempt's reads, writes and conflict
// detection (`Transaction`), and the loop that reruns attempts until one
// commits (`runTransaction`).

import { KvError, ObjectMovedError } from "../errors.ts";
import { FENCE_CHECKS, KV_MAX_CHECKS } from "../kv/keys.ts";
import type { CheckOp, StorageBackend, WriteOp } from "./backend.ts";
import {
  addSize,
  type AtomicMeter,
  type AtomicSize,
  checkAtomicSize,
  zeroSize,
} from "./_atomic_size.ts";
import { inRange, type KeyRange, sortEntries } from "./_key_range.ts";
import {
  deleteOps,
  validateKeyArg,
  validateListOptions,
  validatePut,
  type ValidKey,
} from "./_validate.ts";
import { decodeValue, type FoundEntry, getResult } from "./_values.ts";
import { type CommitWatcher, deferred, noop, type WriteQueue } from "./_write_queue.ts";
import type {
  StorageGetOptions,
  StorageListOptions,
  StoragePutOptions,
  StorageTransaction,
} from "./object_storage.ts";

const MAX_TRANSACTION_ATTEMPTS = 10;

interface Read {
  readonly keyBytes: Uint8Array;
  readonly version: string | null;
  readonly seq: number;
}

/** What a transaction needs from its storage. */
export interface TransactionContext {
  readonly backend: StorageBackend;
  readonly meter: AtomicMeter;
  readonly writes: WriteQueue;
  /** Gives the host's output gate a promise that settles when the writes are durable. */
  trackWrite(commit: Promise<unknown>): void;
  /** Runs storage I/O behind the input gate. */
  io<T>(concurrent: boolean, fn: () => Promise<T>): Promise<T>;
}

/**
 * One attempt of a transaction. Reads record the versionstamps they saw
 * (checked by KV at commit, catching writers in other processes) and the
 * in-process commit count at the time (compared with the keys later
 * in-process commits touched, which also catches inserts into listed ranges).
 */
class Transaction implements StorageTransaction, CommitWatcher {
  readonly writes: Map<string, WriteOp> = new Map();
  size: AtomicSize = zeroSize();
  rolledBack = false;
  #finished = false;
  /** Set when one key read twice had two versions. */
  #inconsistent = false;
  readonly #ctx: TransactionContext;
  /** Tells the host that the transaction writes (the output gate). */
  readonly #trackWrite: () => void;
  readonly #pointReads = new Map<string, Read>();
  readonly #listReads = new Map<string, Read>();
  readonly #ranges: { range: KeyRange; seq: number }[] = [];
  readonly #touched = new Map<string, { keyBytes: Uint8Array; seq: number }>();
  #clearedAt = -1;

  constructor(ctx: TransactionContext, trackWrite: () => void) {
    this.#ctx = ctx;
    this.#trackWrite = trackWrite;
  }

  finish(): void {
    this.#finished = true;
  }

  /** Records keys another in-process commit wrote (`"all"` = deleteAll). */
  touch(ops: readonly WriteOp[] | "all", seq: number): void {
    if (ops === "all") this.#clearedAt = seq;
    else for (const op of ops) this.#touched.set(op.key, { keyBytes: op.keyBytes, seq });
  }

  /** Whether an in-process commit changed something this attempt read after it read it. */
  conflicted(): boolean {
    if (this.#inconsistent) return true;
    const reads = [...this.#pointReads.values(), ...this.#listReads.values(), ...this.#ranges];
    if (reads.some((r) => r.seq < this.#clearedAt)) return true;
    for (const [key, touched] of this.#touched) {
      for (const read of [this.#pointReads.get(key), this.#listReads.get(key)]) {
        if (read && read.seq < touched.seq) return true;
      }
      for (const { range, seq } of this.#ranges) {
        if (seq < touched.seq && inRange(range, touched.keyBytes)) return true;
      }
    }
    return false;
  }

  /** Versionstamp checks for the commit: point reads first, then listed keys, within KV's limits. */
  checks(base: AtomicSize): CheckOp[] {
    const checks: CheckOp[] = [];
    const size = { ...base };
    const seen = new Set<string>();
    for (const [key, read] of [...this.#pointReads, ...this.#listReads]) {
      if (seen.has(key)) continue;
      seen.add(key);
      const cost = this.#ctx.meter.checkSize(read.keyBytes);
      addSize(size, cost);
      try {
        checkAtomicSize(size, "check");
      } catch {
        break; // in-process conflicts are still caught by conflicted()
      }
      checks.push({ keyBytes: read.keyBytes, version: read.version });
      // One check of each atomic is the owner record's (fencing).
      if (checks.length === KV_MAX_CHECKS - FENCE_CHECKS) break;
    }
    return checks;
  }

  #usable(verb: string, writes = false): void {
    if (this.#finished) throw new Error(`Cannot ${verb} as the transaction has finished`);
    if (writes && this.rolledBack) {
      throw new Error(`Cannot ${verb} as the transaction was rolled back`);
    }
  }

  #record(map: Map<string, Read>, key: ValidKey, version: string | null, seq: number): void {
    const known = this.#pointReads.get(key.key) ?? this.#listReads.get(key.key);
    if (known && known.version !== version) this.#inconsistent = true;
    if (!map.has(key.key)) map.set(key.key, { keyBytes: key.bytes, version, seq });
  }

  get<T = unknown>(key: string, options?: StorageGetOptions): Promise<T | undefined>;
  get<T = unknown>(keys: string[], options?: StorageGetOptions): Promise<Map<string, T>>;
  async get<T>(
    arg: string | string[],
    options?: StorageGetOptions,
  ): Promise<T | undefined | Map<string, T>> {
    this.#usable("get");
    const concurrent = options?.allowConcurrency === true;
    const many = Array.isArray(arg);
    const keys = validateKeyArg(arg, "get");
    for (const k of keys) this.#ctx.meter.checkKey(k.bytes, "get key");
    const found: FoundEntry[] = [];
    const missing: ValidKey[] = [];
    for (const k of keys) {
      const own = this.writes.get(k.key);
      if (own) {
        if (own.bytes) found.push([k.bytes, k.key, own.bytes]);
      } else missing.push(k);
    }
    if (missing.length > 0) {
      const seq = this.#ctx.writes.seq;
      const values = await this.#ctx.io(
        concurrent,
        () => this.#ctx.backend.read(missing.map((k) => k.bytes)),
      );
      missing.forEach((k, i) => {
        const value = values[i] ?? null;
        this.#record(this.#pointReads, k, value?.version ?? null, seq);
        if (value) found.push([k.bytes, k.key, value.bytes]);
      });
    }
    return getResult(found, many) as T | undefined | Map<string, T>;
  }

  put<T>(key: string, value: T, options?: StoragePutOptions): Promise<void>;
  put<T>(entries: Record<string, T>, options?: StoragePutOptions): Promise<void>;
  // deno-lint-ignore require-await
  async put(arg: unknown, value?: unknown, options?: unknown): Promise<void> {
    this.#usable("put", true);
    const { ops, action } = validatePut(arg, value, options);
    for (const op of ops) this.#ctx.meter.checkKey(op.keyBytes, "put key");
    this.#apply(ops, action);
  }

  delete(key: string, options?: StoragePutOptions): Promise<boolean>;
  delete(keys: string[], options?: StoragePutOptions): Promise<number>;
  delete(arg: string | string[], options?: StoragePutOptions): Promise<boolean | number> {
    // A delete the function does not await still belongs to the transaction, and its failure
    // must not become an unhandled rejection (as with ctx.storage's own methods).
    const result = this.#delete(arg, options);
    result.catch(() => {});
    return result;
  }

  async #delete(arg: string | string[], options?: StoragePutOptions): Promise<boolean | number> {
    this.#usable("delete", true);
    const many = Array.isArray(arg);
    const keys = validateKeyArg(arg, "delete");
    for (const k of keys) this.#ctx.meter.checkKey(k.bytes, "delete key");
    let existed = 0;
    const unknown: ValidKey[] = [];
    for (const k of keys) {
      const own = this.writes.get(k.key);
      const read = this.#pointReads.get(k.key) ?? this.#listReads.get(k.key);
      if (own) existed += own.bytes ? 1 : 0;
      else if (read) existed += read.version !== null ? 1 : 0;
      else unknown.push(k);
    }
    // Record the delete now (validating its size before any I/O); only the count needs a read.
    this.#apply(deleteOps(keys), many ? "delete keys" : "delete key");
    if (unknown.length > 0) {
      const seq = this.#ctx.writes.seq;
      const versions = await this.#ctx.io(
        options?.allowConcurrency === true,
        () => this.#ctx.backend.versions(unknown.map((k) => k.bytes)),
      );
      unknown.forEach((k, i) => {
        const version = versions[i] ?? null;
        this.#record(this.#pointReads, k, version, seq);
        if (version !== null) existed++;
      });
    }
    return many ? existed : existed > 0;
  }

  async list<T = unknown>(options?: StorageListOptions): Promise<Map<string, T>> {
    this.#usable("list");
    const request = validateListOptions(options);
    const range = request.range;
    if (!range) return new Map();
    this.#ctx.meter.checkRange(range);
    const own = [...this.writes.values()].filter((op) => inRange(range, op.keyBytes));
    // Ask for enough entries that the ones this transaction deleted cannot shorten the page.
    const deleted = own.filter((op) => op.bytes === null).length;
    const limit = request.limit === undefined ? undefined : request.limit + deleted;
    const seq = this.#ctx.writes.seq;
    const listed = await this.#ctx.io(
      request.allowConcurrency,
      () => this.#ctx.backend.list(range, request.reverse, limit),
    );
    this.#ranges.push({ range, seq });
    const merged = new Map<string, [Uint8Array, string, Uint8Array]>();
    for (const entry of listed) {
      this.#record(
        this.#listReads,
        { key: entry.key, bytes: entry.keyBytes },
        entry.value.version,
        seq,
      );
      merged.set(entry.key, [entry.keyBytes, entry.key, entry.value.bytes]);
    }
    for (const op of own) {
      if (op.bytes) merged.set(op.key, [op.keyBytes, op.key, op.bytes]);
      else merged.delete(op.key);
    }
    let entries = sortEntries([...merged.values()], request.reverse);
    if (request.limit !== undefined) entries = entries.slice(0, request.limit);
    return new Map(entries.map(([, key, bytes]) => [key, decodeValue<T>(bytes)]));
  }

  rollback(): void {
    this.#usable("roll back");
    this.rolledBack = true;
  }

  #apply(ops: readonly WriteOp[], action: string): void {
    if (ops.length === 0) return;
    const size = this.#ctx.meter.project(this.size, this.writes, ops);
    checkAtomicSize(size, `${action} in the transaction`);
    for (const op of ops) this.writes.set(op.key, op);
    this.size = size;
    this.#trackWrite();
  }
}

/**
 * Runs `fn` as an optimistic transaction: attempts run after every earlier
 * write; an attempt that conflicts is discarded and `fn` runs again, up to
 * 10 times.
 */
export async function runTransaction<T>(
  ctx: TransactionContext,
  fn: (txn: StorageTransaction) => Promise<T>,
): Promise<T> {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot run transaction as it must be a function: current type is ${typeof fn}`,
    );
  }
  await ctx.io(false, () => ctx.writes.sync());
  // One promise for the host's output gate, whichever attempt writes first.
  const outcome = deferred<void>();
  outcome.promise.catch(noop);
  let tracked = false;
  let commitFailed = false;
  const trackWrite = () => {
    if (tracked) return;
    tracked = true;
    ctx.trackWrite(outcome.promise);
  };
  try {
    for (let attempt = 1; attempt <= MAX_TRANSACTION_ATTEMPTS; attempt++) {
      const txn = new Transaction(ctx, trackWrite);
      ctx.writes.watchers.add(txn);
      try {
        const result = await fn(txn);
        if (txn.rolledBack || txn.writes.size === 0) return result;
        const committed = await ctx.io(false, () =>
          ctx.writes.enqueue(async () => {
            try {
              return await commitAttempt(ctx, txn);
            } catch (error) {
              commitFailed = error instanceof KvError || error instanceof ObjectMovedError;
              throw error;
            }
          }));
        if (committed) return result;
      } finally {
        txn.finish();
        ctx.writes.watchers.delete(txn);
      }
    }
    throw new KvError(
      "transaction",
      new Error(`the transaction conflicted with other writes ${MAX_TRANSACTION_ATTEMPTS} times`),
    );
  } catch (error) {
    if (commitFailed) outcome.reject(error);
    throw error;
  } finally {
    outcome.resolve();
  }
}

/** Commits one attempt unless it conflicted; `false` = run `fn` again. */
async function commitAttempt(ctx: TransactionContext, txn: Transaction): Promise<boolean> {
  if (txn.conflicted()) return false;
  const ops = [...txn.writes.values()];
  const checks = txn.checks(txn.size);
  const mutations = await ctx.backend.commit(ops, checks);
  if (mutations === null) return false;
  ctx.writes.committed(mutations, ops, txn);
  return true;
}
