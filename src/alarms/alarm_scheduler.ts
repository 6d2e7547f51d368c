/**
 * {@linkcode AlarmScheduler}: one durable alarm per object, without KV queues.
 *
 * @module
 */

import { DormantError, KvError } from "../errors.ts";
import type { Clock, ClockTimer } from "../clock.ts";
import type { AlarmInvocationInfo } from "../types.ts";
import type { AlarmExceptionContext, AlarmSchedulerOptions } from "./alarm_scheduler_options.ts";
import {
  type AlarmRecord,
  type AlarmStore,
  type DueAlarm,
  KvAlarmStore,
  MemoryAlarmStore,
  ownedOnly,
  type StoredAlarm,
} from "./_alarm_store.ts";
import {
  checkObject,
  FIRST_RETRY_MS,
  HOLD_MS,
  MAX_RETRIES,
  MAX_WRITE_ATTEMPTS,
  objectKey,
  withName,
} from "./_policy.ts";

/**
 * Keeps one alarm per object and delivers it at its time, at least once.
 *
 * - Each alarm is a KV record plus an index entry ordered by due time. A
 *   single clock timer is armed for the nearest one; no KV queues are used
 *   (they do not exist on the new Deno Deploy nor over KV Connect).
 * - `start()` scans the index: alarms that came due while the process was
 *   down are delivered right away.
 * - A successful delivery removes the alarm, unless `set()` replaced it
 *   meanwhile. A failed delivery is retried after 2 s, 4 s, 8 s, … up to 6
 *   times (`isRetry: true`, `retryCount` 1 to 6, persisted), then given up
 *   and reported to `onException` with operation `"alarm"`.
 * - The object's name (from `nameOf`, when it knows it) is kept with the
 *   alarm and given to `deliver`, also by a scheduler started after a restart.
 * - At most one delivery per object runs at a time. While it runs,
 *   `get()` returns `null` (as on Cloudflare, where the running alarm is no
 *   longer pending) unless a new alarm was set.
 * - Nothing happens before `start()`; after `close()` nothing fires, and
 *   deliveries still running are not recorded (they are delivered again
 *   after a restart: at-least-once).
 *
 * @example Usage
 * ```ts
 * import { AlarmScheduler } from "./alarm_scheduler.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import type { AlarmInvocationInfo } from "../types.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock(0);
 * const delivered: AlarmInvocationInfo[] = [];
 * const scheduler = new AlarmScheduler({
 *   clock,
 *   deliver: async (_storageName, _id, info) => void delivered.push(info),
 *   onException: (error) => { throw error; },
 * });
 * await scheduler.start();
 * await scheduler.set("ROOM", "a".repeat(64), 5_000);
 * assert.equal(await scheduler.get("ROOM", "a".repeat(64)), 5_000);
 * await clock.advance(5_000);
 * await scheduler.settled();
 * assert.deepEqual(delivered, [{ isRetry: false, retryCount: 0, scheduledTime: 5_000 }]);
 * assert.equal(await scheduler.get("ROOM", "a".repeat(64)), null);
 * scheduler.close();
 * ```
 */
export class AlarmScheduler {
  readonly #store: AlarmStore;
  readonly #clock: Clock;
  readonly #deliver: AlarmSchedulerOptions["deliver"];
  readonly #nameOf: NonNullable<AlarmSchedulerOptions["nameOf"]>;
  readonly #onException: AlarmSchedulerOptions["onException"];
  readonly #rescanMs: number;
  #started = false;
  #closed = false;
  #timer: ClockTimer | null = null;
  #timerDue = Infinity;
  #pump: Promise<void> | null = null;
  #pumpAgain = false;
  /** Objects being delivered → the version of the record being delivered (`""` while reading it). */
  readonly #delivering = new Map<string, string>();
  /** Objects whose bookkeeping failed → not before this time. */
  readonly #held = new Map<string, number>();
  /** Background work (scans, deliveries), for `settled()`. */
  readonly #tasks = new Set<Promise<void>>();

  /**
   * Creates a scheduler; call {@linkcode AlarmScheduler.start} to begin delivering.
   *
   * @param options The KV handle (optional), clock, delivery callback and failure hook.
   */
  constructor(options: AlarmSchedulerOptions) {
    this.#store = alarmStore(options);
    this.#rescanMs = options.rescanMs ?? Infinity;
    this.#clock = options.clock;
    this.#deliver = options.deliver;
    this.#nameOf = options.nameOf ?? (() => undefined);
    this.#onException = options.onException;
  }

  /**
   * Starts delivering: scans the index, starts delivering overdue alarms and
   * arms a timer for the next one. Resolves after the scan, without waiting
   * for the deliveries. Idempotent.
   *
   * @throws {DormantError} If the scheduler was closed.
   */
  async start(): Promise<void> {
    this.#checkOpen("start");
    if (this.#started) return;
    this.#started = true;
    this.#kick();
    await this.#pump;
  }

  /**
   * The time the object's alarm is set for, or `null` (also while it is
   * being delivered, unless it was set again meanwhile).
   *
   * @param storageName The object's storage name.
   * @param id The object's id.
   * @returns Milliseconds since the epoch, or `null`.
   */
  async get(storageName: string, id: string): Promise<number | null> {
    checkObject(storageName, id, "get");
    const stored = await this.#store.read(storageName, id);
    if (!stored) return null;
    if (this.#delivering.get(objectKey(storageName, id)) === stored.version) return null;
    return stored.record.scheduledTime;
  }

  /**
   * Sets the object's alarm, replacing any earlier one (and its retries). A
   * time in the past is delivered as soon as possible.
   *
   * @param storageName The object's storage name.
   * @param id The object's id.
   * @param time Milliseconds since the epoch (fractions are dropped).
   * @throws {TypeError} If the time is not a finite number.
   * @throws {DormantError} If the scheduler was closed.
   */
  async set(storageName: string, id: string, time: number): Promise<void> {
    checkObject(storageName, id, "set");
    if (typeof time !== "number" || !Number.isFinite(time)) {
      throw new TypeError(
        `Cannot set alarm as the time must be a finite number: current value is ${String(time)}`,
      );
    }
    const scheduledTime = Math.floor(time);
    const name = this.#nameOf(storageName, id);
    await this.#replace(
      storageName,
      id,
      withName({ scheduledTime, retryCount: 0, dueTime: scheduledTime }, name),
      "set",
    );
  }

  /**
   * Removes the object's alarm, if any.
   *
   * @param storageName The object's storage name.
   * @param id The object's id.
   * @throws {DormantError} If the scheduler was closed.
   */
  async delete(storageName: string, id: string): Promise<void> {
    checkObject(storageName, id, "delete");
    await this.#replace(storageName, id, null, "delete");
  }

  /** Stops the timer; nothing is delivered after this. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerDue = Infinity;
  }

  /**
   * Resolves once no scan or delivery started by the scheduler is running
   * (for tests and graceful shutdown; it also waits for `deliver` calls).
   */
  async settled(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  #checkOpen(verb: string): void {
    if (this.#closed) {
      throw new DormantError(`Cannot ${verb} alarm as the scheduler is closed`, "scheduler_closed");
    }
  }

  async #replace(
    storageName: string,
    id: string,
    next: AlarmRecord | null,
    verb: string,
  ): Promise<void> {
    this.#checkOpen(verb);
    // Compare-and-set: a concurrent bookkeeping write of a delivery makes this read again.
    for (let attempt = 1;; attempt++) {
      const current = await this.#store.read(storageName, id);
      if (!current && !next) return;
      // A process that reached the object only by its hex id keeps the name stored before.
      const record = next && withName(next, next.name ?? current?.record.name);
      if (await this.#store.write(storageName, id, current, record) !== false) break;
      if (attempt === MAX_WRITE_ATTEMPTS) {
        throw new KvError(
          `alarm ${verb}`,
          new Error(`the alarm kept changing during ${MAX_WRITE_ATTEMPTS} attempts`),
        );
      }
    }
    this.#held.delete(objectKey(storageName, id));
    this.#kick();
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    // Tasks handle their own errors; anything left is a bug, reported rather than unhandled.
    void task.catch((error) => this.#report(error, { namespace: "", id: "", operation: "alarm" }))
      .finally(() => this.#tasks.delete(task));
  }

  #report(error: unknown, context: AlarmExceptionContext): void {
    if (this.#closed) return;
    try {
      this.#onException(error, context);
    } catch {
      // The hook's own failure must not stop the scheduler.
    }
  }

  /** Scans again soon (single flight: one scan at a time, rerun if asked meanwhile). */
  #kick(): void {
    if (!this.#started || this.#closed) return;
    if (this.#pump) {
      this.#pumpAgain = true;
      return;
    }
    this.#pump = this.#runPump();
    this.#track(this.#pump);
  }

  async #runPump(): Promise<void> {
    try {
      do {
        this.#pumpAgain = false;
        await this.#scan();
      } while (this.#pumpAgain && !this.#closed);
    } catch (error) {
      this.#report(error, { namespace: "", id: "", operation: "alarm scan" });
      this.#arm(this.#clock.now() + HOLD_MS);
    } finally {
      this.#pump = null;
    }
  }

  /** Delivers what is due and arms the timer for the nearest remaining alarm. */
  async #scan(): Promise<void> {
    const now = this.#clock.now();
    let next = Infinity;
    for await (const due of this.#store.scan()) {
      if (this.#closed) return;
      if (due.dueTime >= next) break; // the index is ordered: nothing later can be nearer
      const key = objectKey(due.storageName, due.id);
      if (this.#delivering.has(key)) continue;
      let at = due.dueTime;
      const held = this.#held.get(key);
      if (held !== undefined) {
        if (held <= now) this.#held.delete(key);
        else at = Math.max(at, held);
      }
      if (at <= now) this.#startDelivery(due, key);
      else next = Math.min(next, at);
    }
    this.#arm(next);
  }

  #arm(next: number): void {
    const due = Math.min(next, this.#clock.now() + this.#rescanMs);
    if (this.#closed || (this.#timer && due === this.#timerDue)) return;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerDue = due;
    if (!Number.isFinite(due)) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.#timerDue = Infinity;
      this.#kick();
    }, Math.max(0, due - this.#clock.now()));
  }

  #startDelivery(due: DueAlarm, key: string): void {
    this.#delivering.set(key, "");
    this.#track(this.#deliverOne(due, key));
  }

  async #deliverOne(due: DueAlarm, key: string): Promise<void> {
    const { storageName, id } = due;
    try {
      let stored: StoredAlarm | null;
      try {
        stored = await this.#store.read(storageName, id);
      } catch (error) {
        this.#held.set(key, this.#clock.now() + HOLD_MS);
        this.#report(error, { namespace: storageName, id, operation: "alarm bookkeeping" });
        return;
      }
      // Replaced or deleted since the scan: the next scan sees the current record.
      // (An index entry without a record is held, so it cannot spin.)
      if (!stored) this.#held.set(key, this.#clock.now() + HOLD_MS);
      if (!stored || stored.record.dueTime > this.#clock.now() || this.#closed) return;
      this.#delivering.set(key, stored.version);
      const { scheduledTime, retryCount, name } = stored.record;
      const info: AlarmInvocationInfo = Object.freeze({
        isRetry: retryCount > 0,
        retryCount,
        scheduledTime,
      });
      let failure: { error: unknown } | null = null;
      try {
        await this.#deliver(storageName, id, info, name);
      } catch (error) {
        failure = { error };
      }
      if (this.#closed) return;
      await this.#settle(due, key, stored, failure);
    } finally {
      this.#delivering.delete(key);
      this.#kick();
    }
  }

  /** Records the outcome of a delivery: done, retry later, or give up. */
  async #settle(
    due: DueAlarm,
    key: string,
    stored: StoredAlarm,
    failure: { error: unknown } | null,
  ): Promise<void> {
    const { storageName, id } = due;
    const { scheduledTime, retryCount } = stored.record;
    try {
      if (!failure) {
        // `false`: set() or delete() changed the alarm during delivery; keep that.
        await this.#store.write(storageName, id, stored, null);
      } else if (retryCount < MAX_RETRIES) {
        const dueTime = this.#clock.now() + FIRST_RETRY_MS * 2 ** retryCount;
        await this.#store.write(
          storageName,
          id,
          stored,
          withName({ scheduledTime, retryCount: retryCount + 1, dueTime }, stored.record.name),
        );
      } else {
        await this.#store.write(storageName, id, stored, null);
        this.#report(failure.error, { namespace: storageName, id, operation: "alarm" });
      }
    } catch (error) {
      // Not recorded: the alarm stays due. Hold it briefly instead of redelivering in a loop.
      this.#held.set(key, this.#clock.now() + HOLD_MS);
      this.#report(error, { namespace: storageName, id, operation: "alarm bookkeeping" });
    }
  }
}

/** KV (fenced when a fence is given) or memory; only this node's objects when `owns` is given. */
function alarmStore(options: AlarmSchedulerOptions): AlarmStore {
  const store = options.kv
    ? new KvAlarmStore(options.kv, options.onCommit ?? (() => {}), options.fence)
    : new MemoryAlarmStore();
  return options.owns ? ownedOnly(store, options.owns) : store;
}
