/**
 * The open-file limit, for real: the fixture server runs under
 * `sh -c 'ulimit -n 64; exec deno run …'` and 100 clients connect to it over
 * 127.0.0.1. The server refuses with 503 beyond the cap,
 * keeps every open socket, never crashes, and accepts again once descriptors are free.
 *
 * Rerun: `deno test -A tests/e2e/fd_limit_test.ts` (set `FD_LIMIT_REPORT=1`
 * to print the figures recorded in docs/reliability.md).
 */
import assert from "node:assert/strict";
import { encodeFrame, TEXT } from "../_raw_client.ts";

const FIXTURE = new URL("../http/fixtures/echo_server.ts", import.meta.url).pathname;
const CLIENTS = 100;
const REPORT = Deno.env.get("FD_LIMIT_REPORT") === "1";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---- the fixture process ----------------------------------------------------------------------

interface Fixture {
  readonly child: Deno.ChildProcess;
  readonly port: number;
  /** Descriptors open when it started listening. */
  readonly baseFds: number;
  /** stderr so far (one line per listener failure). */
  stderr(): string;
  /** Sends SIGINT and waits for the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

async function startFixture(env: Record<string, string>): Promise<Fixture> {
  const command = `ulimit -n 64; exec "$DENO" run -A "$FIXTURE"`;
  const child = new Deno.Command("sh", {
    args: ["-c", command],
    env: { DENO: Deno.execPath(), FIXTURE, ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let err = "";
  const errDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (err += chunk) }),
  );
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const ready = /listening (\d+) limit (\d+) fds (\d+)/;
  while (!ready.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`fixture exited before listening: ${seen} ${err}`);
    seen += value;
  }
  const [, port, limit, fds] = ready.exec(seen)!;
  assert.equal(limit, "64", "the fixture runs under ulimit -n 64");
  const outDone = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  return {
    child,
    port: Number(port),
    baseFds: Number(fds),
    stderr: () => err,
    async stop() {
      try {
        child.kill("SIGINT");
      } catch {
        // already gone
      }
      const status = await child.status;
      await Promise.all([outDone, errDone]);
      return status;
    },
  };
}

// ---- a tiny raw client with timeouts (the shared RawClient cannot abort a handshake) -----------

type Attempt =
  | { readonly kind: "open"; readonly ws: MiniSocket }
  | { readonly kind: "refused"; readonly status: number }
  | { readonly kind: "failed"; readonly error: string };

/** Reads from `conn` with a deadline; closes the connection when it passes. */
async function readWithin(
  conn: Deno.TcpConn,
  buffer: Uint8Array,
  ms: number,
): Promise<number | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) =>
    timer = setTimeout(() => resolve("timeout"), ms)
  );
  const read = conn.read(buffer);
  try {
    const result = await Promise.race([read, timeout]);
    if (result === "timeout") {
      conn.close();
      await read.catch(() => {});
      throw new Error("timed out");
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

class MiniSocket {
  #buffer: Uint8Array = new Uint8Array(0);
  closed = false;
  constructor(readonly conn: Deno.TcpConn, rest: Uint8Array) {
    this.#buffer = rest;
  }

  /** Sends a text frame and waits for the echo (text frame), skipping pings. */
  async echo(text: string, ms = 2_000): Promise<string> {
    await this.conn.write(encodeFrame(TEXT, encoder.encode(text)));
    const chunk = new Uint8Array(4096);
    for (;;) {
      const frame = this.#frame();
      if (frame !== null) {
        if (frame.opcode === TEXT) return decoder.decode(frame.payload);
        if (frame.opcode === 0x8) throw new Error(`closed by the server`);
        continue;
      }
      const n = await readWithin(this.conn, chunk, ms);
      if (n === null) throw new Error("EOF");
      const next = new Uint8Array(this.#buffer.length + n);
      next.set(this.#buffer);
      next.set(chunk.subarray(0, n), this.#buffer.length);
      this.#buffer = next;
    }
  }

  #frame(): { opcode: number; payload: Uint8Array } | null {
    const b = this.#buffer;
    if (b.length < 2) return null;
    let length = b[1]! & 0x7f;
    let at = 2;
    if (length === 126) {
      if (b.length < 4) return null;
      length = (b[2]! << 8) | b[3]!;
      at = 4;
    } else if (length === 127) throw new Error("unexpected large frame");
    if (b.length < at + length) return null;
    this.#buffer = b.slice(at + length);
    return { opcode: b[0]! & 0xf, payload: b.slice(at, at + length) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch {
      // already closed by a timeout
    }
  }
}

/** One upgrade attempt with a deadline: open, refused with a status, or failed. */
async function attempt(port: number, ms = 2_000): Promise<Attempt> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (error) {
    return { kind: "failed", error: String(error) };
  }
  try {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await conn.write(encoder.encode(
      `GET /echo/a HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    let head = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    for (;;) {
      const n = await readWithin(conn, chunk, ms);
      if (n === null) throw new Error("EOF before the response");
      const next = new Uint8Array(head.length + n);
      next.set(head);
      next.set(chunk.subarray(0, n), head.length);
      head = next;
      const text = decoder.decode(head);
      const end = text.indexOf("\r\n\r\n");
      if (end === -1) continue;
      const status = Number(text.split(" ")[1]);
      if (status !== 101) {
        conn.close();
        return { kind: "refused", status };
      }
      return {
        kind: "open",
        ws: new MiniSocket(conn, head.slice(encoder.encode(text.slice(0, end + 4)).length)),
      };
    }
  } catch (error) {
    try {
      conn.close();
    } catch {
      // closed by the timeout
    }
    return { kind: "failed", error: String(error) };
  }
}

/** `n` attempts, `parallel` at a time. */
async function connectMany(port: number, n: number, parallel: number): Promise<Attempt[]> {
  const out: Attempt[] = [];
  for (let i = 0; i < n; i += parallel) {
    const batch = Math.min(parallel, n - i);
    out.push(...await Promise.all(Array.from({ length: batch }, () => attempt(port))));
  }
  return out;
}

function tally(attempts: readonly Attempt[]) {
  const open = attempts.filter((a) => a.kind === "open").map((a) => (a as { ws: MiniSocket }).ws);
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const a of attempts) {
    if (a.kind === "refused") statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    if (a.kind === "failed") {
      const key = a.error.replace(/\d+/g, "#").slice(0, 60);
      errors[key] = (errors[key] ?? 0) + 1;
    }
  }
  return { open, statuses, errors };
}

/** Retries an upgrade until one is accepted (the listener comes back with backoff ≤ 2 s). */
async function connectAgain(port: number, tries = 40): Promise<MiniSocket> {
  let last: Attempt | null = null;
  for (let i = 0; i < tries; i++) {
    last = await attempt(port, 1_000);
    if (last.kind === "open") return last.ws;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no connection accepted again: ${JSON.stringify(last)}`);
}

async function stats(ws: MiniSocket): Promise<{ connections: number; fds: number }> {
  return JSON.parse(await ws.echo("stats"));
}

// ---- tests ------------------------------------------------------------------------------------

Deno.test({
  name:
    "at ulimit -n 64 with a high cap, 100 clients: the process lives, accepted sockets echo, and it accepts again after clients leave",
  async fn() {
    const fixture = await startFixture({ MAX_CONNECTIONS: "10000" });
    const sockets: MiniSocket[] = [];
    try {
      const started = performance.now();
      const attempts = await connectMany(fixture.port, CLIENTS, 10);
      const { open, statuses, errors } = tally(attempts);
      sockets.push(...open);
      assert.ok(open.length > 0, "some connections were accepted");
      assert.ok(open.length < CLIENTS, "the open-file limit was reached");
      // The process did not exit.
      const exited = await Promise.race([
        fixture.child.status.then(() => true),
        delayed(50, false),
      ]);
      assert.equal(exited, false, "the fixture is still running");
      // Every accepted socket still echoes.
      const echoes = await Promise.all(open.map((ws, i) => ws.echo(`m${i}`)));
      assert.deepEqual(echoes, open.map((_, i) => `m${i}`));
      const before = await stats(open[0]!);
      // Free descriptors: close all but 5, then a new connection is accepted again.
      for (const ws of open.slice(5)) ws.close();
      const freed = performance.now();
      const again = await connectAgain(fixture.port);
      const reopenMs = performance.now() - freed;
      sockets.push(again);
      assert.equal(await again.echo("again"), "again");
      for (const ws of open.slice(0, 5)) assert.equal(await ws.echo("still"), "still");
      const listenFailures = fixture.stderr().match(/exception listen/g)?.length ?? 0;
      assert.ok(listenFailures > 0, "the listener failed with EMFILE and was re-opened");
      if (REPORT) {
        console.log(JSON.stringify({
          case: "high cap",
          baseFds: fixture.baseFds,
          accepted: open.length,
          statuses,
          errors,
          statsAtLimit: before,
          listenFailures,
          reopenMs: Math.round(reopenMs),
          totalMs: Math.round(performance.now() - started),
        }));
      }
    } finally {
      for (const ws of sockets) ws.close();
      const status = await fixture.stop();
      assert.equal(status.code, 0, fixture.stderr());
    }
  },
});

Deno.test({
  name:
    "at ulimit -n 64 with the default cap, every upgrade beyond the cap gets 503 before descriptors run out",
  async fn() {
    const fixture = await startFixture({});
    const sockets: MiniSocket[] = [];
    try {
      const attempts = await connectMany(fixture.port, CLIENTS, 10);
      const { open, statuses, errors } = tally(attempts);
      sockets.push(...open);
      const exited = await Promise.race([
        fixture.child.status.then(() => true),
        delayed(50, false),
      ]);
      assert.equal(exited, false, "the fixture is still running");
      const echoes = await Promise.all(open.map((ws, i) => ws.echo(`m${i}`)));
      assert.deepEqual(echoes, open.map((_, i) => `m${i}`));
      const atCap = await stats(open[0]!);
      if (REPORT) {
        console.log(JSON.stringify({
          case: "default cap",
          baseFds: fixture.baseFds,
          accepted: open.length,
          statuses,
          errors,
          statsAtCap: atCap,
          listenFailures: fixture.stderr().match(/exception listen/g)?.length ?? 0,
        }));
      }
      assert.ok(open.length > 0, "some connections were accepted");
      assert.deepEqual(statuses, { 503: CLIENTS - open.length }, "every other upgrade got 503");
      assert.deepEqual(errors, {}, "no connection was refused or reset");
      assert.equal(atCap.connections, open.length);
      assert.equal(
        fixture.stderr().match(/exception listen/g),
        null,
        "the listener never hit EMFILE",
      );
      for (const ws of open.slice(1)) ws.close();
      const again = await connectAgain(fixture.port);
      sockets.push(again);
      assert.equal(await again.echo("again"), "again");
    } finally {
      for (const ws of sockets) ws.close();
      const status = await fixture.stop();
      assert.equal(status.code, 0, fixture.stderr());
    }
  },
});

function delayed<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms));
}
