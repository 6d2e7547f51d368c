/**
 * Reading the replay log back: the messages a resuming session missed, and
 * at start the sessions an earlier run left detached (after a crash or a
 * deploy), listed again in their objects and logging from now on.
 *
 * @module
 */

import { SESSION_RECORDS } from "../kv/keys.ts";
import { Connection } from "../sockets/connection.ts";
import {
  LOAD_ATTACHMENT,
  PRESENCE,
  SESSION,
  UNLOAD_ATTACHMENT,
} from "../sockets/connection_internals.ts";
import { DETACHED, type Payload, Session } from "./session.ts";
import { inRanges, type SessionLog, type StoredEntry, type StoredSession } from "./session_log.ts";
import type { SessionObject } from "./session_manager.ts";

/** Where restored sessions go: the objects of the registered classes. */
export interface SessionObjects {
  /** The object of a stored session (made if needed); `undefined` if its class is not registered. */
  host(storageName: string, hex: string, name: string | null): SessionObject | undefined;
  /** Lists a restored socket in its object, as accepted with these tags at that time. */
  restoreSocket(host: SessionObject, ws: Connection, tags: readonly string[], at: number): void;
}

/**
 * The messages of `session` after sequence number `seq` up to its snapshot,
 * in order, or `null` when the log no longer has all of them.
 */
export async function readLog(
  kv: Deno.Kv,
  log: SessionLog,
  session: Session,
  seq: number,
): Promise<Payload[] | null> {
  let count = session.baseSeq;
  if (seq < count) return null;
  const depth = log.root.length + 1;
  const out: Payload[] = [];
  let parts: Payload[] | null = null;
  let missing = 0;
  const entries = kv.list<StoredEntry | Payload>(
    { prefix: log.root, start: [...log.root, session.basePos] },
    { batchSize: 1000 },
  );
  for await (const entry of entries) {
    if (entry.key.length !== depth) { // a part of the entry before
      if (parts !== null) {
        parts.push(entry.value as Payload);
        if (--missing === 0) out.push(join(parts)), parts = null;
      }
      continue;
    }
    if (count >= session.snapshot) break;
    const stored = entry.value as StoredEntry;
    if (!inRanges(stored.r, session.no)) continue;
    if (++count <= seq) continue;
    if (stored.n === 1) out.push(stored.p);
    else (parts = [stored.p]), missing = stored.n - 1;
  }
  return count === session.snapshot && parts === null ? out : null;
}

function join(parts: Payload[]): Payload {
  if (typeof parts[0] === "string") return parts.join("");
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts as Uint8Array[]) out.set(part, at), at += part.length;
  return out;
}

/**
 * Lists every stored session again in its object, detached (their resume
 * window starts now), with its sequence number counted from the log.
 */
export async function restoreSessions(
  kv: Deno.Kv,
  objects: SessionObjects,
  logOf: (host: SessionObject) => SessionLog,
): Promise<number> {
  const groups = new Map<string, [storageName: string, hex: string, [number, StoredSession][]]>();
  for await (const entry of kv.list<StoredSession>({ prefix: SESSION_RECORDS })) {
    const [, , storageName, hex, no] = entry.key as [string, string, string, string, number];
    const ref = `${storageName}/${hex}`;
    let group = groups.get(ref);
    if (group === undefined) groups.set(ref, group = [storageName, hex, []]);
    group[2].push([no, entry.value]);
  }
  let restored = 0;
  for (const [storageName, hex, records] of groups.values()) {
    const name = records.find(([, record]) => record.n !== null)?.[1].n ?? null;
    const host = objects.host(storageName, hex, name);
    if (host === undefined) continue; // its class is no longer registered: left as it is
    const log = logOf(host);
    const sessions: Session[] = [];
    for (const [no, record] of records) {
      const ws = new Connection();
      objects.restoreSocket(host, ws, record.t, record.c);
      ws[UNLOAD_ATTACHMENT]();
      ws[LOAD_ATTACHMENT](record.a);
      ws[PRESENCE] = presenceOf(host, ws); // the member list holds it again: no join, no event
      const session = new Session(log, no, record.h, ws, record.b);
      session.seq = session.baseSeq = record.s;
      session.attachment = record.a;
      session.state = DETACHED;
      ws[SESSION] = session;
      log.add(session);
      sessions.push(session);
      if (record.b > log.nextPos) log.nextPos = record.b;
    }
    const depth = log.root.length + 1;
    for await (const entry of kv.list<StoredEntry>({ prefix: log.root }, { batchSize: 1000 })) {
      if (entry.key.length !== depth) continue;
      const pos = entry.key[depth - 1] as number;
      const stored = entry.value;
      const size = typeof stored.p === "string" ? stored.p.length * 3 : stored.p.length;
      log.restoreEntry(pos, stored, size * stored.n);
      for (const session of sessions) {
        if (pos >= session.basePos && inRanges(stored.r, session.no)) session.seq++;
      }
    }
    for (const session of sessions) log.detached(session);
    restored += sessions.length;
  }
  return restored;
}

function presenceOf(host: SessionObject, ws: Connection): unknown {
  try {
    return host.presences?.initial(ws) ?? null;
  } catch {
    return null; // an attachment the class no longer derives a valid record from
  }
}
