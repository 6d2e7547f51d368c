/**
 * Presence records: what a socket says about who is behind it (a user's
 * name, a colour, a cursor), kept with the socket beside its tags, so the
 * list of who is connected is read without building an instance.
 *
 * @module
 */

import type { BroadcastMessage } from "./broadcast.ts";
import { decode } from "../structured_clone/decode.ts";
import { encodeWithin } from "../structured_clone/encode_within.ts";

/**
 * Largest presence record, in structured-clone bytes (1 KiB). Presence is
 * kept in memory for every socket, also while its object hibernates, and
 * every list read or member message carries all of them: it is meant for a
 * name and a few fields, not for state (keep that in the attachment).
 */
export const MAX_PRESENCE_BYTES = 1024;

/** One connected socket's presence: its connection id and its record. */
export interface PresenceEntry<T = unknown> {
  /** The socket's connection id (`ctx.getConnectionId(ws)`). */
  readonly id: string;
  /** The socket's presence record (a frozen copy). */
  readonly value: T;
}

/**
 * What changed in an object's presence during one turn: sockets that got a
 * record (`joins`), lost it or closed (`leaves`, with their last record), or
 * got a different one (`updates`, with the new record). A socket that came
 * and went in the same turn is in none of them.
 */
export interface PresenceDiff<T = unknown> {
  /** Sockets that got a presence record, in the order they got it. */
  readonly joins: readonly PresenceEntry<T>[];
  /** Sockets whose record was removed or that closed, with the record they had. */
  readonly leaves: readonly PresenceEntry<T>[];
  /** Sockets whose record changed, with the new one. */
  readonly updates: readonly PresenceEntry<T>[];
}

/**
 * Checks and copies a presence value: `null` and `undefined` mean none;
 * anything else is structured-cloned (a `DataCloneError` if it cannot be),
 * limited to {@linkcode MAX_PRESENCE_BYTES}, and deep-frozen, so the copy
 * can be handed to every reader without another copy.
 *
 * @param value The record as given.
 * @param action What the caller does, for the error message.
 * @returns The frozen copy, or `null` for none.
 * @throws {RangeError} If the serialized value exceeds {@linkcode MAX_PRESENCE_BYTES}.
 * @throws {DOMException} `DataCloneError` if the value cannot be cloned.
 *
 * @example A frozen copy
 * ```ts
 * import { presenceValue } from "./presence.ts";
 * import assert from "node:assert/strict";
 *
 * const given = { name: "ann", tags: ["a"] };
 * const kept = presenceValue(given, "set presence") as typeof given;
 * given.name = "bob";
 * assert.equal(kept.name, "ann");
 * assert.ok(Object.isFrozen(kept.tags));
 * assert.equal(presenceValue(undefined, "set presence"), null);
 * assert.throws(() => presenceValue("x".repeat(2000), "set presence"), RangeError);
 * ```
 */
export function presenceValue(value: unknown, action: string): unknown {
  if (value === null || value === undefined) return null;
  return deepFreeze(decode(encodeWithin(value, MAX_PRESENCE_BYTES, action)));
}

/**
 * Whether two presence values (as {@linkcode presenceValue} returns them)
 * are the same record: the same reference, or the same serialized bytes.
 *
 * @example Usage
 * ```ts
 * import { samePresence } from "./presence.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(samePresence({ a: 1 }, { a: 1 }));
 * assert.ok(!samePresence({ a: 1 }, { a: 2 }));
 * assert.ok(!samePresence(null, { a: 1 }));
 * ```
 */
export function samePresence(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  const x = encodeWithin(a, Infinity, "compare presence");
  const y = encodeWithin(b, Infinity, "compare presence");
  if (x.byteLength !== y.byteLength) return false;
  for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return false;
  return true;
}

// Plain objects and arrays are frozen to the leaves; a Map, Set, Date or typed
// array cannot be made read-only by freezing, and is left as the clone made it.
function deepFreeze(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  const proto = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return value;
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}

/**
 * A class's `presence` option (`@durableObject({ presence })`, or a static
 * `presence` member on a class without decorators).
 *
 * @typeParam A The attachment's type.
 * @typeParam T The presence record's type.
 */
// deno-lint-ignore no-explicit-any
export interface PresenceOptions<A = any, T = any> {
  /**
   * Takes each socket's presence from its attachment whenever one is set
   * (also one set before the socket was accepted): the attachment's field
   * of that name, or what the function returns. `null` or `undefined`
   * means no presence.
   */
  readonly from?: string | ((attachment: A) => T | null | undefined);
  /**
   * Turns the list (oldest accepted first) and what changed into a message
   * that the framework itself sends to every socket of the object after
   * each turn with a change, with no instance: it runs while the object
   * hibernates. Return `null` or `undefined` to send nothing. It must not
   * keep state: it may run in any process that holds the sockets.
   */
  readonly message?: (
    list: readonly PresenceEntry<T>[],
    diff: PresenceDiff<T>,
  ) => BroadcastMessage | null | undefined;
}
