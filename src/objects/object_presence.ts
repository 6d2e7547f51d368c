import type { Connection } from "../sockets/connection.ts";
import { RECORD } from "../sockets/connection_owner.ts";
import type { PresenceHook } from "../sockets/connection_owner.ts";
import { ATTACHMENT, CONNECTION_ID, PRESENCE } from "../sockets/connection_internals.ts";
import { decodeAttachment } from "../sockets/attachment.ts";
import { type BroadcastPayload, broadcastPayload } from "../sockets/broadcast.ts";
import {
  type PresenceDiff,
  type PresenceEntry,
  presenceValue,
  samePresence,
} from "../sockets/presence.ts";
import type { PresenceConfig } from "./presence_config.ts";
import type { SocketPresences } from "./object_sockets.ts";

/** What an object's presence needs of its host; implemented by `ObjectHost`. */
export interface PresenceTarget {
  /** The class: its presence option and its `@onPresence` / `webSocketPresence` handler. */
  readonly runtime: {
    readonly presence?: PresenceConfig | null;
    readonly handlers: { readonly presence?: (this: object, diff: PresenceDiff) => unknown };
  };
  /** Runs the handler in the event order (waking the object). */
  readonly queue: {
    run<T>(operation: string, fn: (instance: object) => T | Promise<T>): Promise<Awaited<T>>;
  };
  /** The open hibernatable sockets (oldest first), and sending to all of them. */
  readonly sockets: {
    list(): readonly Connection[];
    broadcast(payload: BroadcastPayload): number;
    /** Hibernatable sockets not gone yet. */
    readonly live: number;
  };
  /** Arms the idle timer when nothing keeps the object busy. */
  checkIdle(): void;
  /** Whether the app shut down: nothing is delivered any more. */
  readonly disposed: boolean;
  /** The socket's record changed: written behind with the next flush. */
  onDirty(ws: Connection, what: number): void;
  report(error: unknown, operation: string): void;
}

/**
 * The presence of one object's sockets: each record lives on its socket
 * (beside its tags), so the list is read with no instance and no KV read.
 * Changes of one turn are coalesced into one diff, delivered after the turn
 * to the class's presence message (sent by the framework, no instance) and
 * to its `@onPresence` handler (which wakes the object).
 */
export class ObjectPresence implements PresenceHook, SocketPresences {
  readonly #target: PresenceTarget;
  #derive: ((attachment: unknown) => unknown) | null | undefined;
  // Sockets changed this turn, with the record each had before its first change.
  #before: Map<Connection, unknown> | null = null;

  /** `target` is read from lazily: the host makes its presence before the rest of itself. */
  constructor(target: PresenceTarget) {
    this.#target = target;
  }

  /** The attachment's presence, checked and frozen; `null` when the class derives none. */
  get derive(): ((attachment: unknown) => unknown) | null {
    if (this.#derive !== undefined) return this.#derive;
    const from = this.#target.runtime.presence?.from ?? null;
    return this.#derive = from === null
      ? null
      : (attachment) => presenceValue(from(attachment), "take presence from the attachment");
  }

  /** The list for a reader outside the object (the endpoint's `presence()`): never wakes it. */
  read(): Promise<PresenceEntry[]> {
    const list = this.list();
    // Located only for this (no socket, no event): the idle timer drops it again.
    if (this.#target.sockets.live === 0) this.#target.checkIdle();
    return Promise.resolve(list);
  }

  /** The presence of an attachment set before accept (checked; `null` for none). */
  initial(ws: Connection): unknown {
    const bytes = ws[ATTACHMENT];
    const derive = this.derive;
    if (derive === null || !bytes) return null;
    return derive(decodeAttachment(bytes));
  }

  /** Sets an open socket's presence (checked and frozen); unchanged records change nothing. */
  set(ws: Connection, value: unknown): void {
    if (ws.readyState !== 1 || samePresence(ws[PRESENCE], value)) return;
    this.#touch(ws);
    ws[PRESENCE] = value;
    this.#target.onDirty(ws, RECORD);
  }

  /** `ws` stopped being open: it leaves with the record it had. */
  left(ws: Connection): void {
    if (ws[PRESENCE] !== null) this.#touch(ws);
  }

  /** Every open socket's presence, oldest accepted first. */
  list(): PresenceEntry[] {
    const out: PresenceEntry[] = [];
    for (const ws of this.#target.sockets.list()) {
      const value = ws[PRESENCE];
      if (value !== null) out.push({ id: ws[CONNECTION_ID], value });
    }
    return out;
  }

  #touch(ws: Connection): void {
    let before = this.#before;
    if (before === null) {
      before = this.#before = new Map();
      // One diff per turn: what a handler, a connect or a burst of closes changed together.
      queueMicrotask(() => this.#flush());
    }
    if (!before.has(ws)) before.set(ws, ws[PRESENCE]);
  }

  #flush(): void {
    const before = this.#before!;
    this.#before = null;
    const target = this.#target;
    if (target.disposed) return;
    const joins: PresenceEntry[] = [];
    const leaves: PresenceEntry[] = [];
    const updates: PresenceEntry[] = [];
    for (const [ws, old] of before) {
      const now = ws.readyState === 1 ? ws[PRESENCE] : null;
      if (old === null) {
        if (now !== null) joins.push({ id: ws[CONNECTION_ID], value: now });
      } else if (now === null) leaves.push({ id: ws[CONNECTION_ID], value: old });
      else if (!samePresence(old, now)) updates.push({ id: ws[CONNECTION_ID], value: now });
    }
    if (joins.length + leaves.length + updates.length === 0) return;
    const diff: PresenceDiff = Object.freeze({ joins, leaves, updates });
    const message = target.runtime.presence?.message ?? null;
    if (message !== null) {
      try {
        const out = message(this.list(), diff);
        if (out !== null && out !== undefined) target.sockets.broadcast(broadcastPayload(out));
      } catch (error) {
        target.report(error, "presence.message");
      }
    }
    const handler = target.runtime.handlers.presence;
    if (handler === undefined) return;
    target.queue.run("webSocketPresence", (instance) => handler.call(instance, diff))
      .catch((error) => target.report(error, "webSocketPresence"));
  }
}
