// @ts-self-types="./connect.d.ts"
/**
 * A reconnecting WebSocket for browsers and Deno, with no dependency: plain
 * JavaScript that a page can load as it is (`<script type="module">`). It
 * reconnects with jittered exponential backoff, buffers sends while offline,
 * and, on a route with resumable sessions, resumes where it left off: every
 * message the server sent meanwhile arrives, once each, in order. The
 * protocol is in docs/sessions.md.
 *
 * @module
 */

/** The subprotocol that asks for a session. */
export const SESSION_PROTOCOL = "dormant.session.v1";
const RESUME_PREFIX = "dormant.resume.";
/** Close code the client sends to drop its connection but keep its session. */
export const DETACH_CLOSE = 4990;

const DEFAULTS = {
  minDelayMs: 250,
  maxDelayMs: 10_000,
  growth: 2,
  jitter: 0.5,
  connectTimeoutMs: 10_000,
  maxRetries: Infinity,
  maxBufferedMessages: 1_000,
  maxBufferedBytes: 1024 * 1024,
  resume: true,
  protocols: [],
  binaryType: "arraybuffer",
};

/**
 * Whether a close with `code` from the server means "do not reconnect": 1000
 * (the server ended the conversation), 1002, 1003, 1007, 1008 (policy),
 * 1009, 1010, and the application range 4400–4499 (4409: another
 * connection resumed this session).
 *
 * @param {number} code
 * @returns {boolean}
 */
export function isFinalCloseCode(code) {
  return code === 1000 || code === 1002 || code === 1003 || code === 1007 || code === 1008 ||
    code === 1009 || code === 1010 || (code >= 4400 && code <= 4499);
}

/**
 * The wait before reconnect attempt `attempt` (0 for the first): exponential
 * growth from `minDelayMs`, capped at `maxDelayMs`, minus up to `jitter` of it.
 *
 * @param {number} attempt
 * @param {{ minDelayMs: number, maxDelayMs: number, growth: number, jitter: number }} options
 * @param {number} random A number in [0, 1).
 * @returns {number}
 */
export function backoffDelay(attempt, options, random) {
  const base = Math.min(options.maxDelayMs, options.minDelayMs * options.growth ** attempt);
  return Math.round(base * (1 - options.jitter * random));
}

function byteSize(data) {
  if (typeof data === "string") return data.length * 3;
  if (data && typeof data.byteLength === "number") return data.byteLength;
  if (data && typeof data.size === "number") return data.size;
  return 0;
}

function namedEvent(type, props) {
  const event = new Event(type);
  for (const key in props) Object.defineProperty(event, key, { value: props[key] });
  return event;
}

/** A WebSocket that reconnects, buffers while offline and resumes sessions. */
export class ReconnectingWebSocket extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  CONNECTING = 0;
  OPEN = 1;
  CLOSING = 2;
  CLOSED = 3;

  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  onstatuschange = null;

  #url;
  #options;
  #ws = null;
  #status = "connecting";
  #attempt = 0;
  #timer = null;
  #connectTimer = null;
  #queue = [];
  #queuedBytes = 0;
  #token = null;
  #seq = 0;
  #session = false; // the current connection has a session
  #hello = false; // waiting for the session's hello
  #offered = false; // the current connection offered the session subprotocol
  #connected = false; // the current connection opened
  #spoke = false; // a hello came once: the server speaks the protocol
  #plain = false; // the next attempt offers no session subprotocol
  #binaryType;
  // A browser back online: skip the rest of the backoff wait.
  #online = () => {
    if (this.#status === "reconnecting" && this.#timer !== null) {
      this.#attempt = 0;
      this.#open();
    }
  };

  /**
   * @param {string | URL} url
   * @param {object} [options]
   */
  constructor(url, options = {}) {
    super();
    this.#url = String(url);
    this.#options = { ...DEFAULTS, ...options };
    this.#binaryType = this.#options.binaryType;
    globalThis.addEventListener?.("online", this.#online);
    this.#open();
  }

  /** `"connecting"`, `"open"`, `"reconnecting"` or `"closed"`. */
  get status() {
    return this.#status;
  }
  /** 1 while open, 3 once closed for good, else 0 (connecting or waiting to reconnect). */
  get readyState() {
    return this.#status === "open" ? 1 : this.#status === "closed" ? 3 : 0;
  }
  get url() {
    return this.#url;
  }
  /** The application's subprotocol (`""` when the server selected only the session's). */
  get protocol() {
    const protocol = this.#ws?.protocol ?? "";
    return protocol === SESSION_PROTOCOL ? "" : protocol;
  }
  get extensions() {
    return this.#ws?.extensions ?? "";
  }
  get binaryType() {
    return this.#binaryType;
  }
  set binaryType(value) {
    this.#binaryType = value;
    if (this.#ws) this.#ws.binaryType = value;
  }
  /** Bytes buffered while offline plus those the open socket has not sent yet. */
  get bufferedAmount() {
    return this.#queuedBytes + (this.#ws?.bufferedAmount ?? 0);
  }
  /** The session's token and the sequence number of the last message received, or `null`. */
  get session() {
    return this.#token === null ? null : { token: this.#token, seq: this.#seq };
  }

  /** Sends now when open, else buffers (bounded) until the next open. */
  send(data) {
    if (this.#status === "closed") {
      throw new DOMException("Cannot send as the socket was closed", "InvalidStateError");
    }
    if (this.#status === "open" && !this.#hello) return this.#ws.send(data);
    const { maxBufferedMessages, maxBufferedBytes } = this.#options;
    const size = byteSize(data);
    if (this.#queue.length >= maxBufferedMessages || this.#queuedBytes + size > maxBufferedBytes) {
      throw new RangeError(
        `Cannot send while offline as the buffer is full: ${this.#queue.length} messages, ${this.#queuedBytes} bytes (limits: maxBufferedMessages ${maxBufferedMessages}, maxBufferedBytes ${maxBufferedBytes}); wait for status "open"`,
      );
    }
    this.#queue.push(data);
    this.#queuedBytes += size;
  }

  /** Closes for good (no reconnect); the session ends. */
  close(code = 1000, reason) {
    if (this.#status === "closed") return;
    this.#clearTimers();
    const ws = this.#ws;
    this.#ws = null;
    this.#queue = [];
    this.#queuedBytes = 0;
    if (ws) {
      this.#detachListeners(ws);
      try {
        ws.close(code, reason);
      } catch {
        ws.close();
      }
    }
    this.#setStatus("closed");
    this.#emit(namedEvent("close", { code, reason: reason ?? "", wasClean: true }));
  }

  /** Drops the current connection and connects again at once, keeping the session. */
  reconnect() {
    if (this.#status === "closed") return;
    this.#drop(DETACH_CLOSE);
    this.#attempt = 0;
    this.#open();
  }

  #open() {
    this.#clearTimers();
    this.#setStatus(this.#status === "open" || this.#attempt > 0 ? "reconnecting" : this.#status);
    const protocols = [...this.#options.protocols];
    this.#offered = this.#options.resume && !this.#plain;
    this.#connected = false;
    if (this.#offered) {
      protocols.push(SESSION_PROTOCOL);
      if (this.#token !== null) protocols.push(`${RESUME_PREFIX}${this.#token}.${this.#seq}`);
    }
    let ws;
    try {
      const Socket = this.#options.WebSocket ?? globalThis.WebSocket;
      ws = new Socket(this.#url, protocols);
    } catch (error) {
      this.#emit(namedEvent("error", { error }));
      return this.#retry();
    }
    ws.binaryType = this.#binaryType;
    this.#ws = ws;
    ws.onopen = () => this.#onOpen(ws);
    ws.onmessage = (event) => this.#onMessage(event);
    ws.onerror = (event) =>
      this.#emit(namedEvent("error", { error: event.error, message: event.message }));
    ws.onclose = (event) => this.#onClose(ws, event);
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null;
      if (this.#ws === ws && ws.readyState === 0) this.#drop(DETACH_CLOSE), this.#retry();
    }, this.#options.connectTimeoutMs);
  }

  #onOpen(ws) {
    if (this.#connectTimer !== null) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    this.#connected = true;
    this.#plain = false; // the next reconnect asks for a session again
    this.#session = ws.protocol === SESSION_PROTOCOL;
    this.#hello = this.#session;
    if (!this.#session) this.#opened(undefined);
  }

  #opened(code) {
    this.#attempt = 0;
    this.#setStatus("open");
    const queue = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const data of queue) this.#ws.send(data);
    this.#emit(namedEvent("open", { code, resumed: code === "resumed" }));
  }

  #onMessage(event) {
    if (this.#hello) {
      let hello;
      try {
        hello = JSON.parse(event.data);
      } catch {
        hello = null;
      }
      if (hello?.dormant !== "session") return this.#drop(DETACH_CLOSE), this.#retry();
      this.#hello = false;
      this.#spoke = true;
      // "unsupported": no session on this route; a plain socket from here on.
      this.#session = hello.code !== "unsupported";
      this.#token = this.#session ? hello.token : null;
      this.#seq = this.#session ? hello.seq : 0;
      return this.#opened(hello.code);
    }
    if (this.#session) this.#seq++;
    this.#emit(new MessageEvent("message", { data: event.data, origin: event.origin }));
  }

  #onClose(ws, event) {
    if (this.#ws !== ws) return;
    this.#ws = null;
    this.#hello = false;
    this.#emit(
      namedEvent("close", { code: event.code, reason: event.reason, wasClean: event.wasClean }),
    );
    if (isFinalCloseCode(event.code)) {
      this.#clearTimers();
      this.#token = null;
      return this.#setStatus("closed");
    }
    if (!this.#connected && this.#status !== "closed") {
      // A browser fails a handshake whose offered subprotocols got no answer, as a server that
      // knows nothing of sessions does: until a hello proves the server speaks the protocol,
      // a connection that failed before opening is tried again at once without the offer.
      if (this.#offered && !this.#spoke) {
        this.#plain = true;
        return this.#open();
      }
      this.#plain = false;
    }
    this.#retry();
  }

  #retry() {
    if (this.#status === "closed") return;
    if (this.#attempt >= this.#options.maxRetries) {
      this.#clearTimers();
      return this.#setStatus("closed");
    }
    this.#setStatus("reconnecting");
    const random = (this.#options.random ?? Math.random)();
    const wait = backoffDelay(this.#attempt++, this.#options, random);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#open();
    }, wait);
  }

  // Ends the current connection without a close event (a reconnect follows).
  #drop(code) {
    const ws = this.#ws;
    this.#ws = null;
    this.#hello = false;
    if (ws === null) return;
    this.#detachListeners(ws);
    try {
      ws.close(code);
    } catch {
      // not open yet in some runtimes
    }
  }

  #detachListeners(ws) {
    ws.onopen = ws.onmessage = ws.onerror = null;
    // Let the close handshake finish quietly.
    ws.onclose = null;
  }

  #clearTimers() {
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#connectTimer !== null) clearTimeout(this.#connectTimer);
    this.#timer = this.#connectTimer = null;
  }

  #setStatus(status) {
    if (this.#status === status) return;
    this.#status = status;
    if (status === "closed") globalThis.removeEventListener?.("online", this.#online);
    this.#emit(namedEvent("statuschange", { status }));
  }

  #emit(event) {
    const handler = this["on" + event.type];
    if (typeof handler === "function") {
      try {
        handler.call(this, event);
      } catch (error) {
        reportError(error);
      }
    }
    this.dispatchEvent(event);
  }
}

/**
 * Opens a reconnecting WebSocket to `url`.
 *
 * @param {string | URL} url
 * @param {object} [options]
 * @returns {ReconnectingWebSocket}
 */
export function connect(url, options) {
  return new ReconnectingWebSocket(url, options);
}
