import type { AutoResponse } from "../sockets/auto_response.ts";

/**
 * The settings of one object that outlive its instances and are persisted
 * with its hibernation records: the auto-response and the event timeout.
 */
export class ObjectSettings {
  #autoResponse: AutoResponse | null = null;
  #eventTimeoutMs = 0;
  readonly #changed: () => void;
  /** The settings must be read from KV before the next instance is built. */
  needsLoad = true;

  /** `changed` runs when `ctx` changes a setting (to persist it). */
  constructor(changed: () => void) {
    this.#changed = changed;
  }

  /** The reply sent to a matching message without waking the object, or `null`. */
  get autoResponse(): AutoResponse | null {
    return this.#autoResponse;
  }

  /** How long an async WebSocket handler may run, 0 for no limit. */
  get eventTimeoutMs(): number {
    return this.#eventTimeoutMs;
  }

  /** `ctx.setWebSocketAutoResponse()`. */
  setAutoResponse(value: AutoResponse | null): void {
    this.#autoResponse = value;
    this.#changed();
  }

  /** `ctx.setHibernatableWebSocketEventTimeout()`. */
  setEventTimeout(ms: number): void {
    this.#eventTimeoutMs = ms;
    this.#changed();
  }

  /** The settings as read back from KV. */
  restore(autoResponse: AutoResponse | null, eventTimeoutMs: number): void {
    this.#autoResponse = autoResponse;
    this.#eventTimeoutMs = eventTimeoutMs;
  }
}
