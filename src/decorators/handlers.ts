import {
  decoratorName,
  type HandlerKind,
  isTc39Context,
  recordHandler,
  recordLegacyHandler,
} from "./metadata.ts";
import type { AlarmInvocationInfo } from "../types.ts";
import type { ConnectResult, WebSocket } from "../types.ts";
import type { PresenceDiff } from "../sockets/presence.ts";

/**
 * A method decorator that works as a TC39 decorator `(method, context)` and
 * as a legacy `experimentalDecorators` one `(prototype, key, descriptor)`;
 * the second argument tells them apart. The decorated method must be
 * assignable to `H`, so a handler with the wrong parameters or return type
 * does not type-check.
 *
 * @typeParam H The signature the decorated method must have.
 *
 * @example Usage
 * ```ts
 * import { type MethodDecoratorFn, onMessage, type WebSocket } from "@dormant/dormant";
 *
 * const decorator: MethodDecoratorFn<(ws: WebSocket, message: string | ArrayBuffer) => void> =
 *   onMessage;
 * void decorator;
 * ```
 */
export interface MethodDecoratorFn<
  // deno-lint-ignore no-explicit-any
  H extends (...args: any[]) => unknown = (...args: any[]) => unknown,
> {
  /**
   * The TC39 form: `@onMessage` on a method.
   *
   * @param method The decorated method.
   * @param context What TC39 decorators are told about the method.
   */
  <This, M extends H>(method: M, context: ClassMethodDecoratorContext<This, M>): void;
  /**
   * The legacy `experimentalDecorators` form.
   *
   * @param prototype The class prototype.
   * @param key The method's name.
   * @param descriptor The method's property descriptor.
   */
  <M extends H>(
    prototype: object,
    key: string | symbol,
    descriptor: TypedPropertyDescriptor<M>,
  ): void;
}

function handler<H extends (...args: never[]) => unknown>(kind: HandlerKind): MethodDecoratorFn<H> {
  const name = decoratorName(kind);
  const decorate = (target: unknown, context?: unknown, descriptor?: PropertyDescriptor) => {
    if (isTc39Context(context)) {
      if (context.kind !== "method") {
        throw new TypeError(`Cannot use ${name} on a ${context.kind}: methods only`);
      }
      recordHandler(kind, context as ClassMethodDecoratorContext);
    } else if (typeof context === "string" || typeof context === "symbol") {
      if (typeof descriptor?.value !== "function") {
        throw new TypeError(`Cannot use ${name} on "${String(context)}": methods only`);
      }
      recordLegacyHandler(kind, target as object, context);
    } else {
      // `@onMessage()` calls the decorator with no method: it is not a decorator factory.
      throw new TypeError(`Cannot use ${name}() with parentheses: write ${name} without them`);
    }
  };
  return decorate as unknown as MethodDecoratorFn<H>;
}

/**
 * Marks the method called for each message: `(ws, message)`, text as
 * `string`, binary as `ArrayBuffer`. Stands for `webSocketMessage`.
 *
 * @example Usage
 * ```ts
 * import { onMessage, type WebSocket } from "@dormant/dormant";
 *
 * class Echo {
 *   @onMessage
 *   echo(ws: WebSocket, message: string | ArrayBuffer) {
 *     ws.send(message);
 *   }
 * }
 * void Echo;
 * ```
 */
export const onMessage: MethodDecoratorFn<
  (ws: WebSocket, message: string | ArrayBuffer) => void | Promise<void>
> = handler("message");

/**
 * Marks the method called when a socket closes: `(ws, code, reason, wasClean)`.
 * Stands for `webSocketClose`.
 *
 * @example Usage
 * ```ts
 * import { onClose, type WebSocket } from "@dormant/dormant";
 *
 * class Room {
 *   @onClose
 *   left(_ws: WebSocket, code: number) {
 *     console.log("closed", code);
 *   }
 * }
 * void Room;
 * ```
 */
export const onClose: MethodDecoratorFn<
  (ws: WebSocket, code: number, reason: string, wasClean: boolean) => void | Promise<void>
> = handler("close");

/**
 * Marks the method called on a WebSocket protocol error: `(ws, error)`.
 * Stands for `webSocketError`; handler exceptions go to the app's `onException`.
 *
 * @example Usage
 * ```ts
 * import { onError, type WebSocket } from "@dormant/dormant";
 *
 * class Room {
 *   @onError
 *   failed(_ws: WebSocket, error: unknown) {
 *     console.log("protocol error", error);
 *   }
 * }
 * void Room;
 * ```
 */
export const onError: MethodDecoratorFn<
  (ws: WebSocket, error: unknown) => void | Promise<void>
> = handler("error");

/**
 * Marks the method called before a WebSocket is accepted: `(ws, request)`.
 * Return `{ tags }` to accept with tags, a `Response` to refuse, or nothing
 * to accept without tags (it may also call `ctx.acceptWebSocket` itself).
 *
 * @example Usage
 * ```ts
 * import { onConnect, type WebSocket } from "@dormant/dormant";
 *
 * class Room {
 *   @onConnect
 *   connect(_ws: WebSocket, request: Request) {
 *     const user = new URL(request.url).searchParams.get("user");
 *     if (!user) return new Response("user required", { status: 400 });
 *     return { tags: [user] };
 *   }
 * }
 * void Room;
 * ```
 */
export const onConnect: MethodDecoratorFn<
  (ws: WebSocket, request: Request) => ConnectResult | Promise<ConnectResult>
> = handler("connect");

/**
 * Marks the method that answers plain HTTP requests: `(request) => Response`.
 * Stands for `fetch` on non-upgrade requests.
 *
 * @example Usage
 * ```ts
 * import { onRequest } from "@dormant/dormant";
 *
 * class Counter {
 *   count = 0;
 *   @onRequest
 *   request(_request: Request): Response {
 *     return new Response(String(++this.count));
 *   }
 * }
 * void Counter;
 * ```
 */
export const onRequest: MethodDecoratorFn<
  (request: Request) => Response | Promise<Response>
> = handler("request");

/**
 * Marks the method called when the object's alarm fires: `(info)`.
 * Stands for `alarm`.
 *
 * @example Usage
 * ```ts
 * import { onAlarm, type AlarmInvocationInfo } from "@dormant/dormant";
 *
 * class Reminder {
 *   @onAlarm
 *   ring(info: AlarmInvocationInfo) {
 *     console.log("alarm", info.retryCount);
 *   }
 * }
 * void Reminder;
 * ```
 */
export const onAlarm: MethodDecoratorFn<
  (info: AlarmInvocationInfo) => void | Promise<void>
> = handler("alarm");

/**
 * Marks the method run after the constructor each time an instance is built
 * (first use and every wake from hibernation), before any event is
 * delivered. It may be async; events wait for it.
 *
 * @example Usage
 * ```ts
 * import { onStart } from "@dormant/dormant";
 *
 * class Room {
 *   ready = false;
 *   @onStart
 *   start() {
 *     this.ready = true;
 *   }
 * }
 * void Room;
 * ```
 */
export const onStart: MethodDecoratorFn<() => void | Promise<void>> = handler("start");

/**
 * Marks the method called with what changed in the object's presence:
 * `(diff)`, one diff per turn (joins, leaves and updates of that turn
 * together). Stands for `webSocketPresence`. It wakes the object; to only
 * tell the sockets, use the class's `presence.message` option, which runs
 * without an instance.
 *
 * @example Usage
 * ```ts
 * import { onPresence, type PresenceDiff } from "@dormant/dormant";
 *
 * class Room {
 *   @onPresence
 *   changed(diff: PresenceDiff<{ name: string }>) {
 *     for (const { value } of diff.joins) console.log("joined", value.name);
 *   }
 * }
 * void Room;
 * ```
 */
export const onPresence: MethodDecoratorFn<
  // deno-lint-ignore no-explicit-any
  (diff: PresenceDiff<any>) => void | Promise<void>
> = handler("presence");
