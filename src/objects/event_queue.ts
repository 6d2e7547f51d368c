import { nextTask } from "../clock.ts";
import type { Connection } from "../sockets/connection.ts";
import { PLAIN } from "../sockets/connection_internals.ts";
import { type BindingScope, endCall, openCall, runCall } from "./binding_scope.ts";
import {
  dispatchMessage,
  dispatchSocketEvent,
  type DispatchTarget,
  isThenable,
} from "./dispatch.ts";
import type { Generation } from "./generation.ts";

/** A data message from a socket. */
export interface SocketMessage {
  readonly kind: "message";
  readonly ws: Connection;
  readonly data: string | ArrayBuffer;
}

/** A socket closed (the close code already mapped as workerd does). */
export interface SocketClose {
  readonly kind: "close";
  readonly ws: Connection;
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/** A socket failed; never followed by a close event. */
export interface SocketError {
  readonly kind: "error";
  readonly ws: Connection;
  readonly error: unknown;
}

/** A call with a result: fetch, connect, RPC, alarm. */
export interface CallEvent {
  readonly kind: "call";
  /** The operation's name in reports (`fetch`, `onConnect`, the RPC method, `alarm`). */
  readonly operation: string;
  /** Runs the call on the instance. */
  readonly run: (instance: object) => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  /** The binding scope made when the call was made: the caller is whoever called then. */
  readonly scope: BindingScope;
}

/** An event of a socket the object accepted. */
export type SocketEvent = SocketMessage | SocketClose | SocketError;

/** Everything that enters an object, in the order it arrived. */
export type ObjectEvent = SocketEvent | CallEvent;

/** The kinds of socket events. */
export type SocketEventKind = SocketEvent["kind"];

/** Cloudflare's handler name per socket event kind (the operation in reports). */
export const HANDLER_NAMES: Readonly<Record<SocketEventKind, string>> = {
  message: "webSocketMessage",
  close: "webSocketClose",
  error: "webSocketError",
};

/** What the queue needs of its object; implemented by `ObjectHost`. */
export interface QueueOwner extends DispatchTarget {
  /** Takes an `accept()`ed end its fetch() returns (what a call's binding scope needs). */
  adopt(ws: Connection): boolean;
  /** The object's id in hex, for messages. */
  readonly hex: string;
  /** The instance's lifecycle: events run while `"active"`; the first one wakes a `"hibernated"` one. */
  readonly status: "hibernated" | "waking" | "active";
  /** Whether the app shut down: nothing is delivered any more. */
  readonly disposed: boolean;
  /**
   * `null` (the usual case), or a promise to wait for before a call runs:
   * a node whose lease may have lapsed makes sure it still owns the object.
   */
  beforeCall?(): Promise<void> | null;
  /** Builds an instance; it drains the queue once it is active. */
  wake(): void;
  /** Its `touch()`: something happened, the idle period starts now. */
  readonly idle: { touch(): void };
  /** Arms the idle timer if nothing keeps the object busy. */
  checkIdle(): void;
}

/**
 * The per-object ordered queue. Events start in arrival order; the next one
 * is dispatched as soon as the previous handler's synchronous part returned,
 * except while the input gate is closed (storage I/O, `blockConcurrencyWhile`,
 * a wake in progress). While nothing waits and the gate is open, an event is
 * dispatched as it arrives, without entering the queue.
 */
export class EventQueue {
  readonly #owner: QueueOwner;
  #items: (ObjectEvent | undefined)[] = [];
  #head = 0;
  #ready = false; // events dispatch as they arrive: active, gate open, nothing queued
  #events = 0;
  #requests = 0;
  #drainScheduled = false;

  constructor(owner: QueueOwner) {
    this.#owner = owner;
  }

  /** Events that arrived (for stats). */
  get events(): number {
    return this.#events;
  }

  /** Calls not settled yet. */
  get requests(): number {
    return this.#requests;
  }

  /** The instance stopped running events (waking, reset, hibernated): arrivals queue up. */
  pause(): void {
    this.#ready = false;
  }

  /** Whether no event waits. */
  get empty(): boolean {
    return this.#head === this.#items.length;
  }

  /** A data message (the hot path: dispatched without an event object when ready). */
  message(ws: Connection, data: string | ArrayBuffer): void {
    if (!this.#ready) return this.arrive({ kind: "message", ws, data });
    this.#events++;
    this.#owner.idle.touch();
    dispatchMessage(this.#owner, ws, data);
  }

  /** Runs `fn` on the instance in the event order, waking it if needed. */
  run<T>(operation: string, fn: (instance: object) => T | Promise<T>): Promise<Awaited<T>> {
    // After a stall (lease lapsed by the clock), calls wait for the check, in arrival order.
    const check = this.#owner.beforeCall?.();
    if (check) return check.then(() => this.run(operation, fn));
    return new Promise<Awaited<T>>((resolve, reject) => {
      this.#requests++;
      this.arrive({
        kind: "call",
        operation,
        run: fn,
        resolve: resolve as (value: unknown) => void,
        reject,
        // The caller is whoever calls now, not whoever drains the queue.
        scope: openCall(this.#owner, operation),
      });
    });
  }

  /** An event arrives: it runs now if nothing is ahead of it, else it waits. */
  arrive(event: ObjectEvent): void {
    const owner = this.#owner;
    // A close no handler takes wakes nothing: a presence leave is sent without the instance.
    if (event.kind === "close" && !owner.runtime.handlers.close && !event.ws[PLAIN]) return;
    this.#events++;
    owner.idle.touch();
    if (this.#ready) return this.#dispatch(event);
    if (owner.disposed) {
      // After shutdown no instance is built and nothing is delivered (e.g. the close reply
      // of a socket the server was closing); calls fail instead of waking the object.
      if (event.kind === "call") {
        this.#requests--;
        event.reject(
          new Error(`Cannot run ${event.operation} on object ${owner.hex}: the app shut down`),
        );
      }
      return;
    }
    this.#items.push(event);
    if (owner.status === "hibernated") owner.wake();
  }

  /** Dispatches waiting events while the instance is active and the gate of `gen` is open. */
  drain(gen: Generation): void {
    this.#drainScheduled = false;
    const owner = this.#owner;
    while (!this.empty && gen.gate === 0 && owner.status === "active") {
      const event = this.#items[this.#head]!;
      this.#items[this.#head++] = undefined;
      this.#dispatch(event);
    }
    if (this.empty) {
      this.#items = [];
      this.#head = 0;
    }
    this.#ready = owner.status === "active" && owner.generation.gate === 0 && this.empty;
    owner.checkIdle();
  }

  /** Closes the input gate of `gen`: events wait. */
  closeGate(gen: Generation): void {
    gen.gate++;
    this.#ready = false;
  }

  /** One close of the gate of `gen` (live, current) ended; the queue drains on the next task. */
  openGate(gen: Generation): void {
    gen.gate--;
    // After shutdown nothing is delivered: a storage op settling late must not start a timer.
    if (gen.gate !== 0 || this.#drainScheduled || this.#owner.disposed) return;
    // Drain on the next task, so the code that awaited the storage call (or
    // blockConcurrencyWhile) continues before the next event, as on workerd.
    this.#drainScheduled = true;
    nextTask(() => this.drain(this.#owner.generation));
  }

  /** The instance failed to start: every waiting call fails with `error`, socket events are dropped. */
  failAll(error: unknown): void {
    const rest = this.#items.slice(this.#head) as ObjectEvent[];
    this.#items = [];
    this.#head = 0;
    for (const event of rest) {
      if (event.kind !== "call") continue;
      this.#requests--;
      event.reject(error);
    }
  }

  /** Sockets with a queued event: closing ones are no longer listed, but their event may read the attachment. */
  *sockets(): IterableIterator<Connection> {
    for (let i = this.#head; i < this.#items.length; i++) {
      const event = this.#items[i]!;
      if (event.kind !== "call") yield event.ws;
    }
  }

  #dispatch(event: ObjectEvent): void {
    if (event.kind !== "call") return dispatchSocketEvent(this.#owner, event);
    let result: unknown;
    try {
      result = runCall(event.scope, event.run, this.#owner.instance);
    } catch (error) {
      return this.#endCall(event, error, true);
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.#endCall(event, value, false),
        (error) => this.#endCall(event, error, true),
      );
    } else this.#endCall(event, result, false);
  }

  #endCall(event: CallEvent, value: unknown, failed: boolean): void {
    this.#requests--;
    this.#owner.idle.touch();
    endCall(event.scope, value, failed); // before the caller sees the result
    if (failed) event.reject(value);
    else event.resolve(value);
    this.#owner.checkIdle();
  }
}
