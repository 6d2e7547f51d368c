/**
 * Every Deno KV key the framework writes and every KV limit it packs its
 * commits to. All keys start with `"dormant"`:
 *
 * - `["dormant", "s", storageName, id, "d", keyBytes]`: a storage value, or its first 64 KiB
 * - `["dormant", "s", storageName, id, "c", keyHash]`: the rest of a storage value over 64 KiB
 * - `["dormant", "a", storageName, id]`: an object's alarm
 * - `["dormant", "ai", dueTime, storageName, id]`: the alarm index, in due order
 * - `["dormant", "h", storageName, id, "cfg"]`: an object's auto-response and event timeout
 * - `["dormant", "h", storageName, id, "ws", boot, sid]`: a socket record (tags, attachment)
 * - `["dormant", "h", storageName, id, "ts", boot, sid]`: a socket's last auto-response time
 * - `["dormant", "boot", boot]`: the lease of a running node (process start), `{ beat, expiresAt, pid, machine }`
 * - `["dormant", "own", storageName, id]`: an object's owner record, `{ node, epoch, released? }`
 * - `["dormant", "inbox", node, from, seq, chunk, chunks]`: a transport message waiting for `node`
 * - `["dormant", "bell", node]`: the doorbell `node` watches for new inbox messages
 * - `["dormant", "rs", storageName, id, n]`: resumable session `n` of an object (token hash, tags, …)
 * - `["dormant", "rl", storageName, id, pos]`: an object's replay log entry (`[…, pos, i]`: its parts)
 *
 * Storage names and ids, which every object key contains, are checked once
 * here: {@linkcode isStorageName}, {@linkcode isObjectId}.
 *
 * @module
 */

import { createHash } from "node:crypto";

// ---- KV limits ----------------------------------------------------------------------------------

/** Largest KV value, in bytes. */
export const KV_MAX_VALUE = 65_536;
/** Largest KV key of a write, encoded. */
export const KV_MAX_KEY = 2048;
/** Mutations per KV atomic. */
export const KV_MAX_MUTATIONS = 1000;
/** Total payload of a KV atomic (measured: set keys count twice, delete and check keys once, plus values). */
export const KV_MAX_PAYLOAD = 819_200;
/** Total size of the keys written (set) by a KV atomic. */
export const KV_MAX_KEY_TOTAL = 81_920;
/** Checks per KV atomic. */
export const KV_MAX_CHECKS = 100;
/** Keys per `kv.getMany()` call. */
export const KV_MAX_GET_MANY = 10;

// The write-behind flush of socket records estimates value sizes (an upper
// bound, not the serialized size), so it packs its atomics below KV's limits.

/** Mutations per atomic of the write-behind flush (900). */
export const FLUSH_MAX_MUTATIONS = KV_MAX_MUTATIONS - 100;
/** Estimated payload per atomic of the write-behind flush (700 KiB). */
export const FLUSH_MAX_PAYLOAD = KV_MAX_PAYLOAD - 100 * 1024;
/** Key bytes per atomic of the write-behind flush (64 KiB). */
export const FLUSH_MAX_KEY_TOTAL = KV_MAX_KEY_TOTAL - 16 * 1024;

// ---- key sizes ----------------------------------------------------------------------------------

/** Encoded size of a string key part: type tag, UTF-8 bytes (0x00 escaped as 2 bytes), terminator. */
function stringPartSize(part: string): number {
  let size = 2;
  for (let i = 0; i < part.length; i++) {
    const c = part.charCodeAt(i);
    if (c === 0) size += 2;
    else if (c < 0x80) size += 1;
    else if (c < 0x800) size += 2;
    else if (c >= 0xd800 && c < 0xdc00 && (part.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      size += 4; // a surrogate pair
      i++;
    } else size += 3; // a lone surrogate encodes as U+FFFD
  }
  return size;
}

/** Encoded size of a string or bytes key part: type tag, bytes (0x00 escaped as 2 bytes), terminator. */
export function keyPartSize(part: string | Uint8Array): number {
  if (typeof part === "string") return stringPartSize(part);
  let size = 2 + part.length;
  for (const b of part) if (b === 0) size++;
  return size;
}

/** Encoded size of a KV key made of strings, bytes and numbers (others are counted at KV's maximum). */
export function kvKeySize(key: Deno.KvKey): number {
  let size = 0;
  for (const part of key) {
    if (typeof part === "string" || part instanceof Uint8Array) size += keyPartSize(part);
    else if (typeof part === "number") size += 9;
    else return KV_MAX_KEY;
  }
  return size;
}

// ---- names and ids ------------------------------------------------------------------------------

const STORAGE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const OBJECT_ID = /^[0-9a-f]{64}$/;

/** Whether `value` is a storage name: 1–64 characters of `[A-Za-z0-9_-]`. */
export function isStorageName(value: unknown): value is string {
  return typeof value === "string" && STORAGE_NAME.test(value);
}

/** Whether `value` is an object id: 64 lowercase hex characters. */
export function isObjectId(value: unknown): value is string {
  return typeof value === "string" && OBJECT_ID.test(value);
}

// ---- storage ------------------------------------------------------------------------------------

// The continuation key holds a 22-character base64url hash of the user key
// (132 bits), not the key itself, so long keys do not cost twice.
const HASH_CHARS = 22;

/**
 * The keys of one object's storage, under `["dormant", "s", storageName, id]`.
 * User keys are stored as bytes so that KV's order is UTF-8 byte order and
 * prefixes become ranges. A value over 64 KiB is a head (its first 64 KiB)
 * and a continuation, written in one atomic.
 */
export class StorageKeys {
  /** `["dormant", "s", storageName, id]`. */
  readonly root: Deno.KvKey;
  /** Encoded size of every continuation key. */
  readonly contSize: number;
  readonly #headPrefix: Deno.KvKey;
  readonly #contPrefix: Deno.KvKey;
  readonly #headBase: number;

  constructor(storageName: string, id: string) {
    this.root = ["dormant", "s", storageName, id];
    this.#headPrefix = [...this.root, "d"];
    this.#contPrefix = [...this.root, "c"];
    const rootSize = kvKeySize(this.root);
    this.#headBase = rootSize + keyPartSize("d");
    this.contSize = rootSize + keyPartSize("c") + 2 + HASH_CHARS;
  }

  /** The head key of a user key. */
  head(keyBytes: Uint8Array): Deno.KvKey {
    return [...this.#headPrefix, keyBytes];
  }

  /** The continuation key of a user key. */
  cont(keyBytes: Uint8Array): Deno.KvKey {
    const hash = createHash("sha256").update(keyBytes).digest("base64url").slice(0, HASH_CHARS);
    return [...this.#contPrefix, hash];
  }

  /** Bounds of the head subspace, for range reads. */
  headBound(keyBytes: Uint8Array | null, side: "lower" | "upper"): Deno.KvKey {
    if (keyBytes !== null) return this.head(keyBytes);
    // Every head key part is bytes (type tag 0x01); a string part (0x02) sorts after all of them.
    return side === "lower" ? this.#headPrefix : [...this.#headPrefix, ""];
  }

  /** Encoded size of the head key of a user key. */
  headSize(keyBytes: Uint8Array): number {
    return this.#headBase + keyPartSize(keyBytes);
  }
}

// ---- alarms -------------------------------------------------------------------------------------

/** Prefix of the alarm index: `["dormant", "ai"]`. */
export const ALARM_INDEX_PREFIX: Deno.KvKey = ["dormant", "ai"];

/** `["dormant", "a", storageName, id]`: an object's alarm record. */
export function alarmKey(storageName: string, id: string): Deno.KvKey {
  return ["dormant", "a", storageName, id];
}

/** `["dormant", "ai", dueTime, storageName, id]`: the alarm's index entry, in due order. */
export function alarmIndexKey(dueTime: number, storageName: string, id: string): Deno.KvKey {
  return [...ALARM_INDEX_PREFIX, dueTime, storageName, id];
}

/** The alarm an index key names, or `null` if the key is malformed. */
export function parseAlarmIndexKey(
  key: Deno.KvKey,
): { dueTime: number; storageName: string; id: string } | null {
  const [, , dueTime, storageName, id] = key;
  if (typeof dueTime !== "number" || typeof storageName !== "string" || typeof id !== "string") {
    return null;
  }
  return { dueTime, storageName, id };
}

// ---- hibernation records and boot leases --------------------------------------------------------

/** Prefix of every object's hibernation records: `["dormant", "h"]`. */
export const HIBERNATION_PREFIX: readonly string[] = ["dormant", "h"];
/** Kind of a socket record key. */
export const SOCKET_RECORD = "ws";
/** Kind of an auto-response timestamp key. */
export const TIMESTAMP_RECORD = "ts";
/** Kind of an object's settings key. */
export const SETTINGS_RECORD = "cfg";

/** `["dormant", "h", storageName, id]`: one object's hibernation records. */
export function hibernationRoot(storageName: string, id: string): readonly string[] {
  return [...HIBERNATION_PREFIX, storageName, id];
}

/** `[...root, "ws", boot, sid]`: a socket's record. */
export function socketRecordKey(root: Deno.KvKey, boot: string, sid: string): Deno.KvKey {
  return [...root, SOCKET_RECORD, boot, sid];
}

/** `[...root, "ts", boot, sid]`: a socket's last auto-response time. */
export function timestampKey(root: Deno.KvKey, boot: string, sid: string): Deno.KvKey {
  return [...root, TIMESTAMP_RECORD, boot, sid];
}

/** `[...root, "cfg"]`: an object's auto-response and event timeout. */
export function settingsKey(root: Deno.KvKey): Deno.KvKey {
  return [...root, SETTINGS_RECORD];
}

/** The parts of a key under {@linkcode HIBERNATION_PREFIX}. */
export interface HibernationKey {
  /** `"ws"`, `"ts"` or `"cfg"`. */
  readonly kind: Deno.KvKeyPart | undefined;
  /** The boot that wrote a socket or timestamp record. */
  readonly boot: Deno.KvKeyPart | undefined;
  /** The socket id of a socket or timestamp record. */
  readonly sid: Deno.KvKeyPart | undefined;
}

/** Reads the kind, boot and socket id of a hibernation key. */
export function parseHibernationKey(key: Deno.KvKey): HibernationKey {
  // After the root ["dormant", "h", storageName, id].
  return { kind: key[4], boot: key[5], sid: key[6] };
}

/** Prefix of every boot lease: `["dormant", "boot"]`. */
export const BOOT_LEASE_PREFIX: Deno.KvKey = ["dormant", "boot"];

/** `["dormant", "boot", boot]`: the lease of a running process. */
export function bootLeaseKey(boot: string): Deno.KvKey {
  return [...BOOT_LEASE_PREFIX, boot];
}

/** The boot a lease key names. */
export function bootOfLeaseKey(key: Deno.KvKey): Deno.KvKeyPart | undefined {
  return key[2];
}

// ---- the KV transport ---------------------------------------------------------------------------

/** `["dormant", "inbox", node]`: the messages waiting for a node. */
export function inboxPrefix(node: string): Deno.KvKey {
  return ["dormant", "inbox", node];
}

/** `["dormant", "inbox", node, from, seq, chunk, chunks]`: one chunk of a message to `node`. */
export function inboxKey(
  node: string,
  from: string,
  seq: number,
  chunk: number,
  chunks: number,
): Deno.KvKey {
  return ["dormant", "inbox", node, from, seq, chunk, chunks];
}

/** `["dormant", "bell", node]`: bumped with every message to `node`, which watches it. */
export function bellKey(node: string): Deno.KvKey {
  return ["dormant", "bell", node];
}

// ---- resumable sessions -------------------------------------------------------------------------

/** `["dormant", "rs"]`: every object's session records (listed once at start). */
export const SESSION_RECORDS: Deno.KvKey = ["dormant", "rs"];

/** `["dormant", "rs", storageName, id, n]`: session `n` of an object. */
export function sessionRecordKey(storageName: string, id: string, n: number): Deno.KvKey {
  return ["dormant", "rs", storageName, id, n];
}

/** `["dormant", "rl", storageName, id]`: an object's replay log. */
export function sessionLogRoot(storageName: string, id: string): Deno.KvKey {
  return ["dormant", "rl", storageName, id];
}

// ---- ownership ----------------------------------------------------------------------------------

/** Prefix of every owner record: `["dormant", "own"]`. */
export const OWNER_PREFIX: Deno.KvKey = ["dormant", "own"];

/** `["dormant", "own", storageName, id]`: which node owns the object, and its epoch. */
export function ownerKey(storageName: string, id: string): Deno.KvKey {
  return [...OWNER_PREFIX, storageName, id];
}

/** Checks every fenced atomic spends on an owner record (one per object it writes). */
export const FENCE_CHECKS = 1;
