/**
 * A small RFC 6455 client over raw TCP (`Deno.connect` to 127.0.0.1), for
 * wire-level tests. It sends any frame, malformed ones included (any opcode,
 * RSV bits, fragmentation, unmasked, bad close payloads), parses what the
 * server sends, answers or withholds pongs, and can drop the TCP connection
 * without a Close frame. `rawHttp()` sends one hand-written HTTP/1.1 request.
 *
 * @module
 */

/** Continuation frame. */
export const CONTINUATION = 0x0;
/** Text frame. */
export const TEXT = 0x1;
/** Binary frame. */
export const BINARY = 0x2;
/** Close frame. */
export const CLOSE = 0x8;
/** Ping frame. */
export const PING = 0x9;
/** Pong frame. */
export const PONG = 0xa;

/** RSV1, the bit a compression extension would use. */
export const RSV1 = 0x4;

/** One frame as it arrived from the server. */
export interface Frame {
  readonly fin: boolean;
  /** The three reserved bits (RSV1 = 4, RSV2 = 2, RSV3 = 1). */
  readonly rsv: number;
  readonly opcode: number;
  /** Whether the server masked it (servers must not). */
  readonly masked: boolean;
  readonly payload: Uint8Array;
}

/** How to write one frame. */
export interface FrameOptions {
  /** FIN bit. @default true */
  readonly fin?: boolean;
  /** Reserved bits (RSV1 = 4, RSV2 = 2, RSV3 = 1). @default 0 */
  readonly rsv?: number;
  /** Mask the payload, as a client must. @default true */
  readonly mask?: boolean;
}

/** Options of {@linkcode RawClient.connect}. */
export interface RawConnectOptions {
  /** Extra request headers (`Origin`, …). */
  readonly headers?: Record<string, string>;
  /** Answer server pings with a pong. @default true */
  readonly autoPong?: boolean;
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A raw WebSocket client connection. */
export class RawClient {
  /** The handshake response status (always 101 once connected). */
  readonly status: number;
  /** The handshake response headers. */
  readonly headers: Headers;
  /** Every frame received so far, in arrival order (pings included). */
  readonly received: Frame[] = [];
  /** Answer pings with pongs; switch off to play a silent peer. */
  autoPong: boolean;

  readonly #conn: Deno.TcpConn;
  #buffer: Uint8Array;
  #taken = 0;
  readonly #inbox: Frame[] = [];
  #waiter: (() => void) | null = null;
  #eof = false;
  #dropped = false;
  readonly #reader: Promise<void>;
  #writing: Promise<void> = Promise.resolve();

  private constructor(
    conn: Deno.TcpConn,
    status: number,
    headers: Headers,
    rest: Uint8Array,
    autoPong: boolean,
  ) {
    this.#conn = conn;
    this.status = status;
    this.headers = headers;
    this.#buffer = rest;
    this.autoPong = autoPong;
    this.#reader = this.#read();
  }

  /**
   * Connects to `127.0.0.1:port`, performs the opening handshake for `path`
   * and checks `Sec-WebSocket-Accept`.
   *
   * @throws {Error} If the server does not answer 101 (the message names the status and body).
   */
  static async connect(
    port: number,
    path: string,
    options: RawConnectOptions = {},
  ): Promise<RawClient> {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true); // each send() is one TCP write, as a test expects
    try {
      const head = [
        `GET ${path} HTTP/1.1`,
        `Host: 127.0.0.1:${port}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${key}`,
        "Sec-WebSocket-Version: 13",
        ...Object.entries(options.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
      ];
      await writeAll(conn, encoder.encode(head.join("\r\n") + "\r\n\r\n"));
      const response = await readHead(conn);
      if (response.status !== 101) {
        const body = decoder.decode(response.rest);
        throw new Error(`Handshake refused with ${response.status}: ${body}`);
      }
      const expected = await acceptFor(key);
      if (response.headers.get("sec-websocket-accept") !== expected) {
        throw new Error(
          `Bad Sec-WebSocket-Accept: ${response.headers.get("sec-websocket-accept")}`,
        );
      }
      return new RawClient(
        conn,
        response.status,
        response.headers,
        response.rest,
        options.autoPong ?? true,
      );
    } catch (error) {
      conn.close();
      throw error;
    }
  }

  /** Writes one frame, masked unless `mask: false`. */
  send(
    opcode: number,
    payload: Uint8Array | string = new Uint8Array(0),
    options: FrameOptions = {},
  ): Promise<void> {
    const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
    return this.write(encodeFrame(opcode, bytes, options));
  }

  /** A text frame (also a first fragment with `fin: false`). */
  text(text: string, options?: FrameOptions): Promise<void> {
    return this.send(TEXT, text, options);
  }

  /** A binary frame. */
  binary(bytes: Uint8Array, options?: FrameOptions): Promise<void> {
    return this.send(BINARY, bytes, options);
  }

  /** A continuation frame (`fin` defaults to true: the last fragment). */
  continuation(payload: Uint8Array | string, options?: FrameOptions): Promise<void> {
    return this.send(CONTINUATION, payload, options);
  }

  /** A ping. */
  ping(payload: Uint8Array | string = "", options?: FrameOptions): Promise<void> {
    return this.send(PING, payload, options);
  }

  /**
   * A Close frame: no payload without `code`, else the code (any number,
   * invalid ones too) and the reason (a string or raw bytes, any length).
   */
  close(code?: number, reason: string | Uint8Array = ""): Promise<void> {
    return this.send(CLOSE, closePayload(code, reason));
  }

  /** Writes bytes as they are. Writes are serialized. */
  write(bytes: Uint8Array): Promise<void> {
    const done = this.#writing.then(() => writeAll(this.#conn, bytes));
    this.#writing = done.catch(() => {});
    return done;
  }

  /**
   * The next frame (pings included), or `null` once the server closed TCP
   * and every received frame was taken.
   */
  async next(): Promise<Frame | null> {
    while (this.#inbox.length === 0) {
      if (this.#eof) return null;
      await new Promise<void>((resolve) => this.#waiter = resolve);
    }
    return this.#inbox.shift()!;
  }

  /** The next frame that is not a ping or pong (`null` at EOF). */
  async nextData(): Promise<Frame | null> {
    for (;;) {
      const frame = await this.next();
      if (frame === null || (frame.opcode !== PING && frame.opcode !== PONG)) return frame;
    }
  }

  /** Waits until the server closed TCP; returns every frame not yet taken. */
  async rest(): Promise<Frame[]> {
    await this.#reader;
    return this.#inbox.splice(0);
  }

  /** Whether the server closed its side of TCP. */
  get eof(): boolean {
    return this.#eof;
  }

  /** Closes TCP at once, without a Close frame (an abrupt drop). */
  async drop(): Promise<void> {
    if (!this.#dropped) {
      this.#dropped = true;
      await this.#writing;
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }
    await this.#reader;
  }

  /** Drops the connection if still open and waits for the reader. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.drop();
  }

  async #read(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    try {
      this.#parse();
      for (;;) {
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        this.#append(chunk.subarray(0, n));
        this.#parse();
      }
    } catch {
      // The connection was dropped by us (BadResource/Interrupted) or reset by the server.
    } finally {
      this.#eof = true;
      this.#wake();
    }
  }

  #append(bytes: Uint8Array): void {
    const live = this.#buffer.subarray(this.#taken);
    const next = new Uint8Array(live.length + bytes.length);
    next.set(live);
    next.set(bytes, live.length);
    this.#buffer = next;
    this.#taken = 0;
  }

  #parse(): void {
    for (;;) {
      const parsed = decodeFrame(this.#buffer, this.#taken);
      if (parsed === null) return;
      this.#taken = parsed.end;
      const frame = parsed.frame;
      this.received.push(frame);
      if (frame.opcode === PING && this.autoPong && !this.#dropped) {
        this.send(PONG, frame.payload).catch(() => {});
      }
      this.#inbox.push(frame);
      this.#wake();
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }
}

/** The code and reason of a Close frame (`code` null for an empty Close). */
export function closeOf(frame: Frame): { code: number | null; reason: string } {
  if (frame.opcode !== CLOSE) {
    throw new TypeError(`Expected a Close frame, got opcode ${frame.opcode}`);
  }
  if (frame.payload.length < 2) return { code: null, reason: "" };
  const code = (frame.payload[0]! << 8) | frame.payload[1]!;
  return { code, reason: decoder.decode(frame.payload.subarray(2)) };
}

/** The text of a frame's payload. */
export function textOf(frame: Frame | null): string {
  if (frame === null) throw new Error("Expected a frame, got EOF");
  return decoder.decode(frame.payload);
}

/** A short description of frames, for assertions and reports: `["close 1002 \"\"", "ping"]`. */
export function describe(frames: readonly (Frame | null)[]): string[] {
  return frames.map((frame) => {
    if (frame === null) return "EOF";
    const fin = frame.fin ? "" : " (fin=0)";
    switch (frame.opcode) {
      case CLOSE: {
        const { code, reason } = closeOf(frame);
        return code === null ? "close (empty)" : `close ${code} ${JSON.stringify(reason)}`;
      }
      case TEXT:
        return `text ${JSON.stringify(textOf(frame))}${fin}`;
      case BINARY:
        return `binary ${frame.payload.length} bytes${fin}`;
      case PING:
        return `ping ${JSON.stringify(textOf(frame))}`;
      case PONG:
        return `pong ${JSON.stringify(textOf(frame))}`;
      case CONTINUATION:
        return `continuation ${frame.payload.length} bytes${fin}`;
      default:
        return `opcode ${frame.opcode}`;
    }
  });
}

/** A Close payload: code (2 bytes, big-endian) then the reason. */
export function closePayload(code?: number, reason: string | Uint8Array = ""): Uint8Array {
  if (code === undefined) return new Uint8Array(0);
  const text = typeof reason === "string" ? encoder.encode(reason) : reason;
  const payload = new Uint8Array(2 + text.length);
  payload[0] = (code >> 8) & 0xff;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return payload;
}

/** Encodes one frame (client-side: masked by default). */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: FrameOptions = {},
): Uint8Array {
  const mask = options.mask ?? true;
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const headerLength = 2 + extended + (mask ? 4 : 0);
  const out = new Uint8Array(headerLength + length);
  out[0] = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) & 0x7) << 4 | (opcode & 0xf);
  const maskBit = mask ? 0x80 : 0;
  if (extended === 0) out[1] = maskBit | length;
  else if (extended === 2) {
    out[1] = maskBit | 126;
    out[2] = length >> 8;
    out[3] = length & 0xff;
  } else {
    out[1] = maskBit | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(length));
  }
  if (!mask) {
    out.set(payload, headerLength);
    return out;
  }
  const key = crypto.getRandomValues(new Uint8Array(4));
  out.set(key, 2 + extended);
  const start = headerLength;
  for (let i = 0; i < length; i++) out[start + i] = payload[i]! ^ key[i & 3]!;
  return out;
}

function decodeFrame(buffer: Uint8Array, at: number): { frame: Frame; end: number } | null {
  if (buffer.length - at < 2) return null;
  const b0 = buffer[at]!;
  const b1 = buffer[at + 1]!;
  let length = b1 & 0x7f;
  let offset = at + 2;
  if (length === 126) {
    if (buffer.length - offset < 2) return null;
    length = (buffer[offset]! << 8) | buffer[offset + 1]!;
    offset += 2;
  } else if (length === 127) {
    if (buffer.length - offset < 8) return null;
    length = Number(new DataView(buffer.buffer, buffer.byteOffset + offset, 8).getBigUint64(0));
    offset += 8;
  }
  const masked = (b1 & 0x80) !== 0;
  let key: Uint8Array | null = null;
  if (masked) {
    if (buffer.length - offset < 4) return null;
    key = buffer.slice(offset, offset + 4);
    offset += 4;
  }
  if (buffer.length - offset < length) return null;
  const payload = buffer.slice(offset, offset + length);
  if (key !== null) { for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!; }
  return {
    frame: { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 0x7, opcode: b0 & 0xf, masked, payload },
    end: offset + length,
  };
}

async function acceptFor(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

interface Head {
  status: number;
  headers: Headers;
  /** Bytes read after the blank line. */
  rest: Uint8Array;
}

async function readHead(conn: Deno.Conn): Promise<Head> {
  let buffer: Uint8Array = new Uint8Array(0);
  const chunk = new Uint8Array(16 * 1024);
  for (;;) {
    const end = indexOfBlankLine(buffer);
    if (end !== -1) {
      const lines = decoder.decode(buffer.subarray(0, end)).split("\r\n");
      const status = Number(lines[0]!.split(" ")[1]);
      const headers = new Headers();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      return { status, headers, rest: buffer.slice(end + 4) };
    }
    const n = await conn.read(chunk);
    if (n === null) throw new Error("Connection closed before the response head");
    buffer = concat(buffer, chunk.subarray(0, n));
  }
}

function indexOfBlankLine(buffer: Uint8Array): number {
  for (let i = 0; i + 3 < buffer.length; i++) {
    if (buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The answer to {@linkcode rawHttp}. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The body (empty for 101). */
  readonly body: string;
}

/**
 * Sends one hand-written HTTP/1.1 request (exactly the given headers plus
 * `Host`) and reads the response; closes the connection afterwards, also
 * after a 101.
 */
export async function rawHttp(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = [
      `${method} ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    await writeAll(conn, encoder.encode(head.join("\r\n") + "\r\n\r\n"));
    const response = await readHead(conn);
    if (response.status === 101) return { status: 101, headers: response.headers, body: "" };
    let body = response.rest;
    const chunk = new Uint8Array(16 * 1024);
    const length = response.headers.get("content-length");
    const complete = (): boolean =>
      length !== null ? body.length >= Number(length) : endsWith(body, [48, 13, 10, 13, 10]); // "0\r\n\r\n"
    while (!complete()) {
      const n = await conn.read(chunk);
      if (n === null) break;
      body = concat(body, chunk.subarray(0, n));
    }
    const text = length !== null ? decoder.decode(body) : dechunk(body);
    return { status: response.status, headers: response.headers, body: text };
  } finally {
    conn.close();
  }
}

function endsWith(bytes: Uint8Array, tail: number[]): boolean {
  if (bytes.length < tail.length) return false;
  return tail.every((byte, i) => bytes[bytes.length - tail.length + i] === byte);
}

function dechunk(bytes: Uint8Array): string {
  const text = decoder.decode(bytes);
  let out = "";
  let at = 0;
  for (;;) {
    const lineEnd = text.indexOf("\r\n", at);
    if (lineEnd === -1) return out;
    const size = parseInt(text.slice(at, lineEnd), 16);
    if (!size) return out;
    out += text.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}
