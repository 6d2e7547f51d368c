/**
 * The auto-response rule an object set with `setWebSocketAutoResponse()`: a
 * text message equal to `request` is answered with `response` by the
 * connection itself, without waking or queueing the object, and the match
 * time is kept per socket (`getWebSocketAutoResponseTimestamp()`).
 */
export interface AutoResponse {
  /** The exact text message to match (case-sensitive). */
  readonly request: string;
  /** The text sent back. */
  readonly response: string;
}

/**
 * Whether `data` is answered by the auto-response. Only hibernatable sockets
 * (accepted with `ctx.acceptWebSocket()`) are: auto-responses are part of the
 * hibernation API, an `accept()`ed socket gets the message.
 */
export function matchesAutoResponse(
  auto: AutoResponse | null,
  data: string,
  hibernatable: boolean,
): auto is AutoResponse {
  return auto !== null && data === auto.request && hibernatable;
}

/** An upper bound of the bytes the response adds to `bufferedAmount` (UTF-8: ≤ 3 per unit). */
export function responseBound(auto: AutoResponse): number {
  return auto.response.length * 3;
}
