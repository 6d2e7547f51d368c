import {
  type HandlerKind,
  isTc39Context,
  recordHandler,
  recordLegacyHandler,
} from "./_metadata.ts";

/**
 * A method decorator that works as a TC39 decorator `(method, context)` and
 * as a legacy one `(prototype, key, descriptor)`; the second argument tells
 * them apart.
 */
export type MethodDecoratorFn = (
  target: unknown,
  context: ClassMethodDecoratorContext | string | symbol,
  descriptor?: PropertyDescriptor,
) => void;

function handler(kind: HandlerKind): MethodDecoratorFn {
  return (target, context) => {
    if (isTc39Context(context)) {
      if (context.kind !== "method") {
        throw new TypeError(`Cannot use this decorator on a ${context.kind}: methods only`);
      }
      recordHandler(kind, context);
    } else {
      recordLegacyHandler(kind, target as object, context);
    }
  };
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
export const onMessage: MethodDecoratorFn = handler("message");

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
export const onClose: MethodDecoratorFn = handler("close");

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
export const onError: MethodDecoratorFn = handler("error");

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
export const onConnect: MethodDecoratorFn = handler("connect");

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
export const onRequest: MethodDecoratorFn = handler("request");

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
export const onAlarm: MethodDecoratorFn = handler("alarm");

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
export const onStart: MethodDecoratorFn = handler("start");
