/**
 * Runs `fixtures/transport_node.ts` as a subprocess (`deno serve --parallel`
 * or `deno run`) and collects the messages its nodes print.
 */

const FIXTURE = new URL("./fixtures/transport_node.ts", import.meta.url).pathname;

/** One message a fixture node received. */
export interface Received {
  to: string;
  from: string;
  text: string;
  at: number;
}

/** A running fixture process. */
export class NodeProcess implements AsyncDisposable {
  readonly received: Received[] = [];
  readonly ready: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #pump: Promise<void>;
  #wake: (() => void) | null = null;

  constructor(args: string[], env: Record<string, string>) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [...args, FIXTURE],
      // Only what the fixture needs: under `npx deno …` (the README's test command) npm exports
      // NODE=/path/to/node, and with it set the isolates of Deno 2.9.6's `deno serve --parallel`
      // never receive each other's BroadcastChannel messages (measured).
      clearEnv: true,
      env: { ...inherited(), NO_COLOR: "1", ...env },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#pump = this.#read();
  }

  /** `deno serve --parallel` with `jobs` workers. */
  static parallel(jobs: number, env: Record<string, string>): NodeProcess {
    return new NodeProcess(
      ["serve", "--parallel", "--allow-all", "--unstable-kv", "--host", "127.0.0.1", "--port", "0"],
      { DENO_JOBS: String(jobs), ...env },
    );
  }

  /** One `deno run` process. */
  static single(env: Record<string, string>): NodeProcess {
    return new NodeProcess(["run", "--allow-all", "--unstable-kv"], env);
  }

  async #read(): Promise<void> {
    let buffer = "";
    for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const json = line.slice(line.indexOf("{"));
        if (!json.startsWith("{")) continue;
        const parsed = JSON.parse(json);
        if (typeof parsed.ready === "string") this.ready.push(parsed.ready);
        else this.received.push(parsed as Received);
        this.#wake?.();
      }
    }
  }

  /** The numbered messages ("<id>#<i>") `to` received from `from`, in arrival order. */
  numbered(from: string, to: string): number[] {
    return this.received.filter((m) =>
      m.from === from && m.to === to && m.text.startsWith(`${from}#`)
    )
      .map((m) => Number(m.text.slice(from.length + 1)));
  }

  /**
   * Resolves once `done()` holds, re-checked after every line printed; rejects
   * (with what arrived) when the process prints nothing for `quietMs`.
   */
  async until(done: () => boolean, quietMs = 30_000): Promise<void> {
    while (!done()) {
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      this.#wake = resolve;
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `Nothing printed for ${quietMs} ms: ${this.ready.length} ready, ${this.received.length} received`,
            ),
          ),
        quietMs,
      );
      try {
        await promise;
      } finally {
        clearTimeout(timer);
      }
    }
    this.#wake = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // SIGKILL: `deno serve --parallel` kept running after SIGTERM in our runs.
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#child.status;
    await this.#pump;
  }
}

/** PATH, HOME and Deno's own settings of this process (`DENO_DIR`, …). */
function inherited(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(Deno.env.toObject())) {
    if (key === "PATH" || key === "HOME" || key.startsWith("DENO_")) out[key] = value;
  }
  return out;
}
