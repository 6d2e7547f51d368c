import type { WebSocketEventListener } from "../types.ts";

/** A listener as `addEventListener()` takes it. */
export type Listener = WebSocketEventListener<Event>;

interface ListenerEntry {
  readonly listener: Listener;
  readonly once: boolean;
}

/**
 * The listeners of a socket accepted with `accept()`, per event type, with
 * `EventTarget`'s rules: a listener is added once, `once` ones run once.
 */
export class EventListeners {
  readonly #byType = new Map<string, ListenerEntry[]>();

  /** Adds `handler` for `type`; throws if it is neither a function nor has `handleEvent()`. */
  add(type: string, handler: unknown, options?: boolean | { once?: boolean }): void {
    if (handler === null || handler === undefined) return;
    const listener = handler as Listener;
    if (typeof listener !== "function" && typeof listener?.handleEvent !== "function") {
      throw new TypeError(
        "Cannot add the event listener as it is not a function or an object with handleEvent()",
      );
    }
    let list = this.#byType.get(type);
    if (list === undefined) this.#byType.set(type, list = []);
    if (list.some((entry) => entry.listener === listener)) return; // added once, as on EventTarget
    const once = typeof options === "object" && options !== null && options.once === true;
    list.push({ listener, once });
  }

  /** Removes `handler` from `type`. */
  remove(type: string, handler: unknown): void {
    const list = this.#byType.get(type);
    if (list === undefined) return;
    const at = list.findIndex((entry) => entry.listener === handler);
    if (at !== -1) list.splice(at, 1);
  }

  /** The listeners an event of `type` goes to now, in order; `once` ones are removed. */
  take(type: string): Listener[] {
    const list = this.#byType.get(type);
    if (list === undefined || list.length === 0) return [];
    const out = list.map((entry) => entry.listener);
    if (list.some((entry) => entry.once)) {
      this.#byType.set(type, list.filter((entry) => !entry.once));
    }
    return out;
  }
}
