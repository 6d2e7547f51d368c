import {
  type DurableObjectOptions,
  isTc39Context,
  recordLegacyOptions,
  recordOptions,
} from "./metadata.ts";

export type { DurableObjectOptions } from "./metadata.ts";

/** A class decorator, usable with TC39 decorators and with `experimentalDecorators`. */
export type ClassDecoratorFn = <C extends abstract new (...args: never[]) => unknown>(
  value: C,
  context?: ClassDecoratorContext,
) => void;

/**
 * Marks a class as a durable object and records its options. It registers
 * nothing: pass the class to `new App({ objects })`. Always called with
 * parentheses: `@durableObject({ name: "room" })`.
 *
 * @param options `name` is the stable storage name (KV keys and ids use it,
 * so renaming the class or its binding key loses nothing); without it the
 * binding key is used, and registering the class logs a one-time warning.
 * @returns The class decorator.
 * @throws {TypeError} If used without parentheses or `options` is not an object.
 *
 * @example Usage
 * ```ts
 * import { durableObject, onMessage, type WebSocket } from "@dormant/dormant";
 *
 * @durableObject({ name: "room" })
 * class Room {
 *   @onMessage
 *   message(ws: WebSocket, text: string | ArrayBuffer) {
 *     ws.send(text);
 *   }
 * }
 * void Room;
 * ```
 */
export function durableObject(options: DurableObjectOptions = {}): ClassDecoratorFn {
  // `@durableObject` without parentheses calls this with the class itself (and, for TC39
  // decorators, its context): say so instead of printing the class's source as an option.
  if (typeof options === "function") {
    throw new TypeError(
      'Cannot use @durableObject without parentheses: write @durableObject({ name: "..." }) with a stable storage name',
    );
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot use @durableObject as options must be an object: current value is ${options}`,
    );
  }
  return (value, context) => {
    if (isTc39Context(context)) {
      if (context.kind !== "class") {
        throw new TypeError("Cannot use @durableObject on a class member");
      }
      recordOptions(context.metadata, options);
    } else {
      if (typeof value !== "function") {
        throw new TypeError("Cannot use @durableObject on a class member");
      }
      recordLegacyOptions(value, options);
    }
  };
}
