import { createHash } from "node:crypto";
import { type Clock, type ClockTimer, delay } from "../clock.ts";
import type { Fence } from "../kv/fence.ts";
import {
  KV_MAX_CHECKS,
  KV_MAX_KEY_TOTAL,
  KV_MAX_MUTATIONS,
  KV_MAX_PAYLOAD,
  kvKeySize,
} from "../kv/keys.ts";
import type { Connection } from "../sockets/connection.ts";
import {
  DETACH,
  FAIL_UPGRADE,
  PLAIN,
  RELEASE,
  SESSION,
  TAKE_QUEUED,
} from "../sockets/connection_internals.ts";
import { type HelloCode, helloFrame, REPLACED_CLOSE } from "./resume_protocol.ts";
import { ATTACHED, DETACHED, ENDED, type Payload, RESUMING, Session } from "./session.ts";
import { type AfterCommit, type Mutation, SessionLog } from "./session_log.ts";
import type { SessionSettings } from "./session_options.ts";
import { commitLogs, type LogMutation } from "./_fenced_commit.ts";
import { readLog, restoreSessions, type SessionObjects } from "./session_restore.ts";

/** The object a session belongs to, as the manager sees it (an object host). */
export interface SessionObject {
  readonly runtime: { readonly storageName: string };
  readonly hex: string;
  readonly id: { readonly name?: string };
  /** The presence a socket's attachment gives (restored sockets get theirs back silently). */
  readonly presences?: { initial(ws: Connection): unknown };
}

/** A resume that found its session and read what it missed; `start` once the socket is bound. */
export interface Resumed {
  readonly ws: Connection;
  /** Sends the hello, the missed messages and what came since, in order; then live traffic. */
  start(): void;
}

/** Options of {@linkcode SessionManager}. */
export interface SessionManagerOptions {
  readonly settings: SessionSettings;
  readonly clock: Clock;
  /** Where restored sessions go. */
  readonly objects: SessionObjects;
  report(error: unknown, operation: string): void;
}

// The atomics of a log commit stay below KV's limits (sizes are upper bounds).
const MAX_MUTATIONS = KV_MAX_MUTATIONS - 100;
const MAX_PAYLOAD = KV_MAX_PAYLOAD - 100 * 1024;
const MAX_KEYS = KV_MAX_KEY_TOTAL - 16 * 1024;
// Objects per atomic: each costs one fence check.
const MAX_OBJECTS = KV_MAX_CHECKS - 10;

/**
 * Every object's replay log, committed together: one commit takes what all
 * logs appended since the last one (group commit), and the messages are
 * released to their sockets only once it is durable, so a message any
 * client saw is in the log. Resumes, new sessions and the restore of
 * detached sessions after a restart go through here.
 */
export class SessionManager {
  readonly settings: SessionSettings;
  readonly clock: Clock;
  readonly #objects: SessionObjects;
  #onCommit: (mutations: number) => void = () => {};
  readonly #report: (error: unknown, operation: string) => void;
  #kv: Deno.Kv | null = null;
  #fence: Fence | undefined;
  // By `storageName/hex`, not by host: a host made again for the object finds the same log.
  readonly #logs = new Map<string, SessionLog>();
  #dirty = new Set<SessionLog>();
  #scheduled = false;
  #running = false;
  #timer: ClockTimer | null = null;
  #cycle = 0;
  #done = 0;
  #waiters: { cycle: number; resolve: () => void }[] = [];
  #stopped = false;

  constructor(options: SessionManagerOptions) {
    this.settings = options.settings;
    this.clock = options.clock;
    this.#objects = options.objects;
    this.#report = options.report;
  }

  /** Opens on KV and restores the detached sessions of an earlier run (they keep logging). */
  async start(kv: Deno.Kv, onCommit: (mutations: number) => void, fence?: Fence): Promise<void> {
    this.#onCommit = onCommit;
    this.#fence = fence;
    await restoreSessions(kv, this.#objects, (host) => this.#logOf(host));
    this.#kv = kv;
  }

  #logOf(host: SessionObject): SessionLog {
    const key = `${host.runtime.storageName}/${host.hex}`;
    let log = this.#logs.get(key);
    if (log === undefined) {
      log = new SessionLog(this, host.runtime.storageName, host.hex, host.id.name ?? null);
      this.#logs.set(key, log);
    }
    return log;
  }

  /**
   * Makes `ws` (just accepted by `host`, not bound yet) a resumable socket:
   * a token, a record, and its queued messages logged. The hello goes out
   * once the record is durable. False when `ws` cannot have a session.
   */
  open(host: SessionObject, ws: Connection, code: HelloCode): boolean {
    if (this.#kv === null || ws[PLAIN] || ws.readyState !== 1 || ws[SESSION] !== null) return false;
    const log = this.#logOf(host);
    log.name ??= host.id.name ?? null;
    const token = randomToken();
    const session = new Session(log, log.nextNo, hashToken(token), ws, log.nextPos);
    log.add(session);
    log.markRecord(session);
    log.control(() => {
      if (session.state === ATTACHED) ws[RELEASE](helloFrame(code, token, 0));
    });
    const queued = ws[TAKE_QUEUED]();
    ws[SESSION] = session;
    for (const message of queued) session.send(message as string);
    return true;
  }

  /**
   * Finds the session of `token` in `host` and reads what it missed after
   * `seq`: a {@linkcode Resumed}, or why not (`"unknown"`, `"too_old"`, or
   * `"busy"` while another resume of it runs).
   */
  async resume(
    host: SessionObject,
    token: string,
    seq: number,
  ): Promise<Resumed | "unknown" | "too_old" | "busy"> {
    const log = this.#logs.get(`${host.runtime.storageName}/${host.hex}`);
    const session = log?.byHash.get(hashToken(token));
    if (log === undefined || session === undefined || session.state === ENDED) return "unknown";
    if (session.state === RESUMING) return "busy";
    if (session.state === ATTACHED) {
      // The old connection may be half-open: the newest one wins.
      session.state = DETACHED;
      session.ws[DETACH](REPLACED_CLOSE, "Session resumed by another connection");
    }
    if (session.timer !== null) this.clock.clearTimeout(session.timer);
    session.timer = null;
    session.state = RESUMING;
    session.snapshot = session.seq;
    session.held = [];
    let missed: Payload[] | null = [];
    try {
      await this.flushed();
      if (seq !== session.snapshot) {
        missed = seq > session.snapshot ? null : await readLog(this.#kv!, log, session, seq);
      }
    } catch (error) {
      this.#report(error, "session.resume");
      missed = null;
    }
    if (session.state !== RESUMING) return "unknown"; // closed meanwhile
    if (missed === null) {
      session.ws[FAIL_UPGRADE](); // the session ends: webSocketClose(1006)
      return seq > session.snapshot ? "unknown" : "too_old";
    }
    const replay = missed;
    // A failed upgrade ends the session (the gateway's bind closes the socket): start is a no-op then.
    return {
      ws: session.ws,
      start: () => {
        if (session.state !== RESUMING) return;
        const ws = session.ws;
        ws[RELEASE](helloFrame("resumed", token, seq));
        for (const payload of replay) ws[RELEASE](payload);
        for (const payload of session.held) ws[RELEASE](payload);
        session.held = [];
        session.state = ATTACHED;
      },
    };
  }

  /** Resolves once everything logged so far is durable. */
  flushed(): Promise<void> {
    if (!this.#running && !this.#scheduled) return Promise.resolve();
    const cycle = this.#running && this.#dirty.size === 0 ? this.#cycle : this.#cycle + 1;
    return new Promise((resolve) => this.#waiters.push({ cycle, resolve }));
  }

  /** A log has something to commit. */
  schedule(log: SessionLog): void {
    this.#dirty.add(log);
    if (this.#scheduled || this.#running || this.#stopped) return;
    this.#scheduled = true;
    const delay = this.settings.commitDelayMs;
    const run = () => void this.#run().catch((error) => this.#report(error, "session.log"));
    if (delay > 0) this.#timer = this.clock.setTimeout(run, delay);
    else queueMicrotask(run);
  }

  async #run(): Promise<void> {
    this.#scheduled = false;
    this.#timer = null;
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#dirty.size > 0 && this.#kv !== null) {
        const logs = [...this.#dirty];
        this.#dirty.clear();
        const cycle = ++this.#cycle;
        const sets: LogMutation<SessionLog>[] = [];
        const deletes: LogMutation<SessionLog>[] = [];
        const afters: [SessionLog, AfterCommit[]][] = [];
        const now = this.clock.now();
        for (const log of logs) {
          const after: AfterCommit[] = [];
          const s: Mutation[] = [];
          const d: Mutation[] = [];
          log.collect(now, s, d, after);
          for (const m of s) sets.push({ ...m, log });
          for (const m of d) deletes.push({ ...m, log });
          afters.push([log, after]);
        }
        const failed = await this.#commit(sets.concat(deletes));
        this.#done = cycle;
        for (const [log, after] of afters) {
          const ok = failed !== "all" && !failed.has(log);
          for (const item of after) {
            if (typeof item === "function") item();
            else if (ok) item.release();
            else for (const session of item.recipients) lost(session);
          }
        }
        for (const log of logs) if (log.empty) this.#forget(log);
        this.#wake();
      }
    } finally {
      this.#running = false;
      this.#done = this.#cycle;
      this.#wake();
    }
  }

  #wake(): void {
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) {
      if (waiter.cycle <= this.#done) waiter.resolve();
      else this.#waiters.push(waiter);
    }
  }

  #forget(log: SessionLog): void {
    this.#logs.delete(`${log.storageName}/${log.hex}`);
  }

  // Packs the mutations into atomics within KV's limits (and one fence check per object), committed
  // in order. Transient errors are retried; a lasting one is reported ("all": nothing more was
  // logged). Resolves to the logs whose object this node no longer owns (their writes dropped).
  async #commit(mutations: LogMutation<SessionLog>[]): Promise<Set<SessionLog> | "all"> {
    const fenced = new Set<SessionLog>();
    let start = 0;
    while (start < mutations.length) {
      let end = start;
      let bytes = 0;
      let keys = 0;
      const logs = new Set<SessionLog>();
      while (end < mutations.length && end - start < MAX_MUTATIONS) {
        const m = mutations[end]!;
        const size = kvKeySize(m.key);
        if (end > start && (bytes + m.bytes + size > MAX_PAYLOAD || keys + size > MAX_KEYS)) break;
        if (!logs.has(m.log) && logs.size >= MAX_OBJECTS) break;
        bytes += m.bytes + size;
        keys += size;
        logs.add(m.log);
        end++;
      }
      const batch = mutations.slice(start, end).filter((m) => !fenced.has(m.log));
      const kept = new Set([...logs].filter((log) => !fenced.has(log)));
      try {
        const written = await commitLogs(this.#kv!, this.#fence, batch, kept);
        if (written > 0) this.#onCommit(written);
      } catch (error) {
        this.#report(error, "session.log");
        return "all";
      }
      for (const log of logs) if (!kept.has(log)) fenced.add(log);
      start = end;
    }
    return fenced;
  }

  /** Writes what waits and stops the resume windows (shutdown: the sessions stay in KV). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#running && this.#dirty.size > 0) void this.#run();
    while (this.#running) await delay(1);
    for (const log of this.#logs.values()) {
      for (const session of log.sessions.values()) {
        if (session.timer !== null) this.clock.clearTimeout(session.timer);
        session.timer = null;
      }
    }
    this.#kv = null;
  }
}

/** Messages that could not be logged: the session's client must start over. */
function lost(session: Session): void {
  if (session.state === ENDED) return;
  try {
    session.ws.close(1011, "Session log write failed");
  } catch {
    // already closing
  }
}

/** 32 random bytes, base64url. */
function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** What a session record keeps of its token. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}
