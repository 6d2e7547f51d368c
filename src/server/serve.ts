/**
 * The only `Deno.serve` call in the package. Raw `Deno.serve` dies at the
 * open-file limit: its `finished` promise rejects with "Too many open files"
 * and nothing handles it (deno-platform §11). Here that rejection is caught,
 * every open socket is kept, and the listener comes back with backoff.
 *
 * @module
 */

import { granted } from "../kv/process_info.ts";
import { delay } from "../clock.ts";

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
