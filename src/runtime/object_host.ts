import { checkInstance } from "../decorators/resolve_handlers.ts";
import { EventTimeoutError, ObjectFullError, ObjectResetError } from "../errors.ts";
import { Connection } from "../sockets/connection.ts";
import { type ConnectionOwner, RECORD } from "../sockets/connection_owner.ts";
import {
  ACCEPT_HIBERNATABLE,
  ACCEPTED,
  ADOPT,
  ATTACHMENT,
  DIRTY,
  LISTENERS,
  OWNER,
  PLAIN,
  TERMINATE,
  UNLOAD_ATTACHMENT,
} from "../sockets/connection_internals.ts";
import { wantsUpgrade } from "../wants_upgrade.ts";
import { upgradeResponse } from "../sockets/web_socket_pair.ts";
import type { ObjectSocketList } from "../sockets/socket_registry.ts";
import { normalizeTags } from "../sockets/tags.ts";
import { hibernationRoot } from "../kv/keys.ts";
import type { ObjectStorage, StorageHooks } from "../storage/object_storage.ts";
import type { AlarmInvocationInfo, ExceptionContext } from "../types.ts";
import { type BindingScope, endCall, openCall, recordAccept, runCall } from "./binding_scope.ts";
import { type Clock, type ClockTimer, nextTask } from "./clock.ts";
import type { ObjectId } from "./object_id.ts";
import { ObjectState, type StateHost } from "./object_state.ts";

/** Handler functions resolved once per class (decorated names or Cloudflare's). */
export interface ClassHandlers {
  message?: (this: object, ws: Connection, message: string | ArrayBuffer) => unknown;
  close?: (
    this: object,
    ws: Connection,
    code: number,
    reason: string,
    wasClean: boolean,
  ) => unknown;
  error?: (this: object, ws: Connection, error: unknown) => unknown;
  connect?: (this: object, ws: Connection, request: Request) => unknown;
  request?: (this: object, request: Request) => unknown;
  fetch?: (this: object, request: Request) => unknown;
  alarm?: (this: object, info: AlarmInvocationInfo) => unknown;
  start?: (this: object) => unknown;
}

/** Everything a host shares with the other objects of its class and app. */
export interface ClassRuntime {
  readonly binding: string;
  readonly storageName: string;
  readonly ctor: new (ctx: ObjectState, env: unknown) => object;
  readonly handlers: ClassHandlers;
  readonly hibernate: boolean;
  readonly hibernateAfterMs: number;
  /** Hold outgoing messages until pending storage writes are durable. */
  readonly outputGate: boolean;
  readonly app: AppRuntime;
}

/** App-wide services. */
export interface AppRuntime {
  readonly clock: Clock;
  /** The app's `env` (read when an instance is built). */
  env(): unknown;
  readonly maxMessageBytes: number;
  readonly maxAttachmentBytes: number;
  readonly maxBufferedBytes: number;
  readonly backpressure: "close" | "drop";
  readonly maxSocketsPerObject: number;
  readonly store: HostStore;
  report(error: unknown, context: ExceptionContext): void;
  createStorage(host: ObjectHost, hooks: StorageHooks): ObjectStorage;
  socketGone(ws: Connection): void;
  forget(host: ObjectHost): void;
}

/** The write-behind persistence the host uses (implemented by `HibernationStore`). */
export interface HostStore {
  markSocket(host: ObjectHost, ws: Connection, what: number): void;
  markConfig(host: ObjectHost): void;
  forgetSocket(host: ObjectHost, ws: Connection): void;
  flush(): Promise<void>;
  load(host: ObjectHost): Promise<void>;
}

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

// Event kinds (indexes into NAMES).
const MESSAGE = 0;
const CLOSE = 1;
const ERROR = 2;
const CALL = 3;
const NAMES = ["webSocketMessage", "webSocketClose", "webSocketError", "call"] as const;
const LISTENER_TYPES = ["message", "close", "error"] as const;

/** A queued event: a socket event, or a call with a result (fetch, RPC, alarm). */
class Pending {
  constructor(
    readonly kind: number,
    readonly ws: Connection | null,
    readonly a: unknown,
    readonly b: unknown = undefined,
    readonly c: unknown = undefined,
    readonly call: ((instance: object) => unknown) | null = null,
    readonly resolve: ((value: unknown) => void) | null = null,
    readonly reject: ((error: unknown) => void) | null = null,
    readonly operation: string = "",
    readonly scope: BindingScope | null = null,
  ) {}
}

/**
 * One instance's lifetime and everything counted for it; callbacks are made
 * once per generation, not per event. A reset or hibernation marks it dead:
 * from then on its counts keep nothing busy and its late releases (a handler
 * settling, a `blockConcurrencyWhile` ending, a storage operation completing)
 * change nothing, as the next instance counts in a generation of its own.
 */
class Generation {
  dead = false;
  /** Async socket handlers not settled yet. */
  inflight = 0;
  /** `blockConcurrencyWhile` callbacks running. */
  blocking = 0;
  /** Storage operations with I/O in flight. */
  storageOps = 0;
  /** Closes of the input gate: `blocking + storageOps`; events wait while above 0. */
  gate = 0;
  /** Event timeouts and `blockConcurrencyWhile` caps, cleared when the generation ends. */
  readonly timers = new Set<ClockTimer>();
  readonly settled: () => void;
  readonly failed: Array<(error: unknown) => void>;
  /** Opens the input gate closed by one storage operation of this generation. */
  readonly storageDone: () => void;

  constructor(host: ObjectHost, openGate: (gen: Generation) => void) {
    this.settled = () => {
      if (this.dead) return;
      this.inflight--;
      host.settle();
    };
    this.failed = [MESSAGE, CLOSE, ERROR].map((kind) => (error: unknown) => {
      if (this.dead) return;
      this.inflight--;
      host.report(error, NAMES[kind]!);
      host.settle();
    });
    this.storageDone = () => {
      if (this.dead) return;
      this.storageOps--;
      openGate(this);
    };
  }
}

/**
 * One object: its sockets (which outlive instances), its settings, and the
 * current instance if it is awake. Events start in arrival order; the next
 * one is dispatched as soon as the previous handler's synchronous part
 * returned, except while the input gate is closed (storage I/O,
 * `blockConcurrencyWhile`, a wake in progress).
 */
export class ObjectHost implements ConnectionOwner, StateHost {
  #id: ObjectId;
  readonly hex: string;
  readonly runtime: ClassRuntime;
  /** `["dormant", "h", storageName, id]`: this object's hibernation records. */
  readonly keyBase: readonly string[];

  autoResponse: { readonly request: string; readonly response: string } | null = null;
  eventTimeoutMs = 0;
  /** Whether settings must be read from KV before the next instance is built. */
  needsLoad = true;

  // Counters for stats.
  events = 0;
  wakes = 0;
  hibernations = 0;
  kvCommits = 0;

  readonly #sockets: ObjectSocketList<Connection>;
  readonly #app: AppRuntime;
  #live = 0; // accepted sockets whose descriptor is not gone yet (closing ones too)
  // Sockets accepted with accept() (not hibernatable) whose descriptor is not gone: they keep
  // the instance in memory. A reset closes them and moves them to #discarded.
  readonly #plain = new Set<Connection>();
  #discarded: WeakSet<Connection> | null = null;
  #status: HostStatus = "hibernated";
  #instance: object | null = null;
  #gen = this.#newGeneration();
  #ready = false;
  #queue: Pending[] = [];
  #head = 0;
  #requests = 0;
  #waitUntil = 0;
  #lastActivity = 0;
  #idleTimer: ClockTimer | null = null;
  #storage: ObjectStorage | null = null;
  #drainScheduled = false;
  #disposed = false;
  /** A pending storage write that outgoing messages wait for, or `null` (output gate). */
  outputGate: Promise<unknown> | null = null;

  constructor(runtime: ClassRuntime, id: ObjectId, sockets: ObjectSocketList<Connection>) {
    this.runtime = runtime;
    this.#app = runtime.app;
    this.#id = id;
    this.hex = id.toString();
    this.#sockets = sockets;
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

  // ---- ConnectionOwner (hot path) -------------------------------------------------------------

  get maxMessageBytes(): number {
    return this.#app.maxMessageBytes;
  }
  get maxAttachmentBytes(): number {
    return this.#app.maxAttachmentBytes;
  }
  get maxBufferedBytes(): number {
    return this.#app.maxBufferedBytes;
  }
  get backpressure(): "close" | "drop" {
    return this.#app.backpressure;
  }
  now(): number {
    return this.#app.clock.now();
  }

  onMessage(ws: Connection, message: string | ArrayBuffer): void {
    this.events++;
    this.#lastActivity = this.#app.clock.now();
    if (this.#ready) this.#runSocket(MESSAGE, ws, message, undefined, undefined);
    else this.#enqueue(new Pending(MESSAGE, ws, message));
  }

  onClose(ws: Connection, code: number, reason: string, wasClean: boolean): void {
    this.events++;
    this.#lastActivity = this.#app.clock.now();
    if (this.#ready) this.#runSocket(CLOSE, ws, code, reason, wasClean);
    else this.#enqueue(new Pending(CLOSE, ws, code, reason, wasClean));
  }

  onError(ws: Connection, error: Error): void {
    this.events++;
    this.#lastActivity = this.#app.clock.now();
    if (this.#ready) this.#runSocket(ERROR, ws, error, undefined, undefined);
    else this.#enqueue(new Pending(ERROR, ws, error));
  }

  onLeave(ws: Connection): void {
    this.#sockets.remove(ws);
  }

  onGone(ws: Connection): void {
    if (ws[PLAIN]) {
      this.#app.socketGone(ws);
      if (this.#plain.delete(ws)) this.checkIdle();
      return;
    }
    this.#sockets.remove(ws);
    this.#live--;
    this.#app.store.forgetSocket(this, ws);
    this.#app.socketGone(ws);
    this.checkIdle();
  }

  onDirty(ws: Connection, what: number): void {
    this.#app.store.markSocket(this, ws, what);
  }

  // ---- StateHost (ctx) ------------------------------------------------------------------------

  get storage(): ObjectStorage {
    return this.#storage ??= this.#app.createStorage(this, {
      inputGate: {
        close: () => {
          const gen = this.#gen;
          gen.storageOps++;
          this.#closeGate(gen);
          return gen.storageDone;
        },
      },
      trackWrite: (commit) => this.#holdOutput(commit),
      onCommit: () => this.kvCommits++,
    });
  }

  get socketCount(): number {
    return this.#sockets.size;
  }

  get maxSockets(): number {
    return this.#app.maxSocketsPerObject;
  }

  accept(ws: Connection, tags: unknown): void {
    if (ws[PLAIN]) {
      throw new TypeError(
        "Cannot call acceptWebSocket() on a WebSocket accepted with accept(): use one or the other, not both",
      );
    }
    if (ws[ACCEPTED]) {
      throw new TypeError("Cannot accept WebSocket as it was already accepted");
    }
    const normalized = normalizeTags(tags);
    if (this.#live >= this.#app.maxSocketsPerObject) {
      throw new ObjectFullError(this.#app.maxSocketsPerObject);
    }
    ws[ACCEPT_HIBERNATABLE](this, normalized, this.#app.clock.now());
    this.#live++;
    this.#sockets.add(ws, normalized);
    this.#app.store.markSocket(this, ws, RECORD);
    recordAccept(this, ws);
  }

  list(tag?: string): readonly Connection[] {
    return this.#sockets.list(tag);
  }

  owns(ws: Connection): boolean {
    return ws[OWNER] === this && !ws[PLAIN];
  }

  /**
   * The upgrade binds a socket this object's fetch accepted with `accept()`:
   * it becomes this object's, and keeps it in memory until it is gone.
   * Returns false if `ws` is no such socket.
   */
  adopt(ws: Connection): boolean {
    if (!ws[PLAIN] || ws[OWNER] !== null) return false;
    ws[ADOPT](this);
    this.#plain.add(ws);
    return true;
  }

  /** Sockets accepted with `accept()` that are not gone (for shutdown). */
  get unlistedSockets(): readonly Connection[] {
    return [...this.#plain];
  }

  configChanged(): void {
    this.#app.store.markConfig(this);
  }

  /** Settings read back from KV on wake (the hibernation store's `HibernatingObject`). */
  restoreSettings(settings: Pick<ObjectHost, "autoResponse" | "eventTimeoutMs">): void {
    this.autoResponse = settings.autoResponse;
    this.eventTimeoutMs = settings.eventTimeoutMs;
  }

  /** A hibernation-store commit included this object's records. */
  countCommit(): void {
    this.kvCommits++;
  }

  blockConcurrencyWhile<T>(fn: () => T | Promise<T>): Promise<T> {
    const gen = this.#gen;
    gen.blocking++;
    this.#closeGate(gen);
    let timer: ClockTimer | null = null;
    const capped = new Promise<T>((resolve, reject) => {
      timer = this.#app.clock.setTimeout(() => {
        gen.timers.delete(timer!);
        reject(new ObjectResetError("blockConcurrencyWhile() callback exceeded 30000 ms"));
      }, 30_000);
      gen.timers.add(timer);
      Promise.resolve().then(fn).then(resolve, reject);
    });
    const result = capped.then(
      (value) => {
        this.#endBlock(gen, timer);
        return value;
      },
      (error) => {
        this.#endBlock(gen, timer);
        if (!gen.dead) this.#reset(error, "blockConcurrencyWhile");
        throw error;
      },
    );
    // A constructor cannot await it (Cloudflare's idiom): the failure is reported by the
    // reset above, and an ignored rejection must not crash the process.
    result.catch(() => {});
    return result;
  }

  #endBlock(gen: Generation, timer: ClockTimer | null): void {
    if (timer) {
      this.#app.clock.clearTimeout(timer);
      gen.timers.delete(timer);
    }
    if (gen.dead) return; // a discarded instance's block: the current gate is not its own
    gen.blocking--;
    this.#openGate(gen);
  }

  waitUntil(promise: Promise<unknown>): void {
    this.#waitUntil++;
    Promise.resolve(promise).then(
      () => this.#endWaitUntil(),
      (error) => {
        this.report(error, "waitUntil");
        this.#endWaitUntil();
      },
    );
  }

  #endWaitUntil(): void {
    this.#waitUntil--;
    this.settle();
  }

  // ---- calls with results (fetch, connect, RPC, alarm) ----------------------------------------

  /** Runs `call` on the instance through the event order, waking it if needed. */
  call<T>(operation: string, call: (instance: object) => T | Promise<T>): Promise<Awaited<T>> {
    return new Promise<Awaited<T>>((resolve, reject) => {
      this.events++;
      this.#requests++;
      this.#lastActivity = this.#app.clock.now();
      const pending = new Pending(
        CALL,
        null,
        undefined,
        undefined,
        undefined,
        call as (instance: object) => unknown,
        resolve as (value: unknown) => void,
        reject,
        operation,
        openCall(this, operation), // the caller is whoever calls now, not whoever drains the queue
      );
      if (this.#ready) this.#runCall(pending);
      else this.#enqueue(pending);
    });
  }

  /**
   * An upgrade request as the object's handlers take it: `@onConnect` (accepting with the tags it
   * returns), else `fetch`, else an accept without tags. Resolves to the accepted connection, or
   * to the response to send instead.
   */
  connect(request: Request): Promise<Connection | Response> {
    const handlers = this.runtime.handlers;
    if (handlers.connect) {
      const connect = handlers.connect;
      return this.call("onConnect", async (instance) => {
        const ws = new Connection();
        const out = await connect.call(instance, ws, request);
        if (out instanceof Response) return out;
        const tags = (out as { tags?: unknown } | undefined)?.tags;
        if (!ws[ACCEPTED]) this.accept(ws, tags);
        else if (tags !== undefined) {
          throw new TypeError(
            "Cannot use the tags @onConnect returned as it accepted the socket itself: pass them to ctx.acceptWebSocket(ws, tags), or return { tags } without accepting",
          );
        }
        return ws;
      });
    }
    if (handlers.fetch) {
      const fetch = handlers.fetch;
      return this.call("fetch", async (instance) => {
        const response = await fetch.call(instance, request);
        if (!(response instanceof Response)) {
          throw new TypeError(
            `Cannot answer the request as fetch() returned no Response: got ${typeof response}`,
          );
        }
        return response;
      });
    }
    return this.call("accept", () => {
      const ws = new Connection();
      this.accept(ws, undefined);
      return ws;
    });
  }

  /** Plain HTTP into the object: `@onRequest`, else `fetch`, else 501. */
  fetch(request: Request): Promise<Response> {
    const handlers = this.runtime.handlers;
    // An upgrade forwarded by stub.fetch() reaches the same handlers as a routed one.
    if (wantsUpgrade(request) && (handlers.connect !== undefined || handlers.fetch === undefined)) {
      return this.connect(request).then((result) =>
        result instanceof Response ? result : upgradeResponse(result)
      );
    }
    const handler = handlers.request ?? handlers.fetch;
    if (handler === undefined) {
      return Promise.resolve(
        new Response(`${this.runtime.binding} has no fetch or @onRequest handler`, { status: 501 }),
      );
    }
    return this.call("fetch", async (instance) => {
      const response = await handler.call(instance, request);
      if (!(response instanceof Response)) {
        throw new TypeError(
          `Cannot answer the request as fetch() returned no Response: got ${typeof response}`,
        );
      }
      return response;
    });
  }

  #runCall(p: Pending): void {
    let result: unknown;
    try {
      result = runCall(p.scope!, p.call!, this.#instance!);
    } catch (error) {
      return this.#endCall(p, error, true);
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.#endCall(p, value, false),
        (error) => this.#endCall(p, error, true),
      );
    } else this.#endCall(p, result, false);
  }

  #endCall(p: Pending, value: unknown, failed: boolean): void {
    this.#requests--;
    this.#lastActivity = this.#app.clock.now();
    endCall(p.scope!, value, failed); // before the caller sees the result
    if (failed) p.reject!(value);
    else p.resolve!(value);
    this.checkIdle();
  }

  // ---- dispatch -------------------------------------------------------------------------------

  #runSocket(kind: number, ws: Connection, a: unknown, b: unknown, c: unknown): void {
    if (ws[PLAIN]) return this.#runListeners(kind, ws, a, b, c);
    const handlers = this.runtime.handlers;
    const fn = kind === MESSAGE
      ? handlers.message
      : kind === CLOSE
      ? handlers.close
      : handlers.error;
    if (fn === undefined) return;
    let result: unknown;
    try {
      // workerd's arity: webSocketMessage and webSocketError get 2 arguments, webSocketClose 4.
      const call = fn as (this: object, ...args: unknown[]) => unknown;
      result = kind === CLOSE
        ? call.call(this.#instance!, ws, a, b, c)
        : call.call(this.#instance!, ws, a);
    } catch (error) {
      return this.report(error, NAMES[kind]!);
    }
    if (isThenable(result)) this.#track(result, kind);
  }

  /**
   * An event of a socket accepted with `accept()`: its listeners run in the
   * object's event order. A throwing or rejecting listener is reported and
   * the others still run; a returned promise keeps the object busy.
   */
  #runListeners(kind: number, ws: Connection, a: unknown, b: unknown, c: unknown): void {
    if (this.#discarded?.has(ws)) return; // its instance was reset: nobody listens any more
    const type = LISTENER_TYPES[kind as 0 | 1 | 2];
    const listeners = ws[LISTENERS](type);
    if (listeners.length === 0) return;
    const event = kind === MESSAGE
      ? new MessageEvent("message", { data: a })
      : kind === CLOSE
      ? new CloseEvent("close", { code: a as number, reason: b as string, wasClean: c as boolean })
      : new ErrorEvent("error", { error: a, message: a instanceof Error ? a.message : String(a) });
    const operation = `${type} listener`;
    const gen = this.#gen;
    for (const listener of listeners) {
      let result: unknown;
      try {
        result = typeof listener === "function"
          ? listener.call(ws, event)
          : listener.handleEvent(event);
      } catch (error) {
        this.report(error, operation);
        continue;
      }
      if (!isThenable(result)) continue;
      gen.inflight++;
      result.then(gen.settled, (error) => {
        this.report(error, operation);
        gen.settled();
      });
    }
  }

  #track(promise: PromiseLike<unknown>, kind: number): void {
    const gen = this.#gen;
    gen.inflight++;
    const timeout = this.eventTimeoutMs;
    if (timeout === 0) {
      promise.then(gen.settled, gen.failed[kind]);
      return;
    }
    // With an event timeout each async handler gets its own timer.
    let done = false;
    const timer = this.#app.clock.setTimeout(() => {
      gen.timers.delete(timer);
      if (done || gen.dead) return;
      this.#reset(new EventTimeoutError(NAMES[kind]!, timeout), NAMES[kind]!);
    }, timeout);
    gen.timers.add(timer);
    const finish = () => {
      done = true;
      this.#app.clock.clearTimeout(timer);
      gen.timers.delete(timer);
    };
    promise.then(() => {
      finish();
      gen.settled();
    }, (error) => {
      finish();
      gen.failed[kind]!(error);
    });
  }

  #enqueue(p: Pending): void {
    if (this.#disposed) {
      // After shutdown no instance is built and nothing is delivered (e.g. the close reply
      // of a socket the server was closing); calls fail instead of waking the object.
      if (p.kind === CALL) {
        this.#requests--;
        p.reject!(new Error(`Cannot run ${p.operation} on object ${this.hex}: the app shut down`));
      }
      return;
    }
    this.#queue.push(p);
    if (this.#status === "hibernated") this.#wake();
  }

  #drain(): void {
    this.#drainScheduled = false;
    const queue = this.#queue;
    const gen = this.#gen;
    while (this.#head < queue.length && gen.gate === 0 && this.#status === "active") {
      const p = queue[this.#head]!;
      queue[this.#head++] = undefined as unknown as Pending;
      if (p.kind === CALL) this.#runCall(p);
      else this.#runSocket(p.kind, p.ws!, p.a, p.b, p.c);
    }
    if (this.#head === queue.length) {
      this.#queue = [];
      this.#head = 0;
    }
    this.#updateReady();
    this.checkIdle();
  }

  #updateReady(): void {
    this.#ready = this.#status === "active" && this.#gen.gate === 0 &&
      this.#head === this.#queue.length;
  }

  #newGeneration(): Generation {
    return new Generation(this, (gen) => this.#openGate(gen));
  }

  #closeGate(gen: Generation): void {
    gen.gate++;
    this.#ready = false;
  }

  /** Called only for a live generation, which is the current one. */
  #openGate(gen: Generation): void {
    gen.gate--;
    // After shutdown nothing is delivered: a storage op settling late must not start a timer.
    if (gen.gate !== 0 || this.#drainScheduled || this.#disposed) return;
    // Drain on the next task, so the code that awaited the storage call (or
    // blockConcurrencyWhile) continues before the next event, as on workerd.
    this.#drainScheduled = true;
    nextTask(() => this.#drain());
  }

  /**
   * Messages sent after a write wait until it is durable (Cloudflare's output
   * gate). A failed write is reported once and resets the instance, as its
   * memory may reflect the lost write; messages held behind it are never sent.
   */
  #holdOutput(commit: Promise<unknown>): void {
    const gen = this.#gen;
    commit.catch((error) => {
      if (gen.dead) this.report(error, "storage write");
      else this.#reset(error, "storage write");
    });
    if (!this.runtime.outputGate) return;
    const previous = this.outputGate;
    const gate: Promise<unknown> = previous === null ? commit : Promise.all([previous, commit]);
    this.outputGate = gate;
    const clear = () => {
      if (this.outputGate === gate) this.outputGate = null;
    };
    gate.then(clear, clear);
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Current status. */
  get status(): HostStatus {
    return this.#status;
  }

  #wake(): void {
    this.#status = "waking";
    this.#ready = false;
    this.#start().catch((error) => this.report(error, "start"));
  }

  async #start(): Promise<void> {
    const gen = this.#newGeneration();
    this.#end(this.#gen); // already ended, unless it is the first: only the current one is live
    this.#gen = gen;
    try {
      if (this.needsLoad) {
        await this.#app.store.load(this);
        this.needsLoad = false;
      }
      if (gen.dead) return; // shut down while loading: build nothing
      const ctx = new ObjectState(this, gen);
      this.#instance = new this.runtime.ctor(ctx, this.#app.env());
      checkInstance(this.#instance, ctx, this.runtime.binding);
      this.wakes++;
      const start = this.runtime.handlers.start;
      if (start) await start.call(this.#instance);
    } catch (error) {
      this.#end(gen);
      this.#instance = null;
      this.#status = "hibernated";
      this.report(error, "start");
      this.#failQueue(error);
      return;
    }
    if (gen.dead) return;
    this.#status = "active";
    this.#lastActivity = this.#app.clock.now();
    this.#drain();
  }

  #failQueue(error: unknown): void {
    const queue = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    for (const p of queue) {
      if (p.kind === CALL) {
        this.#requests--;
        p.reject!(error);
      }
    }
    this.checkIdle();
  }

  /** Discards the instance after a timeout or failure; the next event builds a new one. */
  #reset(error: unknown, operation: string): void {
    this.report(error, operation);
    // Its handlers, blocks and storage ops no longer hold anything: the next instance
    // gets a generation of its own, and the discarded one's releases find it dead.
    this.#end(this.#gen);
    this.#instance = null;
    this.#status = "hibernated";
    this.#ready = false;
    // Sockets accepted with accept() had their listeners in the dead instance: Cloudflare
    // disconnects them; they close with 1011 and no further event.
    if (this.#plain.size > 0) {
      const discarded = this.#discarded ??= new WeakSet();
      for (const ws of this.#plain) {
        discarded.add(ws);
        ws[TERMINATE](1011, "Object was reset");
      }
      this.#plain.clear();
    }
    if (this.#head < this.#queue.length) this.#wake();
    else this.checkIdle();
  }

  /** Marks a generation dead and stops its timers (the event timeouts of abandoned handlers). */
  #end(gen: Generation): void {
    gen.dead = true;
    for (const timer of gen.timers) this.#app.clock.clearTimeout(timer);
    gen.timers.clear();
  }

  /** Why the object is awake, empty when it could hibernate now. */
  blockers(): Blocker[] {
    const out: Blocker[] = [];
    // A dead generation's counts are what its abandoned work left behind: they hold nothing.
    const gen = this.#gen.dead ? null : this.#gen;
    if (this.#status === "waking") out.push("starting");
    if (gen !== null && gen.inflight > 0) out.push("event");
    if (this.#requests > 0) out.push("request");
    if (this.#waitUntil > 0) out.push("waitUntil");
    if (gen !== null && gen.blocking > 0) out.push("blockConcurrencyWhile");
    if (gen !== null && gen.storageOps > 0) out.push("storage");
    if (this.#head < this.#queue.length) out.push("queued");
    if (!this.runtime.hibernate && this.#sockets.size > 0) out.push("hibernation disabled");
    if (this.#plain.size > 0) out.push("non-hibernatable socket");
    return out;
  }

  #busy(): boolean {
    const gen = this.#gen;
    return this.#status === "waking" || (!gen.dead && (gen.inflight > 0 || gen.gate > 0)) ||
      this.#requests > 0 || this.#waitUntil > 0 || this.#head < this.#queue.length ||
      (!this.runtime.hibernate && this.#sockets.size > 0) || this.#plain.size > 0;
  }

  /**
   * Something that kept the object busy ended (an async handler, a
   * `waitUntil`): the idle period starts now, as on workerd ("10 s after the
   * last in-flight event or request"), not when that work arrived.
   */
  settle(): void {
    this.#lastActivity = this.#app.clock.now();
    this.checkIdle();
  }

  /** Arms the idle timer when nothing keeps the object awake. */
  checkIdle(): void {
    if (this.#idleTimer !== null || this.#disposed || this.#busy()) return;
    if (this.#status === "hibernated" && this.#live > 0) return;
    const wait = this.#lastActivity + this.runtime.hibernateAfterMs - this.#app.clock.now();
    this.#idleTimer = this.#app.clock.setTimeout(() => this.#onIdleTimer(), Math.max(0, wait));
  }

  #onIdleTimer(): void {
    this.#idleTimer = null;
    if (this.#busy()) return;
    const wait = this.#lastActivity + this.runtime.hibernateAfterMs - this.#app.clock.now();
    if (wait > 0) return this.checkIdle();
    // The only way this fails is a KV flush, which the store already reported
    // (as a KvError, with its retry scheduled): reporting again would double it.
    this.hibernate().catch(() => {});
  }

  /**
   * Drops the instance now (its sockets stay open), persists what changed and
   * releases attachment bytes from memory. Throws if the object is busy.
   */
  async hibernate(): Promise<void> {
    if (this.#busy()) {
      throw new Error(
        `Cannot hibernate object ${this.hex} as it is busy: ${this.blockers().join(", ")}`,
      );
    }
    if (this.#idleTimer !== null) {
      this.#app.clock.clearTimeout(this.#idleTimer);
      this.#idleTimer = null;
    }
    if (this.#status === "active") {
      this.#end(this.#gen);
      this.#instance = null;
      this.#status = "hibernated";
      this.#ready = false;
      this.hibernations++;
    }
    await this.#app.store.flush();
    if (this.#status !== "hibernated") return;
    let unloaded = false;
    for (const ws of this.#sockets.list()) {
      if (ws[DIRTY] === 0 && ws[ATTACHMENT]) {
        ws[UNLOAD_ATTACHMENT]();
        unloaded = true;
      }
    }
    if (unloaded) this.needsLoad = true;
    if (this.#live === 0 && this.#status === "hibernated") this.#app.forget(this);
  }

  /** Stops timers for shutdown; the instance is dropped without events. */
  dispose(): void {
    // A drain scheduled before shutdown may still run: it must not arm a new timer.
    this.#disposed = true;
    // Timers of discarded generations were cleared when they ended; these are the current one's,
    // so a stopped app leaves no timer that keeps the process alive.
    this.#end(this.#gen);
    if (this.#idleTimer !== null) this.#app.clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    this.#instance = null;
    this.#status = "hibernated";
    this.#ready = false;
  }

  /** Sockets with a queued event: closing ones are no longer listed, but their event may read the attachment. */
  *queuedSockets(): IterableIterator<Connection> {
    for (let i = this.#head; i < this.#queue.length; i++) {
      const ws = this.#queue[i]!.ws;
      if (ws !== null) yield ws;
    }
  }

  /** Every accepted socket whose descriptor is not gone (open or closing). */
  get liveSockets(): number {
    return this.#live;
  }

  /** Reports a handler failure to the app's exception hook. */
  report(error: unknown, operation: string): void {
    this.#app.report(error, { namespace: this.runtime.binding, id: this.hex, operation });
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" &&
    typeof (value as { then?: unknown }).then === "function";
}
