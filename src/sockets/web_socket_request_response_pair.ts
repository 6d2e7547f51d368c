/**
 * An auto-response rule: a text message equal to `request` is answered with
 * `response` by the framework, without waking the object.
 *
 * @example Usage
 * ```ts
 * import { WebSocketRequestResponsePair } from "@dormant/dormant";
 * import assert from "node:assert/strict";
 *
 * const pair = new WebSocketRequestResponsePair("ping", "pong");
 * assert.equal(pair.request, "ping");
 * assert.equal(pair.getResponse(), "pong");
 * ```
 */
export class WebSocketRequestResponsePair {
  readonly #request: string;
  readonly #response: string;

  /**
   * Creates the instance.
   *
   * @param request The exact text message to match (case-sensitive).
   * @param response The text sent back.
   */
  constructor(request: string, response: string) {
    if (arguments.length < 2) {
      throw new TypeError(
        `Cannot construct WebSocketRequestResponsePair: parameter ${
          arguments.length + 1
        } is missing`,
      );
    }
    this.#request = String(request);
    this.#response = String(response);
  }

  /** The message to match. */
  get request(): string {
    return this.#request;
  }

  /** The reply. */
  get response(): string {
    return this.#response;
  }

  /** The message to match (Cloudflare's method form). */
  getRequest(): string {
    return this.#request;
  }

  /** The reply (Cloudflare's method form). */
  getResponse(): string {
    return this.#response;
  }
}
