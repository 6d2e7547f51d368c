import type { Clock } from "../clock.ts";
import { ObjectElsewhereError } from "../errors.ts";
import { hibernationRoot } from "../kv/keys.ts";
import type { BroadcastPayload } from "../sockets/broadcast.ts";
import type { Connection } from "../sockets/connection.ts";
import type { ConnectionOwner } from "../sockets/connection_owner.ts";
import { OWNER, PLAIN, SESSION } from "../sockets/connection_internals.ts";
import type { ObjectSocketList } from "../sockets/socket_registry.ts";
import type { ObjectStorage } from "../storage/object_storage.ts";
import type { AlarmInvocationInfo } from "../types.ts";
import { recordAccept } from "./binding_scope.ts";
import { checkInstance } from "./class_definition.ts";
import type { AppRuntime, ClassRuntime } from "./class_runtime.ts";
import { EventQueue, type QueueOwner } from "./event_queue.ts";
import { blockConcurrency, OutputGate, type StorageGateTarget, storageHooks } from "./gates.ts";
import { Generation, type GenerationOwner } from "./generation.ts";
import { IdleTimer } from "./idle_timer.ts";
import {
  broadcastFromOutside,
  callMethod,
  type CallTarget,
  connectObject,
  deliverAlarm,
  fetchObject,
} from "./object_calls.ts";
import type { EndpointBroadcastOptions, ObjectEndpoint } from "./object_directory.ts";
import type { ObjectId } from "./object_id.ts";
import { ObjectSettings } from "./object_settings.ts";
import { ObjectSockets } from "./object_sockets.ts";
import { ObjectState, type StateHost } from "./object_state.ts";
import { ObjectPresence } from "./object_presence.ts";
import type { PresenceEntry } from "../sockets/presence.ts";
import type { AutoResponse } from "../sockets/auto_response.ts";
import type { PersistedObject, PersistedSettings } from "./persisted_object.ts";

/** Lifecycle of the instance. */
export type HostStatus = "hibernated" | "waking" | "active";

/** Why an object is not hibernating. */
export type Blocker =
  | "event"
  | "request"
  | "waitUntil"
  | "blockConcurrencyWhile"
  | "storage"
  | "starting"
  | "queued"
  | "hibernation disabled"
  | "non-hibernatable socket";

/** Counters of one object, for stats. */
export interface HostCounters {
  /** Open hibernatable sockets. */
  readonly sockets: number;
  /** Events that arrived (messages, closes, errors, requests, calls, alarms). */
  readonly events: number;
  /** Instances built (first use and every wake). */
  readonly wakes: number;
  /** Times the instance was dropped for idleness. */
  readonly hibernations: number;
  /** KV commits that carried this object's data. */
  readonly kvCommits: number;
}

/** Each reason an object stays awake, and whether it holds now; one statement of "busy". */
const BLOCKERS: readonly (readonly [Blocker, (host: ObjectHost) => boolean])[] = [
  ["starting", (h) => h.status === "waking"],
  // A dead generation's counts are what its abandoned work left behind: they hold nothing.
  ["event", (h) => !h.generation.dead && h.generation.inflight > 0],
  ["request", (h) => h.queue.requests > 0],
  ["waitUntil", (h) => h.idle.waiting > 0],
  ["blockConcurrencyWhile", (h) => !h.generation.dead && h.generation.blocking > 0],
  ["storage", (h) => !h.generation.dead && h.generation.storageOps > 0],
  ["queued", (h) => !h.queue.empty],
  ["hibernation disabled", (h) => !h.runtime.hibernate && h.sockets.size > 0],
  ["non-hibernatable socket", (h) => h.sockets.plain > 0],
];

/**
 * One object in this process: its sockets (which outlive instances), its
 * settings, its event queue, and the current instance if it is awake. This
 * class is the lifecycle: it wakes an instance for the first queued event,
 * resets it after a failure, and hibernates it `hibernateAfterMs` after
 * nothing keeps it busy. It is the object's in-process endpoint, and the
 * owner its sockets deliver to.
 */
export class ObjectHost
  implements
    ObjectEndpoint,
    ConnectionOwner,
    StateHost,
    PersistedObject,
    QueueOwner,
    StorageGateTarget,
    GenerationOwner,
    CallTarget {
  #id: ObjectId;
  readonly hex: string;
  readonly runtime: ClassRuntime;
  readonly keyBase: readonly string[];
  readonly clock: Clock;
  readonly output: OutputGate = new OutputGate();
  readonly maxMessageBytes: number;
  readonly maxAttachmentBytes: number;
  readonly maxBufferedBytes: number;
  readonly backpressure: "close" | "drop";
  readonly #app: AppRuntime;
  /** The sockets, which outlive instances. */
  readonly sockets: ObjectSockets;
  /** The object's events in arrival order. */
  readonly queue: EventQueue = new EventQueue(this);
  readonly idle: IdleTimer;
  /** Settings persisted with the hibernation records. */
  readonly settings: ObjectSettings = new ObjectSettings(() => this.#app.store.markConfig(this));
  readonly presences: ObjectPresence = new ObjectPresence(this); // records, diffs, member message
  readonly #counts = { wakes: 0, hibernations: 0, kvCommits: 0 };
  #status: HostStatus = "hibernated";
  #instance: object | null = null;
  #gen: Generation = new Generation(this, this.queue);
  #storage: ObjectStorage | null = null;
  #disposed = false;

  constructor(runtime: ClassRuntime, id: ObjectId, sockets: ObjectSocketList<Connection>) {
    const app = runtime.app;
    this.runtime = runtime;
    this.#app = app;
    this.clock = app.clock;
    this.maxMessageBytes = app.maxMessageBytes;
    this.maxAttachmentBytes = app.maxAttachmentBytes;
    this.maxBufferedBytes = app.maxBufferedBytes;
    this.backpressure = app.backpressure;
    this.#id = id;
    this.hex = id.toString();
    this.sockets = new ObjectSockets(sockets, app.store, this, this.presences);
    this.idle = new IdleTimer(app.clock, runtime.hibernateAfterMs, () => this.#onIdleTimer());
    this.keyBase = hibernationRoot(runtime.storageName, this.hex);
  }

  /** The object's id: `ctx.id`. It carries the name once the object was reached by one. */
  get id(): ObjectId {
    return this.#id;
  }

  /** The object was reached by name (`id` is `idFromName`'s, same hex): `ctx.id.name` is set from now on. */
  named(id: ObjectId): void {
    this.#id = id;
  }

  // ---- ObjectEndpoint: calls with a result, in the event order --------------------------------

  fetch(request: Request): Promise<Response> {
    return fetchObject(this, request);
  }
  connect(request: Request): Promise<Connection | Response> {
    return connectObject(this, request);
  }
  call(method: string, args: readonly unknown[]): Promise<unknown> {
    return callMethod(this, method, args);
  }
  alarm(info: AlarmInvocationInfo): Promise<void> {
    return deliverAlarm(this, info);
  }
  broadcast(payload: BroadcastPayload, options?: EndpointBroadcastOptions): Promise<number> {
    return broadcastFromOutside(this, payload, options);
  }
  readonly presence = (): Promise<PresenceEntry[]> => this.presences.read(); // never wakes

  // ---- ConnectionOwner: the socket side of the seam (hot path) --------------------------------

  get autoResponse(): AutoResponse | null {
    return this.settings.autoResponse;
  }
  get outputGate(): Promise<unknown> | null {
    return this.output.pending;
  }
  now(): number {
    return this.clock.now();
  }
  onMessage(ws: Connection, data: string | ArrayBuffer): void {
    this.queue.message(ws, data);
  }
  onClose(ws: Connection, code: number, reason: string, wasClean: boolean): void {
    this.queue.arrive({ kind: "close", ws, code, reason, wasClean });
  }
  onError(ws: Connection, error: Error): void {
    this.queue.arrive({ kind: "error", ws, error });
  }
  onLeave(ws: Connection): void {
    ws[SESSION]?.end();
    this.sockets.leave(ws);
  }
  onDetach = (ws: Connection): void => this.#app.socketGone(ws);
  onGone(ws: Connection): void {
    const changed = this.sockets.gone(ws);
    this.#app.socketGone(ws);
    if (changed) this.checkIdle();
  }
  onDirty(ws: Connection, what: number): void {
    this.#app.store.markSocket(this, ws, what);
  }

  // ---- StateHost (ctx) and PersistedObject ----------------------------------------------------

  get storage(): ObjectStorage {
    return this.#storage ??= this.#app.createStorage(this, storageHooks(this));
  }
  get eventTimeoutMs(): number {
    return this.settings.eventTimeoutMs;
  }
  restoreSettings(settings: PersistedSettings): void {
    this.settings.restore(settings.autoResponse, settings.eventTimeoutMs);
  }
  countCommit(): void {
    this.#counts.kvCommits++;
  }
  accept(ws: Connection, tags: unknown): void {
    this.sockets.accept(this, ws, tags, this.#app.maxSocketsPerObject, this.clock.now());
    recordAccept(this, ws);
  }
  list(tag?: string): readonly Connection[] {
    return this.sockets.list(tag);
  }
  owns(ws: Connection): boolean {
    return ws[OWNER] === this && !ws[PLAIN];
  }
  /** The upgrade binds an `accept()`ed socket of this object's fetch; false if `ws` is no such socket. */
  adopt(ws: Connection): boolean {
    return this.sockets.adopt(this, ws);
  }
  blockConcurrencyWhile<T>(fn: () => T | Promise<T>): Promise<T> {
    return blockConcurrency(this, fn);
  }
  waitUntil(promise: Promise<unknown>): void {
    this.idle.keepAwake(promise, (error) => this.report(error, "waitUntil"), () => this.settle());
  }
  queuedSockets(): IterableIterator<Connection> {
    return this.queue.sockets();
  }

  /** The awake instance (only read while the object is active). */
  get instance(): object {
    return this.#instance!;
  }
  get generation(): Generation {
    return this.#gen;
  }
  get disposed(): boolean {
    return this.#disposed;
  }
  beforeCall = (): Promise<void> | null => this.#app.stale?.() ? this.#app.claim!(this) : null;

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Current status. */
  get status(): HostStatus {
    return this.#status;
  }

  wake(): void {
    this.#status = "waking";
    this.queue.pause();
    this.#start().catch((error) => this.report(error, "start"));
  }

  async #start(): Promise<void> {
    const gen = new Generation(this, this.queue);
    this.#gen.end(this.clock); // already ended, unless it is the first: only the current one is live
    this.#gen = gen;
    try {
      if (this.#app.claim !== undefined) await this.#app.claim(this); // only the owner runs it
      if (this.settings.needsLoad) {
        await this.#app.store.load(this);
        this.settings.needsLoad = false;
      }
      if (gen.dead) return; // shut down while loading: build nothing
      const ctx = new ObjectState(this, gen);
      this.#instance = new this.runtime.ctor(ctx, this.#app.env());
      checkInstance(this.#instance, ctx, this.runtime.binding);
      this.#counts.wakes++;
      const start = this.runtime.handlers.start;
      if (start) await start.call(this.#instance);
    } catch (error) {
      this.#drop();
      if (!(error instanceof ObjectElsewhereError)) this.report(error, "start"); // else: a 503
      this.queue.failAll(error);
      return this.checkIdle();
    }
    if (gen.dead) return;
    this.#status = "active";
    this.idle.touch();
    this.queue.drain(gen);
  }

  /** Ends the generation and drops the instance. */
  #drop(): void {
    this.#gen.end(this.clock);
    this.#instance = null;
    this.#status = "hibernated";
    this.queue.pause();
  }

  /** Discards the instance after a timeout or failure; the next event builds a new one. */
  reset(error: unknown, operation: string): void {
    this.report(error, operation);
    // Its handlers, blocks and storage ops no longer hold anything: the next instance
    // gets a generation of its own, and the discarded one's releases find it dead.
    this.#drop();
    this.sockets.discardPlain();
    if (!this.queue.empty) this.wake();
    else this.checkIdle();
  }

  /** Why the object is awake, empty when it could hibernate now. */
  blockers(): Blocker[] {
    return BLOCKERS.filter(([, holds]) => holds(this)).map(([blocker]) => blocker);
  }

  /**
   * Something that kept the object busy ended (an async handler, a
   * `waitUntil`): the idle period starts now, as on workerd ("10 s after the
   * last in-flight event or request"), not when that work arrived.
   */
  settle(): void {
    this.idle.touch();
    this.checkIdle();
  }

  /** Arms the idle timer when nothing keeps the object awake. */
  checkIdle(): void {
    if (this.idle.armed || this.#disposed || BLOCKERS.some(([, holds]) => holds(this))) return;
    if (this.#status === "hibernated" && this.sockets.live > 0) return;
    this.idle.arm();
  }

  #onIdleTimer(): void {
    if (BLOCKERS.some(([, holds]) => holds(this))) return;
    if (this.idle.remaining() > 0) return this.checkIdle();
    // The only way this fails is a KV flush, which the store already reported
    // (as a KvError, with its retry scheduled): reporting again would double it.
    this.hibernate().catch(() => {});
  }

  /**
   * Drops the instance now (its sockets stay open), persists what changed and
   * releases attachment bytes from memory. Throws if the object is busy.
   */
  async hibernate(): Promise<void> {
    const blockers = this.blockers();
    if (blockers.length > 0) {
      throw new Error(`Cannot hibernate object ${this.hex} as it is busy: ${blockers.join(", ")}`);
    }
    this.idle.stop();
    if (this.#status === "active") {
      this.#drop();
      this.#counts.hibernations++;
    }
    await this.#app.store.flush();
    if (this.#status !== "hibernated") return;
    if (this.sockets.unloadAttachments()) this.settings.needsLoad = true;
    if (this.sockets.live === 0 && this.#status === "hibernated") this.#app.forget(this);
  }

  /** Stops timers for shutdown; the instance is dropped without events. */
  dispose(): void {
    // A drain scheduled before shutdown may still run: it must not arm a new timer.
    this.#disposed = true;
    // Timers of discarded generations were cleared when they ended; these are the current one's,
    // so a stopped app leaves no timer that keeps the process alive.
    this.#drop();
    this.idle.stop();
  }

  /** Reports a handler failure to the app's exception hook. */
  report(error: unknown, operation: string): void {
    this.#app.report(error, { namespace: this.runtime.binding, id: this.hex, operation });
  }

  /** What `app.stats()` reports of the object besides its status and blockers. */
  counters(): HostCounters {
    return { sockets: this.sockets.size, events: this.queue.events, ...this.#counts };
  }
}
