// The semantics of ObjectStorage, written once over a small backend interface
// (Deno KV or memory): write coalescing, read-your-writes, ordering, optimistic
// transactions, limits and the host's hooks. KvStorage and MemoryStorage are
// thin shells around a StorageEngine, so they cannot drift apart.
//
// Ordering: every write (coalesced batch, transaction commit, deleteAll,
// alarm change) runs on one promise chain, in the order it was issued. A
// batch collects the puts and deletes of one microtask turn and joins the
// chain at the end of that turn. Until a batch has committed, reads are
// answered from it (the overlay).

import { KvError } from "../errors.ts";
import { decodeValue, type EncodedKey, encodeKey, encodeKeys, parseListOptions } from "./_codec.ts";
import {
  type AlarmAccess,
  deleteOps,
  parsePut,
  projectSize,
  sortEntries,
  type StorageBackend,
  type WriteOp,
} from "./_backend.ts";
import { type AtomicSize, checkAtomicSize, zeroSize } from "./_kv_layout.ts";
import { Transaction, type TransactionContext } from "./_transaction.ts";
import type {
  StorageGetOptions,
  StorageHooks,
  StorageListOptions,
  StoragePutOptions,
  StorageTransaction,
} from "./object_storage.ts";

const MAX_TRANSACTION_ATTEMPTS = 10;

function noop(): void {}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  const { promise, resolve, reject } = Promise.withResolvers<T>();
  return { promise, resolve, reject };
}

interface Call {
  existed: number;
  readonly done: Deferred<number>;
}

/** The puts and deletes of one microtask turn: one atomic commit. */
class Batch {
  /** Every op in call order (delete results depend on the order). */
  readonly entries: { op: WriteOp; call: Call }[] = [];
  /** The last op per key: what gets committed. */
  readonly final: Map<string, WriteOp> = new Map();
  readonly calls: Call[] = [];
  size: AtomicSize = zeroSize();
  /** Settles (never rejects) when the batch is done, committed or not. */
  readonly settled: Deferred<void> = deferred();
  /** Resolves when durable, rejects if the commit failed: given to `trackWrite`. */
  readonly durable: Deferred<void> = deferred();
  tracked = false;

  constructor() {
    this.durable.promise.catch(noop);
  }

  add(ops: readonly WriteOp[], size: AtomicSize): Call {
    const call: Call = { existed: 0, done: deferred() };
    for (const op of ops) {
      this.entries.push({ op, call });
      this.final.set(op.key, op);
    }
    this.calls.push(call);
    this.size = size;
    return call;
  }
}

/** A `deleteAll()` in flight: reads of any key not written after it see nothing. */
interface Barrier {
  readonly clears: true;
}

/** The shared implementation of `ObjectStorage`. */
export class StorageEngine {
  readonly #backend: StorageBackend;
  readonly #hooks: StorageHooks;
  readonly #alarm: AlarmAccess;
  #open: Batch | null = null;
  readonly #inflight: (Batch | Barrier)[] = [];
  #chain: Promise<void> = Promise.resolve();
  #seq = 0;
  readonly #transactions = new Set<Transaction>();

  constructor(backend: StorageBackend, hooks: StorageHooks, alarm: AlarmAccess) {
    this.#backend = backend;
    this.#hooks = hooks;
    this.#alarm = alarm;
  }

  // ---- reads ----------------------------------------------------------------------------------

  async get(arg: unknown, options?: StorageGetOptions): Promise<unknown> {
    const concurrent = options?.allowConcurrency === true;
    const many = Array.isArray(arg);
    const keys = many ? encodeKeys(arg, "get") : [encodeKey(arg, "get key")];
    for (const k of keys) this.#backend.layout.checkKey(k.bytes, "get key");
    const found: [Uint8Array, string, Uint8Array][] = [];
    const missing: EncodedKey[] = [];
    for (const k of keys) {
      const hit = this.#lookup(k.key);
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
    if (!many) return found[0] ? decodeValue(found[0][2]) : undefined;
    return new Map(sortEntries(found).map(([, key, bytes]) => [key, decodeValue(bytes)]));
  }

  async list(options?: StorageListOptions): Promise<Map<string, unknown>> {
    const request = parseListOptions(options);
    const range = request.range;
    if (!range) return new Map();
    this.#backend.layout.checkRange(range);
    // Listing waits for earlier writes to commit instead of merging the overlay.
    const entries = await this.#io(request.allowConcurrency, async () => {
      await this.#sync();
      return await this.#backend.list(range, request.reverse, request.limit);
    });
    return new Map(entries.map((e) => [e.key, decodeValue(e.value.bytes)]));
  }

  /** The newest uncommitted state of `key`: bytes, `null` (deleted) or `undefined` (ask the backend). */
  #lookup(key: string): Uint8Array | null | undefined {
    const open = this.#open?.final.get(key);
    if (open) return open.bytes;
    for (let i = this.#inflight.length - 1; i >= 0; i--) {
      const entry = this.#inflight[i]!;
      if (entry instanceof Batch) {
        const op = entry.final.get(key);
        if (op) return op.bytes;
      } else return null;
    }
    return undefined;
  }

  // ---- coalesced writes -----------------------------------------------------------------------

  async put(arg: unknown, value?: unknown, options?: unknown): Promise<void> {
    const parsed = parsePut(arg, value, options);
    await this.#write(parsed.ops, parsed.action, parsed.options);
  }

  async delete(arg: unknown, options?: StoragePutOptions): Promise<boolean | number> {
    if (Array.isArray(arg)) {
      return await this.#write(deleteOps(encodeKeys(arg, "delete")), "delete keys", options);
    }
    const key = encodeKey(arg, "delete key");
    return (await this.#write(deleteOps([key]), "delete key", options)) > 0;
  }

  async #write(
    ops: WriteOp[],
    action: string,
    options: StoragePutOptions | undefined,
  ): Promise<number> {
    if (ops.length === 0) return 0; // put({}) and delete([]) write nothing
    const layout = this.#backend.layout;
    for (const op of ops) {
      layout.checkKey(op.keyBytes, action.startsWith("put") ? "put key" : "delete key");
    }
    // Validate the call alone, then with the writes it will be committed with.
    checkAtomicSize(projectSize(zeroSize(), new Map(), ops, layout), action);
    const open = this.#open;
    const size = open
      ? projectSize(open.size, open.final, ops, layout)
      : projectSize(zeroSize(), new Map(), ops, layout);
    if (open) checkAtomicSize(size, `${action} together with the writes coalesced before it`);
    const batch = open ?? this.#newBatch();
    const call = batch.add(ops, size);
    if (!batch.tracked && options?.allowUnconfirmed !== true) {
      batch.tracked = true;
      this.#hooks.trackWrite(batch.durable.promise);
    }
    return await this.#io(options?.allowConcurrency === true, () => call.done.promise);
  }

  #newBatch(): Batch {
    const batch = new Batch();
    this.#open = batch;
    queueMicrotask(() => {
      if (this.#open === batch) this.#seal();
    });
    return batch;
  }

  /** Moves the open batch onto the write chain now. */
  #seal(): void {
    const batch = this.#open;
    if (!batch) return;
    this.#open = null;
    this.#inflight.push(batch);
    void this.#enqueue(() => this.#commitBatch(batch));
  }

  async #commitBatch(batch: Batch): Promise<void> {
    try {
      // Whether each deleted key existed: known from earlier ops of the batch, else read.
      const firstOps = new Map<string, WriteOp>();
      for (const { op } of batch.entries) if (!firstOps.has(op.key)) firstOps.set(op.key, op);
      const unknown = [...firstOps.values()].filter((op) => op.bytes === null);
      const exists = new Map<string, boolean>();
      if (unknown.length > 0) {
        const versions = await this.#backend.versions(unknown.map((op) => op.keyBytes));
        unknown.forEach((op, i) => exists.set(op.key, (versions[i] ?? null) !== null));
      }
      for (const { op, call } of batch.entries) {
        if (op.bytes === null && exists.get(op.key)) call.existed++;
        exists.set(op.key, op.bytes !== null);
      }
      const ops = [...batch.final.values()];
      const mutations = await this.#backend.commit(ops, []);
      if (mutations === null) {
        throw new KvError("commit", new Error("an unchecked commit reported a conflict"));
      }
      this.#committed(mutations, ops);
      batch.durable.resolve();
      for (const call of batch.calls) call.done.resolve(call.existed);
    } catch (error) {
      batch.durable.reject(error);
      for (const call of batch.calls) call.done.reject(error);
    } finally {
      this.#inflight.splice(this.#inflight.indexOf(batch), 1);
      batch.settled.resolve();
    }
  }

  #committed(mutations: number, ops: readonly WriteOp[] | "all", except?: Transaction): void {
    this.#seq++;
    for (const txn of this.#transactions) if (txn !== except) txn.touch(ops, this.#seq);
    this.#hooks.onCommit(mutations);
  }

  /** Runs `task` after every write issued before it. */
  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(task);
    this.#chain = run.then(noop, noop);
    return run;
  }

  /** Settles once every write issued so far has committed or failed. */
  #sync(): Promise<void> {
    return this.#open ? this.#open.settled.promise : this.#chain;
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

  /** Runs an ordered write that is not a batch (deleteAll, alarm changes). */
  async #ordered(options: StoragePutOptions | undefined, task: () => Promise<void>): Promise<void> {
    this.#seal();
    const done = this.#enqueue(task);
    if (options?.allowUnconfirmed !== true) {
      done.catch(noop);
      this.#hooks.trackWrite(done);
    }
    await this.#io(options?.allowConcurrency === true, () => done);
  }

  // ---- deleteAll, alarms ----------------------------------------------------------------------

  deleteAll(options?: StoragePutOptions): Promise<void> {
    this.#seal();
    const barrier: Barrier = { clears: true };
    this.#inflight.push(barrier);
    return this.#ordered(options, async () => {
      try {
        await this.#backend.clear((mutations) => this.#committed(mutations, "all"));
        await this.#alarm.delete();
      } finally {
        this.#inflight.splice(this.#inflight.indexOf(barrier), 1);
      }
    });
  }

  async getAlarm(options?: StorageGetOptions): Promise<number | null> {
    return await this.#io(options?.allowConcurrency === true, async () => {
      await this.#sync();
      return await this.#alarm.get();
    });
  }

  async setAlarm(time: number, options?: StoragePutOptions): Promise<void> {
    await this.#ordered(options, () => this.#alarm.set(time));
  }

  async deleteAlarm(options?: StoragePutOptions): Promise<void> {
    await this.#ordered(options, () => this.#alarm.delete());
  }

  // ---- transactions ---------------------------------------------------------------------------

  async transaction<T>(fn: (txn: StorageTransaction) => Promise<T>): Promise<T> {
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot run transaction as it must be a function: current type is ${typeof fn}`,
      );
    }
    await this.#io(false, () => this.#sync());
    // One promise for the host's output gate, whichever attempt writes first.
    const outcome = deferred<void>();
    outcome.promise.catch(noop);
    let tracked = false;
    let commitFailed = false;
    const ctx: TransactionContext = {
      backend: this.#backend,
      io: (concurrent, io) => this.#io(concurrent, io),
      seq: () => this.#seq,
      trackWrite: () => {
        if (tracked) return;
        tracked = true;
        this.#hooks.trackWrite(outcome.promise);
      },
    };
    try {
      for (let attempt = 1; attempt <= MAX_TRANSACTION_ATTEMPTS; attempt++) {
        const txn = new Transaction(ctx);
        this.#transactions.add(txn);
        try {
          const result = await fn(txn);
          if (txn.rolledBack || txn.writes.size === 0) return result;
          const committed = await this.#io(false, () =>
            this.#enqueue(async () => {
              try {
                return await this.#commitTransaction(txn);
              } catch (error) {
                commitFailed = error instanceof KvError;
                throw error;
              }
            }));
          if (committed) return result;
        } finally {
          txn.finish();
          this.#transactions.delete(txn);
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

  async #commitTransaction(txn: Transaction): Promise<boolean> {
    if (txn.conflicted()) return false;
    const ops = [...txn.writes.values()];
    const checks = txn.checks(txn.size, this.#backend.layout);
    const mutations = await this.#backend.commit(ops, checks);
    if (mutations === null) return false;
    this.#committed(mutations, ops, txn);
    return true;
  }
}
