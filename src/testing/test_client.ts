/** A WebSocket client that queues what it receives. */
export interface TestClient {
  /** The underlying client socket. */
  readonly socket: WebSocket;
  /**
   * The next message (text as string, binary as ArrayBuffer), in arrival
   * order. Rejects after `timeoutMs` (default 10 s) so a lost message fails a
   * test instead of hanging it.
   */
  next(timeoutMs?: number): Promise<string | ArrayBuffer>;
  /** The next message parsed as JSON. */
  nextJson<T = unknown>(timeoutMs?: number): Promise<T>;
  /** Messages received and not yet taken. */
  readonly buffered: number;
  /** Resolves with the close event. */
  readonly closed: Promise<CloseEvent>;
  /** Closes (if needed) and waits for the close event. */
  close(code?: number, reason?: string): Promise<CloseEvent>;
}

/**
 * Opens a WebSocket and waits until it is open.
 *
 * @param url A `ws://` URL.
 * @param protocols Subprotocols to offer.
 * @returns The open client.
 * @throws {Error} If the connection fails or the server refuses it.
 *
 * @example Usage
 * ```ts ignore
 * const client = await testClient(`ws://127.0.0.1:${port}/echo/a`);
 * client.socket.send("hi");
 * assert.equal(await client.next(), "hi");
 * await client.close();
 * ```
 */
export function testClient(url: string | URL, protocols?: string | string[]): Promise<TestClient> {
  const socket = new WebSocket(url, protocols);
  socket.binaryType = "arraybuffer";
  const inbox: Array<string | ArrayBuffer> = [];
  type Waiter = { resolve: (value: string | ArrayBuffer) => void; reject: (error: Error) => void };
  const waiters: Waiter[] = [];
  let ended: CloseEvent | null = null;
  const closed = new Promise<CloseEvent>((resolve) => {
    socket.addEventListener("close", (event) => {
      ended = event;
      for (const waiter of waiters.splice(0)) {
        waiter.reject(new Error(`socket closed (${event.code}) while waiting for a message`));
      }
      resolve(event);
    });
  });
  socket.addEventListener("message", (event) => {
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(event.data);
    else inbox.push(event.data);
  });
  const client: TestClient = {
    socket,
    next(timeoutMs = 10_000) {
      const value = inbox.shift();
      if (value !== undefined) return Promise.resolve(value);
      if (ended) return Promise.reject(new Error(`socket closed (${(ended as CloseEvent).code})`));
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        // Real time on purpose: this guards a test against hanging, it is not idle time.
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no message within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    async nextJson<T>(timeoutMs?: number) {
      const value = await client.next(timeoutMs);
      if (typeof value !== "string") throw new TypeError("Expected a text message, got binary");
      return JSON.parse(value) as T;
    },
    get buffered() {
      return inbox.length;
    },
    closed,
    close(code?: number, reason?: string) {
      if (socket.readyState < 2) socket.close(code, reason);
      return closed;
    },
  };
  return new Promise((resolve, reject) => {
    socket.addEventListener("open", () => resolve(client), { once: true });
    socket.addEventListener("error", () => {
      if (socket.readyState !== 1) reject(new Error(`Cannot connect to ${url}`));
    }, { once: true });
  });
}
