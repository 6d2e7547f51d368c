/** A WebSocket client that queues what it receives. */
export interface TestClient {
  /** The underlying client socket. */
  readonly socket: WebSocket;
  /** The next message (text as string, binary as ArrayBuffer), in arrival order. */
  next(): Promise<string | ArrayBuffer>;
  /** The next message parsed as JSON. */
  nextJson<T = unknown>(): Promise<T>;
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
  const waiters: Array<(value: string | ArrayBuffer) => void> = [];
  const failers: Array<(error: Error) => void> = [];
  let ended: CloseEvent | null = null;
  const closed = new Promise<CloseEvent>((resolve) => {
    socket.addEventListener("close", (event) => {
      ended = event;
      for (const fail of failers.splice(0)) fail(new Error(`socket closed (${event.code}) while waiting for a message`));
      waiters.length = 0;
      resolve(event);
    });
  });
  socket.addEventListener("message", (event) => {
    const waiter = waiters.shift();
    failers.shift();
    if (waiter) waiter(event.data);
    else inbox.push(event.data);
  });
  const client: TestClient = {
    socket,
    next() {
      const value = inbox.shift();
      if (value !== undefined) return Promise.resolve(value);
      if (ended) return Promise.reject(new Error(`socket closed (${(ended as CloseEvent).code})`));
      return new Promise((resolve, reject) => {
        waiters.push(resolve);
        failers.push(reject);
      });
    },
    async nextJson<T>() {
      const value = await client.next();
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
