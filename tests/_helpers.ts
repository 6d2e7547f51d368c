import { App, type AppOptions, type ObjectClass } from "../mod.ts";
import { ManualClock, type TestClient, testClient } from "../src/testing/mod.ts";
import type { ExceptionContext } from "../src/types.ts";

/** The headers of a complete, valid WebSocket upgrade request (RFC 6455's sample key). */
export const UPGRADE_HEADERS = {
  Upgrade: "websocket",
  Connection: "Upgrade",
  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version": "13",
} as const;

/** A served app on 127.0.0.1:0 with a manual clock and an in-memory KV. */
export interface Served<O extends Record<string, ObjectClass>> {
  app: App<O>;
  clock: ManualClock;
  kv: Deno.Kv;
  port: number;
  exceptions: Array<{ error: unknown; context: ExceptionContext }>;
  url(path: string): string;
  connect(path: string, protocols?: string | string[]): Promise<TestClient>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts an app for a test; dispose it with `await using`. */
export async function serveApp<O extends Record<string, ObjectClass>>(
  options: Omit<AppOptions<O>, "clock" | "kv"> & { kv?: Deno.Kv; clock?: ManualClock },
): Promise<Served<O>> {
  const clock = options.clock ?? new ManualClock();
  const ownKv = options.kv === undefined;
  const kv = options.kv ?? await Deno.openKv(":memory:");
  const exceptions: Served<O>["exceptions"] = [];
  const app = new App<O>({
    onException: (error, context) => exceptions.push({ error, context }),
    ...options,
    clock,
    kv,
  });
  const served = await serveBuilt(app, ownKv ? () => kv.close() : () => {});
  return { ...served, clock, kv, exceptions };
}

/** A built app served on 127.0.0.1:0, with clients that are closed on dispose. */
export interface ServedApp<A extends App> {
  app: A;
  port: number;
  url(path: string): string;
  connect(path: string, protocols?: string | string[]): Promise<TestClient>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Serves an app that is already built (an example's factory, say); `cleanup` runs last. */
export async function serveBuilt<A extends App>(
  app: A,
  cleanup: () => void = () => {},
): Promise<ServedApp<A>> {
  const controller = new AbortController();
  const server = await app.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    handleSignals: false,
    onListen: () => {},
  });
  const port = server.addr.port;
  const clients: TestClient[] = [];
  return {
    app,
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    async connect(path, protocols) {
      const client = await testClient(`ws://127.0.0.1:${port}${path}`, protocols);
      clients.push(client);
      return client;
    },
    async [Symbol.asyncDispose]() {
      controller.abort();
      await server.finished;
      await Promise.all(clients.map((c) => c.close()));
      // The server side of a socket closes a moment after the client's: wait for it,
      // so no runtime timer of a closing socket (Deno's idle-timeout ping) outlives the test.
      await until(() => app.stats().connections === 0, "server sockets to close");
      // Deno's WebSocket close() arms a zero-delay timer once its Close frame is written,
      // which can be after both close events: let it run before the test ends.
      await new Promise((resolve) => setTimeout(resolve, 0));
      cleanup();
    },
  };
}

/** Waits until `check()` is truthy, polling on real macrotasks (bounded). */
export async function until(check: () => unknown, what = "condition", tries = 500): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

/** A server started as a real process by {@linkcode startServerProcess}. */
export interface ServerProcess {
  readonly child: Deno.ChildProcess;
  /** The port from the listening line. */
  readonly port: number;
  /** The listening line, as printed. */
  readonly line: string;
  /** Everything written to stdout, once the process exited. */
  readonly stdout: Promise<string>;
  /** Everything written to stderr, once the process exited. */
  readonly stderr: Promise<string>;
  /** The exit status; the process is killed (SIGKILL) if it has not exited 20 s after starting. */
  readonly status: Promise<Deno.CommandStatus>;
}

const LISTENING = /Listening on http:\/\/\S+?:(\d+)\/.*/;

/**
 * Runs `deno <args>` (with `env` added to the environment) and waits for a `Listening on http://host:port/` line on stderr.
 * Bounded: a process still running 20 s after it started is killed (only this child).
 */
export async function startServerProcess(
  args: string[],
  env?: Record<string, string>,
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const status = child.status.finally(() => clearTimeout(guard));
  const stdout = new Response(child.stdout).text();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let stderr = "";
  while (!LISTENING.test(stderr)) {
    const { value, done } = await reader.read();
    if (done) {
      await status;
      throw new Error(`exited before listening: ${stderr}${await stdout}`);
    }
    stderr += value;
  }
  const [line, port] = LISTENING.exec(stderr)!;
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return stderr;
      stderr += value;
    }
  })();
  return { child, port: Number(port), line, stdout, stderr: rest, status };
}
