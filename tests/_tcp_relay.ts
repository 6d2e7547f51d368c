/**
 * A TCP relay for fault tests: clients connect to `relay.port`, each
 * connection is piped to `127.0.0.1:target`. `cut()` drops every piped
 * connection at once (both ends see EOF, no WebSocket Close frame: a lost
 * network) and refuses new ones until `restore()`. `retarget()` points new
 * connections at another port (a restarted server).
 *
 * @module
 */

/** A relay to `127.0.0.1:target` on a free port. */
export class TcpRelay {
  readonly #listener: Deno.Listener;
  #target: number;
  #up = true;
  readonly #conns = new Set<Deno.Conn>();
  readonly #pipes = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  /** Connections accepted and piped so far. */
  accepted = 0;

  constructor(target: number) {
    this.#target = target;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  /** The port clients connect to. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** Drops every piped connection and refuses new ones until {@linkcode TcpRelay.restore}. */
  async cut(): Promise<void> {
    this.#up = false;
    for (const conn of this.#conns) this.#close(conn);
    await Promise.all(this.#pipes);
  }

  /** Accepts and pipes new connections again. */
  restore(): void {
    this.#up = true;
  }

  /** New connections go to `target` from now on. */
  retarget(target: number): void {
    this.#target = target;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    await this.cut();
  }

  async #accept(): Promise<void> {
    for await (const conn of this.#listener) {
      if (!this.#up) {
        conn.close();
        continue;
      }
      let upstream: Deno.Conn;
      try {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#target });
      } catch {
        conn.close();
        continue;
      }
      this.accepted++;
      this.#conns.add(conn);
      this.#conns.add(upstream);
      this.#track(this.#pipe(conn, upstream));
      this.#track(this.#pipe(upstream, conn));
    }
  }

  #track(pipe: Promise<void>): void {
    this.#pipes.add(pipe);
    pipe.finally(() => this.#pipes.delete(pipe));
  }

  async #pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch {
      // the other pipe closed the connection
    } finally {
      this.#close(from);
      this.#close(to);
    }
  }

  #close(conn: Deno.Conn): void {
    if (!this.#conns.delete(conn)) return;
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}
