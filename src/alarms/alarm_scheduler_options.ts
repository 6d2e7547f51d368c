/**
 * The options and failure context of the alarm scheduler.
 *
 * @module
 */

import type { Fence } from "../kv/fence.ts";
import type { Clock } from "../clock.ts";
import type { AlarmInvocationInfo } from "../types.ts";

/** Where a failure happened, as given to `onException`. */
export interface AlarmExceptionContext {
  /** The object's storage name (`""` for a failure not tied to one object). */
  namespace: string;
  /** The object id (`""` for a failure not tied to one object). */
  id: string;
  /** `"alarm"` for a delivery given up on; `"alarm scan"` or `"alarm bookkeeping"` for KV failures. */
  operation: string;
}

/** Options of `AlarmScheduler`. */
export interface AlarmSchedulerOptions {
  /** Where alarms are kept; without it they live in memory and do not survive a restart. */
  kv?: Deno.Kv;
  /** The only source of time and timers. */
  clock: Clock;
  /**
   * Delivers an alarm to its object (waking it); a rejection means the handler failed.
   * `name` is the name the id was derived from, if it was known when the alarm was set.
   */
  deliver: (
    storageName: string,
    id: string,
    info: AlarmInvocationInfo,
    name: string | undefined,
  ) => Promise<void>;
  /**
   * The name the object's id was derived from, if known: stored with the alarm
   * (no extra KV write) so a delivery after a restart can tell the object its name.
   */
  nameOf?: (storageName: string, id: string) => string | undefined;
  /** Receives failures: a delivery given up on after its retries, and KV errors. */
  onException: (error: unknown, context: AlarmExceptionContext) => void;
  /** Called after every KV commit with its mutation count. */
  onCommit?: (mutations: number) => void;
  /** Checks the object's ownership in every KV write of its alarm (none: unfenced). */
  fence?: Fence;
  /**
   * Whether this node owns the object now (claiming it when no live node
   * does). An alarm of an object another node owns is left to that node and
   * looked at again 2 s later. Without it every alarm is delivered here.
   */
  owns?: (storageName: string, id: string) => Promise<boolean>;
  /**
   * Scans the alarm index at least this often, to find alarms other nodes set
   * (whose owner may die). Default: only when an alarm here is due or changes.
   */
  rescanMs?: number;
}
