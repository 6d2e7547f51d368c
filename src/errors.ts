/**
 * The package's error family. Bad arguments throw the built-in `TypeError`
 * or `RangeError`; the classes here are for conditions callers are expected
 * to catch. Guards compare the `name` as well as the class, so they work
 * across two copies of the module.
 *
 * @module
 */

/**
 * Base class of every error the framework throws on purpose.
 *
 * @example Catch the whole family
 * ```ts
 * import { DormantError, ObjectResetError } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * const error: unknown = new ObjectResetError("event timeout");
 * assert.ok(error instanceof DormantError);
 * assert.equal((error as DormantError).code, "object_reset");
 * ```
 */
export class DormantError extends Error {
  /** A stable string code, safe to send to clients. */
  readonly code: string;

  /**
   * Creates the instance.
   *
   * @param message What went wrong.
   * @param code The stable code.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, code: string = "dormant_error", options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The object instance was discarded (event timeout, a `blockConcurrencyWhile`
 * callback that rejected or ran over 30 s, a failed storage write, or a failed
 * start); its `ctx` no longer works. The next event builds a fresh instance.
 *
 * @example Usage
 * ```ts
 * import { ObjectResetError } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new ObjectResetError("gone").code, "object_reset");
 * ```
 */
export class ObjectResetError extends DormantError {
  /**
   * Creates the instance.
   *
   * @param message Why the instance was discarded.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "object_reset", options);
  }
}

/**
 * A handler did not settle within the object's event timeout
 * (`setHibernatableWebSocketEventTimeout`).
 *
 * @example Usage
 * ```ts
 * import { EventTimeoutError } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * const error = new EventTimeoutError("webSocketMessage", 50);
 * assert.equal(error.timeoutMs, 50);
 * assert.equal(error.code, "event_timeout");
 * ```
 */
export class EventTimeoutError extends DormantError {
  /** The timeout that was exceeded, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * Creates the instance.
   *
   * @param operation The handler that ran too long.
   * @param timeoutMs The timeout in milliseconds.
   */
  constructor(operation: string, timeoutMs: number) {
    super(
      `Cannot finish ${operation} as it exceeded the event timeout: limit is ${timeoutMs} ms`,
      "event_timeout",
    );
    this.timeoutMs = timeoutMs;
  }
}

/**
 * `acceptWebSocket()` was called on an object that already holds the
 * maximum number of sockets. The router closes such a socket with 1013.
 *
 * @example Usage
 * ```ts
 * import { ObjectFullError } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new ObjectFullError(32_768).limit, 32_768);
 * ```
 */
export class ObjectFullError extends DormantError {
  /** The per-object socket limit. */
  readonly limit: number;

  /**
   * Creates the instance.
   *
   * @param limit The per-object socket limit.
   */
  constructor(limit: number) {
    super(
      `Cannot accept WebSocket as the object holds the maximum number of sockets: limit is ${limit}`,
      "object_full",
    );
    this.limit = limit;
  }
}

/**
 * A Deno KV operation failed after its retries.
 *
 * @example Usage
 * ```ts
 * import { KvError } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * const error = new KvError("flush", new Error("database is locked"));
 * assert.equal(error.code, "kv_error");
 * assert.match(error.message, /database is locked/);
 * ```
 */
export class KvError extends DormantError {
  /**
   * Creates the instance.
   *
   * @param operation The KV operation that failed.
   * @param cause The underlying error.
   */
  constructor(operation: string, cause: unknown) {
    super(
      `Cannot complete KV ${operation}: ${cause instanceof Error ? cause.message : String(cause)}`,
      "kv_error",
      { cause },
    );
  }
}

/**
 * A commit was refused because this node no longer owns the object (its
 * owner record moved to another node, or this node's lease lapsed): the
 * write was fenced and nothing of it was stored. The node steps down for the
 * object: its instance is dropped and its sockets are closed with 1012.
 *
 * @example Usage
 * ```ts
 * import { ObjectMovedError } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * const error = new ObjectMovedError("ROOM", "a".repeat(64));
 * assert.equal(error.code, "object_moved");
 * assert.match(error.message, /no longer owns/);
 * ```
 */
export class ObjectMovedError extends DormantError {
  /**
   * Creates the instance.
   *
   * @param storageName The object's storage name.
   * @param id The object's id (hex).
   */
  constructor(storageName: string, id: string) {
    super(
      `Cannot commit to object ${storageName}/${id} as this node no longer owns it: the write was fenced (another node took the object over); the object runs there now`,
      "object_moved",
    );
  }
}

/**
 * An event reached a node that does not own the object while another live
 * node does, and no transport is configured to route it there (or the
 * transport cannot reach that node: `BroadcastChannel` links only the
 * isolates of one process, and the owner runs in another). The gateway
 * answers 503. Fix: give every node the same `cluster.transport`, or route
 * each object's requests to one process.
 *
 * @example Usage
 * ```ts
 * import { ObjectElsewhereError } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * const error = new ObjectElsewhereError("ROOM", "a".repeat(64), "n1");
 * assert.equal(error.code, "owned_elsewhere");
 * assert.equal(error.node, "n1");
 * ```
 */
export class ObjectElsewhereError extends DormantError {
  /** The node that owns the object. */
  readonly node: string;

  /**
   * Creates the instance.
   *
   * @param storageName The object's storage name.
   * @param id The object's id (hex).
   * @param node The node that owns it.
   * @param unreachable Why the configured transport cannot reach that node
   *   (absent: no transport is configured).
   */
  constructor(storageName: string, id: string, node: string, unreachable?: string) {
    super(
      unreachable === undefined
        ? `Cannot run object ${storageName}/${id} here as it is owned by another node and no transport is configured: owner is node ${node}; set cluster.transport on every node so events reach the owner`
        : `Cannot run object ${storageName}/${id} here as it is owned by node ${node}, which this node's transport cannot reach (${unreachable}): configure a Redis or KV transport (cluster.transport) on every node so events reach the owner`,
      "owned_elsewhere",
    );
    this.node = node;
  }
}

/**
 * The object is owned by another node that this node cannot reach: no
 * transport is configured, the owner did not answer in time (after one
 * re-resolve), or the transport is down. The gateway answers 503.
 *
 * @example Usage
 * ```ts
 * import { OwnerUnavailableError } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * const error = new OwnerUnavailableError("ROOM", "node-b", "no transport is configured");
 * assert.equal(error.code, "owner_unavailable");
 * assert.equal(error.node, "node-b");
 * ```
 */
export class OwnerUnavailableError extends DormantError {
  /** The node that owns the object. */
  readonly node: string;

  /**
   * Creates the instance.
   *
   * @param namespace The object's binding name.
   * @param node The owning node.
   * @param why Why it cannot be reached, with the fix.
   */
  constructor(namespace: string, node: string, why: string) {
    super(
      `Cannot reach the ${namespace} object as node ${node} owns it and ${why}`,
      "owner_unavailable",
    );
    this.node = node;
  }
}

/**
 * Tells whether `value` is one of the package's errors, also across module copies.
 *
 * @param value Anything caught.
 * @returns `true` for a {@linkcode DormantError} or a subclass.
 *
 * @example Usage
 * ```ts
 * import { isDormantError, ObjectFullError } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isDormantError(new ObjectFullError(1)));
 * assert.ok(!isDormantError(new Error("x")));
 * ```
 */
export function isDormantError(value: unknown): value is DormantError {
  if (value instanceof DormantError) return true;
  return value instanceof Error && typeof (value as { code?: unknown }).code === "string" &&
    [
      "DormantError",
      "ObjectResetError",
      "EventTimeoutError",
      "ObjectFullError",
      "KvError",
      "ObjectMovedError",
      "ObjectElsewhereError",
    ].includes(value.name);
}
