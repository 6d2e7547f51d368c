import type { Clock } from "../clock.ts";
import { EventTimeoutError } from "../errors.ts";
import type { Connection } from "../sockets/connection.ts";
import { LISTENERS, PLAIN } from "../sockets/connection_internals.ts";
import type { ClassHandlers } from "./class_definition.ts";
import { HANDLER_NAMES, type SocketEvent, type SocketEventKind } from "./event_queue.ts";
import type { Generation } from "./generation.ts";

/** What dispatching a socket event reads of the object; implemented by `ObjectHost`. */
export interface DispatchTarget {
  /** The awake instance. */
  readonly instance: object;
  /** The instance's generation. */
  readonly generation: Generation;
  /** The class: its handlers, and its binding name. */
  readonly runtime: { readonly handlers: ClassHandlers; readonly binding: string };
  /** Its `eventTimeoutMs`: how long an async handler may run, 0 for no limit. */
  readonly settings: { readonly eventTimeoutMs: number };
  readonly clock: Clock;
  /** Its `isDiscarded(ws)`: `ws` was accepted with `accept()` by an instance reset since. */
  readonly sockets: { isDiscarded(ws: Connection): boolean };
  report(error: unknown, operation: string): void;
  /** Discards the instance after a failure. */
  reset(error: unknown, operation: string): void;
}

/** Delivers a data message now (the hot path: no event object is made for it). */
export function dispatchMessage(
  target: DispatchTarget,
  ws: Connection,
  data: string | ArrayBuffer,
): void {
  if (ws[PLAIN]) return runListeners(target, { kind: "message", ws, data });
  const fn = target.runtime.handlers.message;
  if (fn === undefined) return;
  let result: unknown;
  try {
    result = fn.call(target.instance, ws, data);
  } catch (error) {
    return target.report(error, HANDLER_NAMES.message);
  }
  if (isThenable(result)) track(target, result, "message");
}

/** Delivers a socket event now: to the class's handler, or to the listeners of an `accept()`ed socket. */
export function dispatchSocketEvent(target: DispatchTarget, event: SocketEvent): void {
  if (event.kind === "message") return dispatchMessage(target, event.ws, event.data);
  if (event.ws[PLAIN]) return runListeners(target, event);
  const handlers = target.runtime.handlers;
  let result: unknown;
  try {
    // workerd's arity: webSocketMessage and webSocketError get 2 arguments, webSocketClose 4.
    if (event.kind === "close") {
      if (handlers.close === undefined) return;
      result = handlers.close.call(
        target.instance,
        event.ws,
        event.code,
        event.reason,
        event.wasClean,
      );
    } else {
      if (handlers.error === undefined) return;
      result = handlers.error.call(target.instance, event.ws, event.error);
    }
  } catch (error) {
    return target.report(error, HANDLER_NAMES[event.kind]);
  }
  if (isThenable(result)) track(target, result, event.kind);
}

/**
 * An event of a socket accepted with `accept()`: its listeners run in the
 * object's event order. A throwing or rejecting listener is reported and
 * the others still run; a returned promise keeps the object busy.
 */
function runListeners(target: DispatchTarget, event: SocketEvent): void {
  const ws = event.ws;
  if (target.sockets.isDiscarded(ws)) return; // its instance was reset: nobody listens any more
  const listeners = ws[LISTENERS](event.kind);
  if (listeners.length === 0) return;
  const dom = event.kind === "message"
    ? new MessageEvent("message", { data: event.data })
    : event.kind === "close"
    ? new CloseEvent("close", { code: event.code, reason: event.reason, wasClean: event.wasClean })
    : new ErrorEvent("error", {
      error: event.error,
      message: event.error instanceof Error ? event.error.message : String(event.error),
    });
  const operation = `${event.kind} listener`;
  const gen = target.generation;
  for (const listener of listeners) {
    let result: unknown;
    try {
      result = typeof listener === "function" ? listener.call(ws, dom) : listener.handleEvent(dom);
    } catch (error) {
      target.report(error, operation);
      continue;
    }
    if (!isThenable(result)) continue;
    gen.inflight++;
    result.then(gen.settled, (error) => {
      target.report(error, operation);
      gen.settled();
    });
  }
}

/** Counts an async handler in the generation; with an event timeout it gets its own timer. */
function track(target: DispatchTarget, promise: PromiseLike<unknown>, kind: SocketEventKind): void {
  const gen = target.generation;
  gen.inflight++;
  const timeout = target.settings.eventTimeoutMs;
  if (timeout === 0) {
    promise.then(gen.settled, gen.failed[kind]);
    return;
  }
  let done = false;
  const name = HANDLER_NAMES[kind];
  const clock = target.clock;
  const timer = gen.setTimer(clock, timeout, () => {
    if (done || gen.dead) return;
    target.reset(new EventTimeoutError(name, timeout), name);
  });
  promise.then(() => {
    done = true;
    gen.clearTimer(clock, timer);
    gen.settled();
  }, (error) => {
    done = true;
    gen.clearTimer(clock, timer);
    gen.failed[kind](error);
  });
}

/** Whether `value` has a `then` method (a handler's result that keeps the object busy). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" &&
    typeof (value as { then?: unknown }).then === "function";
}
