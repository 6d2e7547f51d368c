import type { AutoResponse } from "../sockets/auto_response.ts";
import {
  parseHibernationKey,
  SETTINGS_RECORD,
  SOCKET_RECORD,
  TIMESTAMP_RECORD,
} from "../kv/keys.ts";

/** Stored per socket under `socketRecordKey(root, boot, sid)`. */
export interface StoredSocket {
  /** Tags. */
  t: readonly string[];
  /** Serialized user attachment, or null. */
  a: Uint8Array | null;
  /** Accept time. */
  c: number;
  /** Presence record, absent for none. */
  p?: unknown;
}

/** Stored per object under `settingsKey(root)`. */
export interface StoredSettings {
  /** Auto-response `[request, response]`, or null. */
  ar: readonly [string, string] | null;
  /** Event timeout in ms, 0 = none. */
  et: number;
}

/** An object's per-object settings as the host holds them. */
export interface ObjectSettings {
  /** The auto-response, or `null`. */
  readonly autoResponse: AutoResponse | null;
  /** Event timeout in ms, 0 for none. */
  readonly eventTimeoutMs: number;
}

/** One socket's records, as read back: what another process needs to know of it. */
export interface SocketRecord {
  /** The process start (boot) that accepted the socket. */
  readonly boot: string;
  /** Socket id, unique within its boot. */
  readonly sid: string;
  /** Normalized tags. */
  readonly tags: readonly string[];
  /** When `acceptWebSocket()` ran (clock time). */
  readonly acceptedAt: number;
  /** Last auto-response match (clock time), 0 for never (or not yet written). */
  readonly autoResponseAt: number;
  /** The serialized attachment, or `null`. */
  readonly attachment: Uint8Array | null;
  /** The presence record, or `null`. */
  readonly presence: unknown;
}

/** Everything one object keeps in KV. */
export interface ObjectRecords {
  /** Its settings, `null` when never written. */
  readonly settings: ObjectSettings | null;
  /** Its sockets' records, by `${boot}/${sid}`; a timestamp without a socket record is skipped. */
  readonly sockets: ReadonlyMap<string, SocketRecord>;
}

/** The key of {@linkcode ObjectRecords.sockets} for a socket. */
export function socketRef(boot: string, sid: string): string {
  return `${boot}/${sid}`;
}

/** The stored form of a socket's record. */
export function storedSocket(
  tags: readonly string[],
  attachment: Uint8Array | null,
  acceptedAt: number,
  presence: unknown = null,
): StoredSocket {
  return presence === null
    ? { t: tags, a: attachment, c: acceptedAt }
    : { t: tags, a: attachment, c: acceptedAt, p: presence };
}

/** The stored form of an object's settings. */
export function storedSettings(settings: ObjectSettings): StoredSettings {
  const auto = settings.autoResponse;
  return { ar: auto === null ? null : [auto.request, auto.response], et: settings.eventTimeoutMs };
}

/**
 * Reads every record of one object (its settings, and the socket and
 * timestamp records of every boot) with a single `list` under `root`.
 */
export async function readObjectRecords(kv: Deno.Kv, root: Deno.KvKey): Promise<ObjectRecords> {
  let settings: ObjectSettings | null = null;
  const stored = new Map<string, { boot: string; sid: string; record: StoredSocket }>();
  const times = new Map<string, number>();
  for await (const entry of kv.list({ prefix: root }, { batchSize: 500 })) {
    const { kind, boot, sid } = parseHibernationKey(entry.key);
    if (kind === SETTINGS_RECORD) {
      const { ar, et } = entry.value as StoredSettings;
      settings = {
        autoResponse: ar === null ? null : Object.freeze({ request: ar[0], response: ar[1] }),
        eventTimeoutMs: et,
      };
    } else if (kind === SOCKET_RECORD) {
      const ref = socketRef(boot as string, sid as string);
      stored.set(ref, {
        boot: boot as string,
        sid: sid as string,
        record: entry.value as StoredSocket,
      });
    } else if (kind === TIMESTAMP_RECORD) {
      times.set(socketRef(boot as string, sid as string), entry.value as number);
    }
  }
  const sockets = new Map<string, SocketRecord>();
  for (const [ref, { boot, sid, record }] of stored) {
    sockets.set(ref, {
      boot,
      sid,
      tags: record.t,
      acceptedAt: record.c,
      autoResponseAt: times.get(ref) ?? 0,
      attachment: record.a,
      presence: record.p ?? null,
    });
  }
  return { settings, sockets };
}
