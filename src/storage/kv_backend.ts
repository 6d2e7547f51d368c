/**
 * {@linkcode KvBackend}: object storage on Deno KV: chunked values, batched
 * reads, transient-error retries. The keys are `StorageKeys` (src/kv/keys.ts).
 *
 * Reading a value over 64 KiB: its head holds exactly 65,536 bytes and its
 * continuation was written in the same atomic, so both carry the same
 * versionstamp. A head of 65,536 bytes is therefore re-read together with its
 * continuation in one `getMany` (one consistent snapshot): equal versionstamps
 * mean "join them"; anything else means the head is a complete value of
 * exactly 64 KiB and the continuation is a leftover (which the next write of
 * the key deletes). A reader can never see half of a value.
 *
 * @module
 */

import {
  isObjectId,
  isStorageName,
  KV_MAX_GET_MANY,
  KV_MAX_MUTATIONS,
  KV_MAX_PAYLOAD,
  KV_MAX_VALUE,
  kvKeySize,
  StorageKeys,
} from "../kv/keys.ts";
import { withRetry } from "../kv/retry.ts";
import { commitFenced, type Fence } from "../kv/fence.ts";
import type { CheckOp, ListedEntry, StorageBackend, StoredValue, WriteOp } from "./backend.ts";
import { decodeKey, type KeyRange } from "./_key_range.ts";

function bytesOf(entry: Deno.KvEntryMaybe<unknown>): Uint8Array {
  if (entry.value instanceof Uint8Array) return entry.value;
  throw new TypeError(
    `Cannot read storage entry as its value is not bytes: current type is ${typeof entry.value}`,
  );
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function join(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(head.length + tail.length);
  bytes.set(head);
  bytes.set(tail, head.length);
  return bytes;
}

/**
 * A `StorageBackend` on Deno KV, under `["dormant", "s", storageName, id]`.
 * Values over 64 KiB (up to 128 KiB) are split over two KV entries written
 * in one atomic and never read half-written; transient KV errors ("database
 * is locked") are retried a few times with a short backoff, then reported as
 * `KvError`.
 */
export class KvBackend implements StorageBackend {
  readonly storageName: string;
  readonly id: string;
  readonly #kv: Deno.Kv;
  readonly #keys: StorageKeys;
  readonly #fence: Fence | undefined;

  /**
   * The storage of one object. Nothing is read until the first call. With a
   * `fence`, every commit also checks that this node still owns the object,
   * in the same atomic, and fails with `ObjectMovedError` if it does not.
   *
   * @throws {TypeError} If the storage name or id is malformed.
   */
  constructor(kv: Deno.Kv, storageName: string, id: string, fence?: Fence) {
    if (!isStorageName(storageName)) {
      throw new TypeError(
        `Cannot create storage as the storage name must be 1-64 characters of [A-Za-z0-9_-]: current value is "${
          String(storageName)
        }"`,
      );
    }
    if (!isObjectId(id)) {
      throw new TypeError(
        `Cannot create storage as the id must be 64 lowercase hex characters: current value is "${
          String(id)
        }"`,
      );
    }
    this.#kv = kv;
    this.storageName = storageName;
    this.id = id;
    this.#keys = new StorageKeys(storageName, id);
    this.#fence = fence;
  }

  /** `getMany` in groups of at most 10 keys. */
  async #getMany(
    keys: readonly Deno.KvKey[],
    operation: string,
  ): Promise<Deno.KvEntryMaybe<unknown>[]> {
    const groups = await Promise.all(
      chunk(keys, KV_MAX_GET_MANY).map((group) =>
        withRetry(operation, () => this.#kv.getMany(group))
      ),
    );
    return groups.flat();
  }

  async versions(keys: readonly Uint8Array[]): Promise<(string | null)[]> {
    const heads = await this.#getMany(keys.map((k) => this.#keys.head(k)), "get");
    return heads.map((entry) => entry.versionstamp);
  }

  async read(keys: readonly Uint8Array[]): Promise<(StoredValue | null)[]> {
    const heads = await this.#getMany(keys.map((k) => this.#keys.head(k)), "get");
    const values: (StoredValue | null)[] = heads.map((entry) =>
      entry.versionstamp === null ? null : { bytes: bytesOf(entry), version: entry.versionstamp }
    );
    await this.#joinChunks(keys, values);
    return values;
  }

  async list(range: KeyRange, reverse: boolean, limit: number | undefined): Promise<ListedEntry[]> {
    const selector = {
      start: this.#keys.headBound(range.lower, "lower"),
      end: this.#keys.headBound(range.upper, "upper"),
    };
    const batchSize = Math.min(limit ?? 500, 500);
    const entries = await withRetry("list", async () => {
      const out: Deno.KvEntry<unknown>[] = [];
      for await (const entry of this.#kv.list(selector, { reverse, limit, batchSize })) {
        out.push(entry);
      }
      return out;
    });
    const keys = entries.map((entry) => entry.key.at(-1) as Uint8Array);
    const values: (StoredValue | null)[] = entries.map((entry) => ({
      bytes: bytesOf(entry),
      version: entry.versionstamp,
    }));
    await this.#joinChunks(keys, values);
    const listed: ListedEntry[] = [];
    values.forEach((value, i) => {
      const keyBytes = keys[i]!;
      if (value) listed.push({ key: decodeKey(keyBytes), keyBytes, value });
    });
    return listed;
  }

  /** Replaces heads of exactly 64 KiB by whole values, re-read with their continuation. */
  async #joinChunks(keys: readonly Uint8Array[], values: (StoredValue | null)[]): Promise<void> {
    const full = values.flatMap((value, i) =>
      value && value.bytes.length === KV_MAX_VALUE ? [i] : []
    );
    if (full.length === 0) return;
    const pairs = full.flatMap((i) => [this.#keys.head(keys[i]!), this.#keys.cont(keys[i]!)]);
    const entries = await this.#getMany(pairs, "get");
    full.forEach((index, n) => {
      const head = entries[2 * n]!;
      const cont = entries[2 * n + 1]!;
      if (head.versionstamp === null) values[index] = null;
      else if (cont.versionstamp === head.versionstamp) {
        values[index] = { bytes: join(bytesOf(head), bytesOf(cont)), version: head.versionstamp };
      } else values[index] = { bytes: bytesOf(head), version: head.versionstamp };
    });
  }

  async commit(ops: readonly WriteOp[], checks: readonly CheckOp[]): Promise<number | null> {
    const build = () => {
      const atomic = this.#kv.atomic();
      for (const check of checks) {
        atomic.check({ key: this.#keys.head(check.keyBytes), versionstamp: check.version });
      }
      for (const op of ops) {
        const head = this.#keys.head(op.keyBytes);
        const cont = this.#keys.cont(op.keyBytes);
        if (op.bytes === null) atomic.delete(head).delete(cont);
        else if (op.bytes.length <= KV_MAX_VALUE) atomic.set(head, op.bytes).delete(cont);
        else {atomic.set(head, op.bytes.subarray(0, KV_MAX_VALUE)).set(
            cont,
            op.bytes.subarray(KV_MAX_VALUE),
          );}
      }
      return atomic;
    };
    const result = await commitFenced(this.#fence, this.storageName, this.id, "commit", build);
    return result.ok ? 2 * ops.length : null;
  }

  async clear(onCommit: (mutations: number) => void): Promise<void> {
    // Heads first, then continuations: a clear that fails half way must not leave the first
    // 64 KiB of a value without its continuation (it would read as a complete, corrupt value).
    await this.#clearPrefix(this.#keys.headBound(null, "lower"), onCommit);
    await this.#clearPrefix(this.#keys.root, onCommit);
  }

  async #clearPrefix(prefix: Deno.KvKey, onCommit: (mutations: number) => void): Promise<void> {
    while (true) {
      const keys = await withRetry("deleteAll", async () => {
        const out: Deno.KvKey[] = [];
        const iter = this.#kv.list({ prefix }, {
          limit: KV_MAX_MUTATIONS,
          batchSize: 500,
        });
        for await (const entry of iter) out.push(entry.key);
        return out;
      });
      if (keys.length === 0) return;
      // Deletes cost their key once in the payload; stay under both limits.
      let group: Deno.KvKey[] = [];
      let payload = 0;
      const flush = async () => {
        if (group.length === 0) return;
        const keys = group;
        await commitFenced(this.#fence, this.storageName, this.id, "deleteAll", () => {
          const atomic = this.#kv.atomic();
          for (const key of keys) atomic.delete(key);
          return atomic;
        });
        onCommit(group.length);
        group = [];
        payload = 0;
      };
      for (const key of keys) {
        const size = kvKeySize(key);
        if (payload + size > KV_MAX_PAYLOAD || group.length === KV_MAX_MUTATIONS) await flush();
        group.push(key);
        payload += size;
      }
      await flush();
    }
  }
}
