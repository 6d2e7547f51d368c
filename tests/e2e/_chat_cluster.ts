/**
 * The chat example run as a cluster of real processes, for the cluster chat
 * tests: chat servers started (`deno run` main.ts, or `deno serve --parallel`
 * through parallel.ts) and stopped by the PID this harness started, and chat
 * members on raw WebSockets (the handshake's `x-chat-node` header says which
 * isolate a socket landed on under `deno serve`).
 */
import assert from "node:assert/strict";
import { CLOSE, closeOf, RawClient, TEXT, textOf } from "../_raw_client.ts";

const CHAT = new URL("../../examples/chat/", import.meta.url).pathname;
const LISTENING = /Listening on http:\/\/\S+?:(\d+)\//;

/** A chat server process. */
export interface ChatProcess {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** Everything written to stdout and stderr, once the process exited. */
  readonly output: Promise<string>;
  readonly status: Promise<Deno.CommandStatus>;
}

/**
 * Starts `examples/chat/main.ts` (or `parallel.ts` with `parallel: true`) on
 * a free port with `env` added; waits for its listening line. Killed
 * (SIGKILL, this child only) if still running after `guardMs`.
 */
export async function startChat(
  env: Record<string, string>,
  { parallel = false, guardMs = 60_000 } = {},
): Promise<ChatProcess> {
  const args = parallel
    ? ["run", "--allow-env", "--allow-run", "--allow-read", `${CHAT}parallel.ts`]
    : ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-write", `${CHAT}main.ts`];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env: { PORT: "0", DORMANT_HOSTNAME: "127.0.0.1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
  }, guardMs);
  const status = child.status.finally(() => clearTimeout(guard));
  const stdout = new Response(child.stdout).text();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let stderr = "";
  while (!LISTENING.test(stderr)) {
    const { value, done } = await reader.read();
    if (done) {
      await status;
      throw new Error(`chat exited before listening: ${stderr}${await stdout}`);
    }
    stderr += value;
  }
  const port = Number(LISTENING.exec(stderr)![1]);
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return stderr;
      stderr += value;
    }
  })();
  const output = Promise.all([stdout, rest]).then(([out, err]) => out + err);
  return { child, pid: child.pid, port, output, status };
}

/** Stops a chat process with `signal` and waits for it (and its output). */
export async function stopChat(chat: ChatProcess, signal: Deno.Signal = "SIGTERM") {
  try {
    chat.child.kill(signal);
  } catch { /* already exited */ }
  const status = await chat.status;
  await chat.output;
  return status;
}

/** Any event the room sends. */
// deno-lint-ignore no-explicit-any
export type Event = { type: string; [key: string]: any };

/** One person in a room, on a raw WebSocket. */
export class Member {
  readonly name: string;
  readonly port: number;
  /** The isolate that accepted the socket (`x-chat-node`), when the server says. */
  readonly node: string | null;
  /** Texts of every chat line this member saw, in order. */
  readonly seen: string[] = [];
  /** The close code once the server closed the socket (null: TCP dropped without one). */
  closed: { code: number | null } | undefined;
  readonly #client: RawClient;
  readonly #buffer: Event[] = [];

  private constructor(name: string, port: number, client: RawClient) {
    this.name = name;
    this.port = port;
    this.#client = client;
    this.node = client.headers.get("x-chat-node");
  }

  /** Joins `room` on the server at `port` (the handshake only). */
  static async join(port: number, room: string, name: string): Promise<Member> {
    const client = await RawClient.connect(port, `/rooms/${room}/ws?name=${name}`);
    return new Member(name, port, client);
  }

  /** The next event (pings skipped); undefined once the socket closed. */
  async next(): Promise<Event | undefined> {
    const buffered = this.#buffer.shift();
    if (buffered !== undefined) return buffered;
    for (;;) {
      if (this.closed !== undefined) return undefined;
      const frame = await this.#client.next();
      if (frame === null) {
        this.closed ??= { code: null };
        return undefined;
      }
      if (frame.opcode === CLOSE) {
        this.closed = { code: closeOf(frame).code };
        return undefined;
      }
      if (frame.opcode !== TEXT) continue;
      const event = JSON.parse(textOf(frame)) as Event;
      if (event.type === "message") this.seen.push(event.text);
      return event;
    }
  }

  /** Reads events until one matches; fails if the socket closes first. */
  async until(what: string, match: (event: Event) => boolean): Promise<Event> {
    for (;;) {
      const event = await this.next();
      if (event === undefined) {
        throw new Error(`${this.name} closed (${this.closed?.code}) while waiting for ${what}`);
      }
      if (match(event)) return event;
    }
  }

  /** Waits for a presence list of exactly `names`. */
  presence(names: string[]): Promise<Event> {
    const want = [...names].sort().join(",");
    return this.until(
      `presence ${want}`,
      (e) =>
        e.type === "presence" &&
        e.users.map((u: { name: string }) => u.name).sort().join(",") === want,
    );
  }

  /** Waits for the chat line `text`. */
  line(text: string): Promise<Event> {
    return this.until(`line ${text}`, (e) => e.type === "message" && e.text === text);
  }

  /** Sends a chat line. */
  say(text: string): Promise<void> {
    return this.#client.text(JSON.stringify({ type: "message", text }));
  }

  /** Reads events until the socket closes; returns its close code. */
  async closeCode(): Promise<number | null> {
    while ((await this.next()) !== undefined) { /* drain */ }
    return this.closed!.code;
  }

  /** Closes the socket (1000) and drops the connection. */
  async leave(): Promise<void> {
    if (this.closed === undefined) await this.#client.close(1000).catch(() => {});
    await this.#client.drop();
  }
}

/** Joins and returns the member with the history it was given. */
export async function joinWithHistory(
  port: number,
  room: string,
  name: string,
): Promise<{ member: Member; history: string[] }> {
  const member = await Member.join(port, room, name);
  const history = await member.until("history", (e) => e.type === "history");
  return { member, history: history.messages.map((m: { text: string }) => m.text) };
}

/** Retries `fn` (a handshake refused with 503 while a room changes owner) for up to `ms`. */
export async function retrying<T>(fn: () => Promise<T>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Deno.env.get("CHAT_DEBUG")) console.log(`retry: ${error}`);
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Asserts every acknowledged line (one that appeared to a client) is in
 * `history`; returns the lines kept more than once (delivery to a new owner is
 * at least once).
 */
export function assertAllKept(history: string[], acknowledged: Iterable<string>): string[] {
  const twice: string[] = [];
  for (const text of new Set(acknowledged)) {
    const count = history.filter((h) => h === text).length;
    assert.ok(count >= 1, `"${text}" appeared to a client, so it is in the history`);
    if (count > 1) twice.push(text);
  }
  return twice;
}
