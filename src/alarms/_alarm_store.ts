// Where alarms are kept: Deno KV, or memory when the app has no KV.
//
// In KV (keys in src/kv/keys.ts): a record per object,
// { scheduledTime, retryCount, dueTime, name? }, and an index entry per
// record, ordered by due time. Both are written in the same atomic, guarded by a check on the record's
// versionstamp, so the index always matches the records. `dueTime` is when the
// next delivery is due: the scheduled time, or the time of the next retry.

import { ALARM_INDEX_PREFIX, alarmIndexKey, alarmKey, parseAlarmIndexKey } from "../kv/keys.ts";
import { withRetry } from "../kv/retry.ts";
import { commitFenced, type Fence } from "../kv/fence.ts";

/** One object's alarm. */
export interface AlarmRecord {
  /** The time the alarm was set for (reported to the handler). */
  readonly scheduledTime: number;
  /** Failed deliveries so far. */
  readonly retryCount: number;
  /** When the next delivery is due. */
  readonly dueTime: number;
  /**
   * The name the object's id was derived from, when known: a process that
   * starts after a restart learns it from here (ids are one-way hashes).
   */
  readonly name?: string;
}

/** A record and the version it was read at. */
export interface StoredAlarm {
  readonly record: AlarmRecord;
  readonly version: string;
}

/** An index entry: an alarm due at `dueTime`. */
export interface DueAlarm {
  readonly dueTime: number;
  readonly storageName: string;
  readonly id: string;
}

/** Storage of alarm records with compare-and-set writes. */
export interface AlarmStore {
  read(storageName: string, id: string): Promise<StoredAlarm | null>;
  /**
   * Replaces the record read as `expected` (`null` = there was none) by
   * `next` (`null` = delete). Resolves to the new stored alarm (or `null`
   * after a delete), or `false` if the record changed since it was read.
   */
  write(
    storageName: string,
    id: string,
    expected: StoredAlarm | null,
    next: AlarmRecord | null,
  ): Promise<StoredAlarm | null | false>;
  /** Every alarm in due order (then storage name, then id). */
  scan(): AsyncIterable<DueAlarm>;
}

function isRecord(value: unknown): value is AlarmRecord {
  const r = value as AlarmRecord | null;
  return typeof r === "object" && r !== null && typeof r.scheduledTime === "number" &&
    typeof r.retryCount === "number" && typeof r.dueTime === "number";
}

/** Alarms in Deno KV. */
export class KvAlarmStore implements AlarmStore {
  readonly #kv: Deno.Kv;
  readonly #onCommit: (mutations: number) => void;
  readonly #fence: Fence | undefined;

  /** With a `fence`, every write also checks the object's ownership (`ObjectMovedError` if lost). */
  constructor(kv: Deno.Kv, onCommit: (mutations: number) => void, fence?: Fence) {
    this.#kv = kv;
    this.#onCommit = onCommit;
    this.#fence = fence;
  }

  async read(storageName: string, id: string): Promise<StoredAlarm | null> {
    const entry = await withRetry(
      "alarm read",
      () => this.#kv.get(alarmKey(storageName, id)),
    );
    if (entry.versionstamp === null || !isRecord(entry.value)) return null;
    const { scheduledTime, retryCount, dueTime, name } = entry.value;
    const record: AlarmRecord = typeof name === "string"
      ? { scheduledTime, retryCount, dueTime, name }
      : { scheduledTime, retryCount, dueTime };
    return { record, version: entry.versionstamp };
  }

  async write(
    storageName: string,
    id: string,
    expected: StoredAlarm | null,
    next: AlarmRecord | null,
  ): Promise<StoredAlarm | null | false> {
    const key = alarmKey(storageName, id);
    const index = (dueTime: number) => alarmIndexKey(dueTime, storageName, id);
    let mutations = 0;
    const result = await commitFenced(this.#fence, storageName, id, "alarm write", () => {
      mutations = 0;
      const atomic = this.#kv.atomic().check({ key, versionstamp: expected?.version ?? null });
      if (expected && expected.record.dueTime !== next?.dueTime) {
        atomic.delete(index(expected.record.dueTime));
        mutations++;
      }
      if (next) {
        atomic.set(key, { ...next }).set(index(next.dueTime), null);
        mutations += 2;
      } else if (expected) {
        atomic.delete(key);
        mutations++;
      }
      return atomic;
    });
    if (!result.ok) return false;
    if (mutations > 0) this.#onCommit(mutations);
    return next ? { record: next, version: result.versionstamp } : null;
  }

  async *scan(): AsyncIterable<DueAlarm> {
    const iter = this.#kv.list({ prefix: ALARM_INDEX_PREFIX }, { batchSize: 32 });
    while (true) {
      const next = await withRetry("alarm scan", () => iter.next());
      if (next.done) return;
      const due = parseAlarmIndexKey(next.value.key);
      if (due) yield due;
    }
  }
}

/**
 * Alarms as one node of a cluster sees them: the alarm of an object another
 * live node owns reads as absent (the scheduler holds it and looks again
 * later), so only the owner delivers; `owns` claims an object whose owner is
 * gone, so its alarm still fires.
 */
export function ownedOnly(
  store: AlarmStore,
  owns: (storageName: string, id: string) => Promise<boolean>,
): AlarmStore {
  return {
    read: async (storageName, id) =>
      await owns(storageName, id) ? await store.read(storageName, id) : null,
    write: (storageName, id, expected, next) => store.write(storageName, id, expected, next),
    scan: () => store.scan(),
  };
}

/** Alarms in memory (an app without KV, or a `Storage` in memory with a scheduler). */
export class MemoryAlarmStore implements AlarmStore {
  readonly #records = new Map<string, { storageName: string; id: string; stored: StoredAlarm }>();
  #version = 0;

  read(storageName: string, id: string): Promise<StoredAlarm | null> {
    return Promise.resolve(this.#records.get(`${storageName}\0${id}`)?.stored ?? null);
  }

  write(
    storageName: string,
    id: string,
    expected: StoredAlarm | null,
    next: AlarmRecord | null,
  ): Promise<StoredAlarm | null | false> {
    const key = `${storageName}\0${id}`;
    const current = this.#records.get(key)?.stored ?? null;
    if ((current?.version ?? null) !== (expected?.version ?? null)) return Promise.resolve(false);
    if (!next) {
      this.#records.delete(key);
      return Promise.resolve(null);
    }
    const stored = { record: { ...next }, version: String(++this.#version) };
    this.#records.set(key, { storageName, id, stored });
    return Promise.resolve(stored);
  }

  async *scan(): AsyncIterable<DueAlarm> {
    const due = [...this.#records.values()].map(({ storageName, id, stored }) => ({
      dueTime: stored.record.dueTime,
      storageName,
      id,
    }));
    due.sort((a, b) =>
      a.dueTime - b.dueTime ||
      (a.storageName < b.storageName ? -1 : a.storageName > b.storageName ? 1 : 0) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    );
    yield* due;
  }
}
