/**
 * The only `Deno.serve` call in the package. Raw `Deno.serve` dies at the
 * open-file limit: its `finished` promise rejects with "Too many open files"
 * and nothing handles it. Here that rejection is caught,
 * every open socket is kept, and the listener comes back with backoff.
 *
 * @module
 */

import type { Report } from "../exception_sink.ts";
import { granted } from "../kv/process_info.ts";
import { delay } from "../clock.ts";

/** Options of {@linkcode App.serve}. */
export interface ServeOptions {
  /** The interface to listen on. @default "0.0.0.0" */
  readonly hostname?: string;
  /** The port; 0 picks any free port. @default 8000 */
  readonly port?: number;
  /** Aborting shuts the server down gracefully (without exiting the process). */
  readonly signal?: AbortSignal;
  /**
   * Called once listening; `() => {}` prints nothing.
   * @default prints `Listening on http://localhost:8000/` to stderr (`localhost` for 0.0.0.0)
   */
  readonly onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Handle SIGINT/SIGTERM: graceful shutdown, then exit 0 (a second signal exits at once).
   * @default the app's `handleSignals`, else true
   */
  readonly handleSignals?: boolean;
  /** How long running handlers get to finish on shutdown. @default 3000 */
  readonly shutdownTimeoutMs?: number;
}

/** A running server. */
export interface Server {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** Resolves after shutdown completed. */
  readonly finished: Promise<void>;
  /** Shuts down gracefully: sockets get 1001 (1012 with `restart`). */
  shutdown(options?: { restart?: boolean }): Promise<void>;
}

/** Options of the listener. */
export interface ListenOptions {
  readonly hostname?: string;
  readonly port?: number;
  /** Aborting stops the listener (graceful shutdown is the caller's). */
  readonly signal?: AbortSignal;
  /** Called once listening. @default prints `Listening on http://localhost:8000/` to stderr */
  readonly onListen?: (addr: Deno.NetAddr) => void;
  /** Called when the listener failed and is being re-opened. */
  readonly onListenError?: (error: unknown, attempt: number) => void;
}

type Handler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** A running listener. */
export interface Listener {
  /** Resolves once the listener stopped for good (after the signal aborted). */
  readonly finished: Promise<void>;
  /** The bound address, once listening. */
  readonly addr: Promise<Deno.NetAddr>;
}

/** Listens until `signal` aborts, re-listening on the same port after failures. */
export function listen(handler: Handler, options: ListenOptions): Listener {
  let resolveAddr!: (addr: Deno.NetAddr) => void;
  const addr = new Promise<Deno.NetAddr>((resolve) => resolveAddr = resolve);
  const finished = (async () => {
    let port = options.port ?? 8000;
    let announced = false;
    for (let attempt = 0; !options.signal?.aborted; attempt++) {
      let server: Deno.HttpServer<Deno.NetAddr>;
      try {
        server = Deno.serve({
          hostname: options.hostname,
          port,
          signal: options.signal,
          onListen(bound) {
            port = bound.port;
            attempt = 0;
            if (!announced) {
              announced = true;
              resolveAddr(bound);
              (options.onListen ?? announce)(bound);
            }
          },
          onError(error) {
            console.error(
              JSON.stringify({ level: "error", msg: "request failed", error: String(error) }),
            );
            return new Response("Internal Server Error", { status: 500 });
          },
        }, handler);
      } catch (error) {
        if (!announced && !isResourceExhaustion(error)) throw error;
        options.onListenError?.(error, attempt);
        await delay(backoff(attempt));
        continue;
      }
      try {
        await server.finished;
        return;
      } catch (error) {
        // "Too many open files": the listener is gone, open sockets are not.
        options.onListenError?.(error, attempt);
        if (options.signal?.aborted) return;
        await delay(backoff(attempt));
      }
    }
  })();
  return { finished, addr };
}

/** What {@linkcode serveApp} serves and shuts down. */
export interface ServedApp {
  /** The app's `handleSignals`, the default of `options.handleSignals`. */
  readonly handleSignals?: boolean;
  /** The app's graceful shutdown. */
  shutdown(restart: boolean): Promise<void>;
  /** Receives listener failures. */
  readonly report: Report;
}

/**
 * Serves `fetch` until shutdown: listens (re-listening after failures),
 * handles SIGINT/SIGTERM unless told not to (graceful shutdown, then exit),
 * and shuts down when `options.signal` aborts.
 */
export async function serveApp(
  fetch: Handler,
  options: ServeOptions,
  app: ServedApp,
): Promise<Server> {
  const controller = new AbortController();
  const listener = listen(fetch, {
    hostname: options.hostname ?? "0.0.0.0",
    port: options.port ?? 8000,
    signal: controller.signal,
    onListen: options.onListen,
    onListenError: (error, attempt) =>
      app.report(error, { namespace: "*", operation: `listen (attempt ${attempt + 1})` }),
  });
  let shutdown: Promise<void> | null = null;
  const stop = (restart: boolean): Promise<void> =>
    shutdown ??= (async () => {
      await app.shutdown(restart);
      controller.abort();
      await listener.finished;
    })();
  let removeSignals = () => {};
  if ((options.handleSignals ?? app.handleSignals) !== false) {
    removeSignals = onTerminationSignal(() => {
      stop(false).then(() => exitProcess(0), () => exitProcess(1));
    });
  }
  if (options.signal?.aborted) void stop(false);
  else options.signal?.addEventListener("abort", () => void stop(false), { once: true });
  const finished = listener.finished.then(async () => {
    removeSignals();
    await shutdown;
  });
  const addr = await Promise.race([listener.addr, listener.finished.then(() => null)]);
  if (addr === null) throw new Error("Cannot serve: the listener stopped before it was bound");
  return { addr, finished, shutdown: (o) => stop(o?.restart ?? false) };
}

/** Where a person reaches the listener: `0.0.0.0` and `::` are reached through `localhost`. */
export function listenUrl(addr: Deno.NetAddr): string {
  const host = addr.hostname === "0.0.0.0" || addr.hostname === "::"
    ? "localhost"
    : addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  return `http://${host}:${addr.port}/`;
}

/** The default `onListen`: one line on stderr, as `Deno.serve` prints it. */
function announce(addr: Deno.NetAddr): void {
  console.error(`Listening on ${listenUrl(addr)}`);
}

function backoff(attempt: number): number {
  return Math.min(2_000, 25 * 2 ** attempt);
}

function isResourceExhaustion(error: unknown): boolean {
  return /too many open files|os error 24|EMFILE/i.test(String(error));
}

/**
 * 90 % of the soft open-file limit from `/proc/self/limits`, else 10,000.
 * The headroom is at least the descriptors already open (the runtime holds
 * about 27 after `deno run` starts serving, more with a KV file) plus 16 for
 * the listener and in-flight requests: at a small limit (`ulimit -n 64`) a
 * plain 90 % would leave no descriptor free, and upgrades beyond the cap
 * would meet EMFILE instead of a 503.
 */
export function defaultConnectionCap(): number {
  // Without --allow-read, reading would throw (or, in a terminal, prompt): ask first.
  if (!granted({ name: "read", path: "/proc/self/limits" })) return 10_000;
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
    if (soft > 0) return Math.max(1, soft - Math.max(Math.ceil(soft / 10), openDescriptors() + 16));
  } catch {
    // No /proc (macOS, Windows) or no read permission.
  }
  return 10_000;
}

function openDescriptors(): number {
  if (!granted({ name: "read", path: "/proc/self/fd" })) return 0;
  try {
    let n = -1; // the directory handle itself
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    return Math.max(0, n);
  } catch {
    return 0;
  }
}

/**
 * Registers SIGINT/SIGTERM (where supported) for one signal; returns the
 * remover. The first signal removes the listeners before `handler` runs, so a
 * second Ctrl-C during a slow shutdown ends the process at once (as under
 * `deno serve`). Where signals cannot be listened to, nothing is registered.
 */
export function onTerminationSignal(handler: (signal: Deno.Signal) => void): () => void {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const listeners: Array<readonly [Deno.Signal, () => void]> = [];
  const remove = () => {
    for (const [signal, listener] of listeners.splice(0)) {
      Deno.removeSignalListener(signal, listener);
    }
  };
  try {
    for (const signal of signals) {
      const listener = () => {
        remove();
        handler(signal);
      };
      Deno.addSignalListener(signal, listener);
      listeners.push([signal, listener]);
    }
  } catch {
    // A worker (`deno serve --parallel`) or a restricted runtime: the default handling stays.
    remove();
  }
  return remove;
}

/** Ends the process (the default after a signal-initiated shutdown). */
export function exitProcess(code: number): never {
  Deno.exit(code);
}
