import type { Clock } from "../clock.ts";
import { sessionLogRoot, sessionRecordKey } from "../kv/keys.ts";
import { ACCEPTED_AT, ATTACHMENT, FAIL_UPGRADE, TAGS } from "../sockets/connection_internals.ts";
import { ENDED, type Payload, type Session, type SessionLogOwner } from "./session.ts";
import type { SessionSettings } from "./session_options.ts";

/** A KV write of a commit, with an upper bound of its size. */
export interface Mutation {
  readonly key: Deno.KvKey;
  /** `undefined`: a delete. */
  readonly value?: unknown;
  readonly bytes: number;
}

/** Something to do once a commit is durable, in order: release an entry, or a control step. */
export type AfterCommit = PendingEntry | (() => void);

/** A stored log entry: recipients as ranges of session numbers, time, payload (or its first part). */
export interface StoredEntry {
  /** `[first, last, first, last, …]` session numbers. */
  r: number[];
  /** When it was written (clock time). */
  t: number;
  /** The payload, or its first part. */
  p: Payload;
  /** How many parts (the others at `[…root, pos, i]`). */
  n: number;
}

/** A stored session record. */
export interface StoredSession {
  /** Token hash. */
  h: string;
  /** Tags. */
  t: readonly string[];
  /** Attachment. */
  a: Uint8Array | null;
  /** Accept time. */
  c: number;
  /** Base position and sequence number. */
  b: number;
  s: number;
  /** The object's name, if it was reached by one. */
  n: string | null;
}

// Parts of a payload too big for one KV value (64 KiB), and a cap on the recipients of one entry.
const PART_CHARS = 16_000; // ≤ 48,000 UTF-8 bytes
const PART_BYTES = 48_000;
const MAX_RANGE_NUMBERS = 1_000;

/** A message logged and not committed yet, with every session it goes to. */
export class PendingEntry {
  readonly payload: Payload;
  readonly ranges: number[] = [];
  readonly recipients: Session[] = [];
  readonly seqs: number[] = [];

  constructor(payload: Payload) {
    this.payload = payload;
  }

  /** Adds a recipient (its number extends the last range when it follows it). */
  add(session: Session, seq: number): void {
    const r = this.ranges;
    const n = r.length;
    if (n > 0 && r[n - 1] === session.no - 1) r[n - 1] = session.no;
    else r.push(session.no, session.no);
    this.recipients.push(session);
    this.seqs.push(seq);
  }

  /** Committed: hands the message to each recipient. */
  release(): void {
    const { payload, recipients, seqs } = this;
    for (let i = 0; i < recipients.length; i++) recipients[i]!.released(payload, seqs[i]!);
  }
}

interface Indexed {
  readonly pos: number;
  readonly bytes: number;
  readonly at: number;
  readonly ranges: number[];
  readonly parts: number;
}

/** What a log needs from the app-wide session manager. */
export interface LogManager {
  readonly settings: SessionSettings;
  readonly clock: Clock;
  /** The log has something to commit. */
  schedule(log: SessionLog): void;
}

/**
 * One object's replay log and sessions. Every message sent on a session
 * socket is appended (the same text sent to several sessions in a row is
 * one entry with several recipients), committed by the manager's next group
 * commit and only then released to the sockets. The oldest entries go once
 * a bound (count, bytes, age) is passed, down to 7/8 of it, in the same
 * commits; sessions that received trimmed entries get their base moved.
 */
export class SessionLog implements SessionLogOwner {
  readonly storageName: string;
  readonly hex: string;
  readonly root: Deno.KvKey;
  /** The object's name, if it was reached by one (kept with the records: ids of names survive). */
  name: string | null;
  readonly sessions: Map<number, Session> = new Map();
  readonly byHash: Map<string, Session> = new Map();
  nextNo = 1;
  nextPos = 1;
  readonly #manager: LogManager;
  #index: Indexed[] = [];
  #bytes = 0;
  #items: AfterCommit[] = [];
  #tail: PendingEntry | null = null;
  #records = new Set<Session>();

  constructor(manager: LogManager, storageName: string, hex: string, name: string | null) {
    this.#manager = manager;
    this.storageName = storageName;
    this.hex = hex;
    this.name = name;
    this.root = sessionLogRoot(storageName, hex);
  }

  /** Nothing to commit, no session, no entry: the log can be forgotten. */
  get empty(): boolean {
    return this.sessions.size === 0 && this.#items.length === 0 && this.#index.length === 0 &&
      this.#records.size === 0;
  }

  /** Adds a session (new, or restored from its record). */
  add(session: Session): void {
    this.sessions.set(session.no, session);
    this.byHash.set(session.hash, session);
    if (session.no >= this.nextNo) this.nextNo = session.no + 1;
  }

  append(session: Session, payload: Payload): void {
    const seq = ++session.seq;
    let tail = this.#tail;
    if (
      tail === null || tail.payload !== payload || session.lastEntry === tail ||
      tail.ranges.length >= MAX_RANGE_NUMBERS
    ) {
      this.#tail = tail = new PendingEntry(payload);
      if (this.#items.push(tail) === 1) this.#manager.schedule(this);
    }
    tail.add(session, seq);
    session.lastEntry = tail;
  }

  /** Runs `step` once everything appended so far is durable (before what is appended later). */
  control(step: () => void): void {
    this.#tail = null;
    if (this.#items.push(step) === 1) this.#manager.schedule(this);
  }

  /** The record of `session` is written (or deleted once ended) with the next commit. */
  markRecord(session: Session): void {
    this.#records.add(session);
    this.#manager.schedule(this);
  }

  detached(session: Session): void {
    const window = this.#manager.settings.resumeWindowMs;
    // The window's end closes the socket for good: webSocketClose(1006), once.
    session.timer = this.#manager.clock.setTimeout(() => session.ws[FAIL_UPGRADE](), window);
  }

  ended(session: Session): void {
    if (session.timer !== null) this.#manager.clock.clearTimeout(session.timer);
    session.timer = null;
    this.sessions.delete(session.no);
    this.byHash.delete(session.hash);
    this.markRecord(session);
  }

  /** Rebuilds the in-memory index from a stored entry (at start). */
  restoreEntry(pos: number, entry: StoredEntry, bytes: number): void {
    this.#index.push({ pos, bytes, at: entry.t, ranges: entry.r, parts: entry.n });
    this.#bytes += bytes;
    if (pos >= this.nextPos) this.nextPos = pos + 1;
  }

  /** Moves what waits into a commit: entries, session records, trims (deletes last). */
  collect(now: number, sets: Mutation[], deletes: Mutation[], after: AfterCommit[]): void {
    for (const item of this.#items) {
      after.push(item);
      if (typeof item === "function") continue;
      const pos = this.nextPos++;
      const parts = split(item.payload);
      let bytes = 0;
      for (const part of parts) bytes += typeof part === "string" ? part.length * 3 : part.length;
      sets.push({
        key: [...this.root, pos],
        value: { r: item.ranges, t: now, p: parts[0]!, n: parts.length } satisfies StoredEntry,
        bytes: 96 + item.ranges.length * 9 + (parts.length === 1 ? bytes : PART_BYTES),
      });
      for (let i = 1; i < parts.length; i++) {
        sets.push({ key: [...this.root, pos, i], value: parts[i], bytes: PART_BYTES + 64 });
      }
      this.#index.push({ pos, bytes, at: now, ranges: item.ranges, parts: parts.length });
      this.#bytes += bytes;
    }
    this.#items = [];
    this.#tail = null;
    this.#trim(now, deletes);
    for (const session of this.#records) {
      const key = sessionRecordKey(this.storageName, this.hex, session.no);
      if (session.state === ENDED) {
        deletes.push({ key, bytes: 64 });
        continue;
      }
      const ws = session.ws;
      const attachment = ws[ATTACHMENT];
      if (attachment !== undefined) session.attachment = attachment; // else unloaded: unchanged
      const record: StoredSession = {
        h: session.hash,
        t: ws[TAGS],
        a: session.attachment,
        c: ws[ACCEPTED_AT],
        b: session.basePos,
        s: session.baseSeq,
        n: this.name,
      };
      let tagBytes = 0;
      for (const tag of record.t) tagBytes += tag.length * 3 + 8;
      sets.push({ key, value: record, bytes: 160 + (record.a?.length ?? 0) + tagBytes });
    }
    this.#records.clear();
  }

  // Past a bound, the oldest entries go, down to 7/8 of every bound (all of them once no session
  // is left). A session that received a trimmed entry counts it into its base.
  #trim(now: number, deletes: Mutation[]): void {
    const index = this.#index;
    if (index.length === 0) return;
    const { maxMessages, maxBytes, maxAgeMs } = this.#manager.settings;
    const all = this.sessions.size === 0;
    if (
      !all && index.length <= maxMessages && this.#bytes <= maxBytes &&
      now - index[0]!.at <= maxAgeMs
    ) return;
    const keep = Math.floor(maxMessages * 7 / 8);
    let k = 0;
    while (
      k < index.length &&
      (all || index.length - k > keep || this.#bytes > maxBytes * 7 / 8 ||
        now - index[k]!.at > maxAgeMs * 7 / 8)
    ) {
      const entry = index[k++]!;
      this.#bytes -= entry.bytes;
      deletes.push({ key: [...this.root, entry.pos], bytes: 64 });
      for (let i = 1; i < entry.parts; i++) {
        deletes.push({ key: [...this.root, entry.pos, i], bytes: 64 });
      }
      const r = entry.ranges;
      for (let j = 0; j < r.length; j += 2) {
        for (let no = r[j]!; no <= r[j + 1]!; no++) {
          const session = this.sessions.get(no);
          if (session === undefined || entry.pos < session.basePos) continue;
          session.baseSeq++;
          this.#records.add(session);
        }
      }
    }
    index.splice(0, k);
    const first = index[0]?.pos ?? this.nextPos;
    for (const session of this.#records) if (session.basePos < first) session.basePos = first;
  }
}

/** Whether session `no` is in `ranges`. */
export function inRanges(ranges: readonly number[], no: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) {
    if (no >= ranges[i]! && no <= ranges[i + 1]!) return true;
  }
  return false;
}

function split(payload: Payload): Payload[] {
  const size = typeof payload === "string" ? PART_CHARS : PART_BYTES;
  if (payload.length <= size) return [payload];
  const parts: Payload[] = [];
  for (let i = 0; i < payload.length; i += size) parts.push(payload.slice(i, i + size));
  return parts;
}
