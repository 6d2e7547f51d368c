// The order and coalescing of a storage's writes. Every write (coalesced
// batch, transaction commit, deleteAll, alarm change) runs on one promise
// chain, in the order it was issued. A batch collects the puts and deletes of
// one microtask turn and joins the chain at the end of that turn. Until a
// batch has committed, reads are answered from it (the overlay).

import { KvError } from "../errors.ts";
import type { StorageBackend, WriteOp } from "./backend.ts";
import { type AtomicMeter, type AtomicSize, checkAtomicSize, zeroSize } from "./_atomic_size.ts";
import type { StorageHooks, StoragePutOptions } from "./object_storage.ts";

/** Does nothing (a rejection handler for promises whose failure is reported elsewhere). */
export function noop(): void {}

/** A promise and its resolvers. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A new {@linkcode Deferred}. */
export function deferred<T>(): Deferred<T> {
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

/** Learns of every in-process commit (a transaction attempt checks them for conflicts). */
export interface CommitWatcher {
  /** Keys a commit wrote (`"all"` = deleteAll), with the commit's sequence number. */
  touch(ops: readonly WriteOp[] | "all", seq: number): void;
}

/** The write chain of one storage: coalesced batches, ordered writes and the overlay. */
export class WriteQueue {
  /** Told of every commit. */
  readonly watchers: Set<CommitWatcher> = new Set();
  readonly #backend: StorageBackend;
  readonly #hooks: StorageHooks;
  readonly #meter: AtomicMeter;
  #open: Batch | null = null;
  readonly #inflight: (Batch | Barrier)[] = [];
  #chain: Promise<void> = Promise.resolve();
  #seq = 0;

  constructor(backend: StorageBackend, hooks: StorageHooks, meter: AtomicMeter) {
    this.#backend = backend;
    this.#hooks = hooks;
    this.#meter = meter;
  }

  /** The number of in-process commits so far. */
  get seq(): number {
    return this.#seq;
  }

  /** The newest uncommitted state of `key`: bytes, `null` (deleted) or `undefined` (ask the backend). */
  lookup(key: string): Uint8Array | null | undefined {
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

  /**
   * Adds writes to this turn's batch, after checking that they fit one KV
   * atomic alone and together with the batch. The promise resolves, once the
   * batch is durable, to how many of the deleted keys existed.
   */
  add(ops: WriteOp[], action: string, options: StoragePutOptions | undefined): Promise<number> {
    const meter = this.#meter;
    for (const op of ops) {
      meter.checkKey(op.keyBytes, action.startsWith("put") ? "put key" : "delete key");
    }
    // Validate the call alone, then with the writes it will be committed with.
    checkAtomicSize(meter.project(zeroSize(), new Map(), ops), action);
    const open = this.#open;
    const size = open
      ? meter.project(open.size, open.final, ops)
      : meter.project(zeroSize(), new Map(), ops);
    if (open) checkAtomicSize(size, `${action} together with the writes coalesced before it`);
    const batch = open ?? this.#newBatch();
    const call = batch.add(ops, size);
    if (!batch.tracked && options?.allowUnconfirmed !== true) {
      batch.tracked = true;
      this.#hooks.trackWrite(batch.durable.promise);
    }
    return call.done.promise;
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
    void this.enqueue(() => this.#commitBatch(batch));
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
      this.committed(mutations, ops);
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

  /** Records a successful commit: counts it, tells the watchers (but `except`) and the host. */
  committed(mutations: number, ops: readonly WriteOp[] | "all", except?: CommitWatcher): void {
    this.#seq++;
    for (const watcher of this.watchers) if (watcher !== except) watcher.touch(ops, this.#seq);
    this.#hooks.onCommit(mutations);
  }

  /** Runs `task` after every write issued before it. */
  enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(task);
    this.#chain = run.then(noop, noop);
    return run;
  }

  /** Settles once every write issued so far has committed or failed. */
  sync(): Promise<void> {
    return this.#open ? this.#open.settled.promise : this.#chain;
  }

  /** Queues an ordered write that is not a batch (alarm changes); tracked unless unconfirmed. */
  ordered(options: StoragePutOptions | undefined, task: () => Promise<void>): Promise<void> {
    this.#seal();
    const done = this.enqueue(task);
    if (options?.allowUnconfirmed !== true) {
      done.catch(noop);
      this.#hooks.trackWrite(done);
    }
    return done;
  }

  /**
   * Queues `deleteAll()`: the backend's clear, then `after` (the alarm). From
   * now until it is done, reads of keys not written after it see nothing.
   */
  clear(options: StoragePutOptions | undefined, after: () => Promise<void>): Promise<void> {
    this.#seal();
    const barrier: Barrier = { clears: true };
    this.#inflight.push(barrier);
    return this.ordered(options, async () => {
      try {
        await this.#backend.clear((mutations) => this.committed(mutations, "all"));
        await after();
      } finally {
        this.#inflight.splice(this.#inflight.indexOf(barrier), 1);
      }
    });
  }
}
