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
import {
  checkBatchSize,
  compareBytes,
  decodeValue,
  type EncodedKey,
  encodeKey,
  encodeKeys,
  encodeValue,
  inRange,
  type KeyRange,
  parseListOptions,
} from "./_codec.ts";
import {
  addSize,
  type AtomicSize,
  checkAtomicSize,
  KV_MAX_CHECKS,
  type KvLayout,
  zeroSize,
} from "./_kv_layout.ts";
import type {
  StorageGetOptions,
  StorageHooks,
  StorageListOptions,
  StoragePutOptions,
  StorageTransaction,
} from "./object_storage.ts";

/** A stored value and its version (KV versionstamp). */
export interface StoredValue {
  readonly bytes: Uint8Array;
  readonly version: string;
}

/** One key to write (`bytes`) or delete (`null`). */
export interface WriteOp {
  readonly key: string;
  readonly keyBytes: Uint8Array;
  readonly bytes: Uint8Array | null;
}

/** A versionstamp check on a head key; `null` = must not exist. */
export interface CheckOp {
  readonly keyBytes: Uint8Array;
  readonly version: string | null;
}

/** An entry returned by a range read. */
export interface ListedEntry {
  readonly key: string;
  readonly keyBytes: Uint8Array;
  readonly value: StoredValue;
}

/** What an engine needs from a store. Errors are already `KvError`s. */
export interface StorageBackend {
  readonly layout: KvLayout;
  /** Versions of the keys (`null` = absent), without reading whole values. */
  versions(keys: readonly Uint8Array[]): Promise<(string | null)[]>;
  /** Whole values; a value split over several entries is never returned half-written. */
  read(keys: readonly Uint8Array[]): Promise<(StoredValue | null)[]>;
  list(range: KeyRange, reverse: boolean, limit: number | undefined): Promise<ListedEntry[]>;
  /** One atomic commit. Resolves to its mutation count, or `null` if a check failed. */
  commit(ops: readonly WriteOp[], checks: readonly CheckOp[]): Promise<number | null>;
  /** Deletes everything of the object, in as many commits as needed. */
  clear(onCommit: (mutations: number) => void): Promise<void>;
}

/** The object's alarm, as the storage sees it. */
export interface AlarmAccess {
  get(): Promise<number | null>;
  set(time: number): Promise<void>;
  delete(): Promise<void>;
}

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

function sortEntries<V>(
  entries: [Uint8Array, string, V][],
  reverse = false,
): [Uint8Array, string, V][] {
  const sign = reverse ? -1 : 1;
  return entries.sort((a, b) => sign * compareBytes(a[0], b[0]));
}

/** Parses the arguments of `put()`, validating everything before any write. */
function parsePut(arg: unknown, value: unknown, options: unknown): {
  ops: WriteOp[];
  action: string;
  options: StoragePutOptions | undefined;
} {
  if (arg !== null && typeof arg === "object" && !Array.isArray(arg)) {
    const entries = Object.entries(arg);
    checkBatchSize(entries.length, "put");
    const ops = entries.map(([key, v]) => {
      const { bytes } = encodeKey(key, "put key");
      return { key, keyBytes: bytes, bytes: encodeValue(v) };
    });
    return { ops, action: "put entries", options: value as StoragePutOptions | undefined };
  }
  const { key, bytes } = encodeKey(arg, "put key");
  return {
    ops: [{ key, keyBytes: bytes, bytes: encodeValue(value) }],
    action: "put value",
    options: options as StoragePutOptions | undefined,
  };
}

function deleteOps(keys: EncodedKey[]): WriteOp[] {
  return keys.map((k) => ({ key: k.key, keyBytes: k.bytes, bytes: null }));
}

/** The cost of `ops` when they replace earlier writes in `current` (last write of a key wins). */
function projectSize(
  base: AtomicSize,
  current: ReadonlyMap<string, WriteOp>,
  ops: readonly WriteOp[],
  layout: KvLayout,
): AtomicSize {
  const size = { ...base };
  const seen = new Map<string, WriteOp>();
  for (const op of ops) seen.set(op.key, op);
  for (const op of seen.values()) {
    const old = current.get(op.key);
    if (old) addSize(size, layout.writeSize(old.keyBytes, old.bytes), -1);
    addSize(size, layout.writeSize(op.keyBytes, op.bytes));
  }
  return size;
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

interface Read {
  readonly keyBytes: Uint8Array;
  readonly version: string | null;
  readonly seq: number;
}

/** What a transaction needs from its engine. */
interface TransactionContext {
  readonly backend: StorageBackend;
  io<T>(concurrent: boolean, fn: () => Promise<T>): Promise<T>;
  /** The number of in-process commits so far. */
  seq(): number;
  /** Tells the host that the transaction writes (the output gate). */
  trackWrite(): void;
}

/**
 * One attempt of a transaction. Reads record the versionstamps they saw
 * (checked by KV at commit, catching writers in other processes) and the
 * in-process commit count at the time (compared with the keys later
 * in-process commits touched, which also catches inserts into listed ranges).
 */
class Transaction implements StorageTransaction {
  readonly writes: Map<string, WriteOp> = new Map();
  size: AtomicSize = zeroSize();
  rolledBack = false;
  #finished = false;
  /** Set when one key read twice had two versions. */
  #inconsistent = false;
  readonly #ctx: TransactionContext;
  readonly #pointReads = new Map<string, Read>();
  readonly #listReads = new Map<string, Read>();
  readonly #ranges: { range: KeyRange; seq: number }[] = [];
  readonly #touched = new Map<string, { keyBytes: Uint8Array; seq: number }>();
  #clearedAt = -1;

  constructor(ctx: TransactionContext) {
    this.#ctx = ctx;
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
  checks(base: AtomicSize, layout: KvLayout): CheckOp[] {
    const checks: CheckOp[] = [];
    const size = { ...base };
    const seen = new Set<string>();
    for (const [key, read] of [...this.#pointReads, ...this.#listReads]) {
      if (seen.has(key)) continue;
      seen.add(key);
      const cost = layout.checkSize(read.keyBytes);
      addSize(size, cost);
      try {
        checkAtomicSize(size, "check");
      } catch {
        break; // in-process conflicts are still caught by conflicted()
      }
      checks.push({ keyBytes: read.keyBytes, version: read.version });
      if (checks.length === KV_MAX_CHECKS) break;
    }
    return checks;
  }

  #usable(verb: string, writes = false): void {
    if (this.#finished) throw new Error(`Cannot ${verb} as the transaction has finished`);
    if (writes && this.rolledBack) {
      throw new Error(`Cannot ${verb} as the transaction was rolled back`);
    }
  }

  #record(map: Map<string, Read>, key: EncodedKey, version: string | null, seq: number): void {
    const known = this.#pointReads.get(key.key) ?? this.#listReads.get(key.key);
    if (known && known.version !== version) this.#inconsistent = true;
    if (!map.has(key.key)) map.set(key.key, { keyBytes: key.bytes, version, seq });
  }

  #layout(): KvLayout {
    return this.#ctx.backend.layout;
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
    const keys = many ? encodeKeys(arg, "get") : [encodeKey(arg, "get key")];
    for (const k of keys) this.#layout().checkKey(k.bytes, "get key");
    const found: [Uint8Array, string, Uint8Array][] = [];
    const missing: EncodedKey[] = [];
    for (const k of keys) {
      const own = this.writes.get(k.key);
      if (own) {
        if (own.bytes) found.push([k.bytes, k.key, own.bytes]);
      } else missing.push(k);
    }
    if (missing.length > 0) {
      const seq = this.#ctx.seq();
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
    if (!many) return found[0] ? decodeValue<T>(found[0][2]) : undefined;
    return new Map(sortEntries(found).map(([, key, bytes]) => [key, decodeValue<T>(bytes)]));
  }

  put<T>(key: string, value: T, options?: StoragePutOptions): Promise<void>;
  put<T>(entries: Record<string, T>, options?: StoragePutOptions): Promise<void>;
  // deno-lint-ignore require-await
  async put(arg: unknown, value?: unknown, options?: unknown): Promise<void> {
    this.#usable("put", true);
    const { ops, action } = parsePut(arg, value, options);
    for (const op of ops) this.#layout().checkKey(op.keyBytes, "put key");
    this.#apply(ops, action);
  }

  delete(key: string, options?: StoragePutOptions): Promise<boolean>;
  delete(keys: string[], options?: StoragePutOptions): Promise<number>;
  async delete(arg: string | string[], options?: StoragePutOptions): Promise<boolean | number> {
    this.#usable("delete", true);
    const many = Array.isArray(arg);
    const keys = many ? encodeKeys(arg, "delete") : [encodeKey(arg, "delete key")];
    for (const k of keys) this.#layout().checkKey(k.bytes, "delete key");
    // Validate the size before reading, so a refused delete costs no I/O.
    checkAtomicSize(
      projectSize(this.size, this.writes, deleteOps(keys), this.#layout()),
      "delete keys",
    );
    let existed = 0;
    const unknown: EncodedKey[] = [];
    for (const k of keys) {
      const own = this.writes.get(k.key);
      const read = this.#pointReads.get(k.key) ?? this.#listReads.get(k.key);
      if (own) existed += own.bytes ? 1 : 0;
      else if (read) existed += read.version !== null ? 1 : 0;
      else unknown.push(k);
    }
    if (unknown.length > 0) {
      const seq = this.#ctx.seq();
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
    this.#usable("delete", true);
    this.#apply(deleteOps(keys), many ? "delete keys" : "delete key");
    return many ? existed : existed > 0;
  }

  async list<T = unknown>(options?: StorageListOptions): Promise<Map<string, T>> {
    this.#usable("list");
    const request = parseListOptions(options);
    const range = request.range;
    if (!range) return new Map();
    const own = [...this.writes.values()].filter((op) => inRange(range, op.keyBytes));
    // Ask for enough entries that the ones this transaction deleted cannot shorten the page.
    const deleted = own.filter((op) => op.bytes === null).length;
    const limit = request.limit === undefined ? undefined : request.limit + deleted;
    const seq = this.#ctx.seq();
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
    const size = projectSize(this.size, this.writes, ops, this.#layout());
    checkAtomicSize(size, `${action} in the transaction`);
    for (const op of ops) this.writes.set(op.key, op);
    this.size = size;
    this.#ctx.trackWrite();
  }
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

  /** Runs storage I/O behind the input gate (exactly one close and one open). */
  async #io<T>(concurrent: boolean, fn: () => Promise<T>): Promise<T> {
    if (concurrent) return await fn();
    this.#hooks.inputGate.close();
    try {
      return await fn();
    } finally {
      this.#hooks.inputGate.open();
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
