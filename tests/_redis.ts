/**
 * A private `redis-server` for a test: started on a free loopback port with
 * persistence off, stopped (and restarted on the same port) by the PID this
 * harness started. Needs `redis-server` on PATH (Debian/Ubuntu:
 * `apt-get install -y redis-server`).
 */

/** A running (or stopped) redis-server this test owns. */
export class RedisServer implements AsyncDisposable {
  readonly port: number;
  #child: Deno.ChildProcess | null = null;

  private constructor(port: number) {
    this.port = port;
  }

  /** Starts a redis-server on a free port and waits until it answers PING. */
  static async start(): Promise<RedisServer> {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = probe.addr.port;
    probe.close();
    const server = new RedisServer(port);
    await server.restart();
    return server;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server again on the same port (after `stop`). */
  async restart(): Promise<void> {
    if (this.#child !== null) throw new Error("redis-server is already running");
    let command: Deno.Command;
    try {
      command = new Deno.Command("redis-server", {
        args: [
          "--port",
          String(this.port),
          "--bind",
          "127.0.0.1",
          "--save",
          "",
          "--appendonly",
          "no",
        ],
        stdout: "null",
        stderr: "null",
      });
      this.#child = command.spawn();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(
          "redis-server is not on PATH: install it (Debian/Ubuntu: `sudo apt-get install -y redis-server`, " +
            "macOS: `brew install redis`) to run the Redis transport tests",
        );
      }
      throw error;
    }
    for (let attempt = 0; !(await this.#pings()); attempt++) {
      if (attempt === 200) throw new Error(`redis-server did not answer PING on port ${this.port}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Stops the server (SIGKILL to its PID) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    this.#child = null;
    child.kill("SIGKILL");
    await child.status;
  }

  async #pings(): Promise<boolean> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
    } catch {
      return false;
    }
    try {
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buf = new Uint8Array(64);
      const n = await conn.read(buf);
      return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
    } catch {
      return false;
    } finally {
      conn.close();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
