/**
 * Bad input on the wire: for a bounded time, several raw RFC 6455 clients
 * send random frames (any opcode, RSV bits, lengths from zero up, masked or
 * not, fragmented and interleaved, oversized, invalid UTF-8, invalid Close
 * codes, length headers that lie) and raw garbage, while the objects
 * hibernate and wake under them. Afterwards a well-behaved client still gets
 * echoes, no exception reached `onException`, every accepted socket ended
 * with exactly one `webSocketClose` or `webSocketError`, and nothing stray is
 * left in `app.stats()` or in KV.
 *
 * The PRNG is seeded: a failure names its seed; rerun it with
 * `FUZZ_SEED=<seed> deno test -A tests/e2e/fuzz_test.ts`.
 * `FUZZ_MS` changes the duration (default 5000), `FUZZ_REPORT=1` prints the figures.
 */
import assert from "node:assert/strict";
import {
  DurableObject,
  type DurableObjectState,
  type WebSocket,
  WebSocketPair,
  WebSocketRequestResponsePair,
  webSocketResponse,
} from "../../mod.ts";
import { flushNow, hibernateNow } from "../../src/testing/mod.ts";
import { serveApp, until } from "../_helpers.ts";
import {
  BINARY,
  CLOSE,
  closePayload,
  CONTINUATION,
  PING,
  PONG,
  RawClient,
  TEXT,
} from "../_raw_client.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 0x5eed_2026);
const DURATION_MS = Number(Deno.env.get("FUZZ_MS") ?? 5_000);
const WORKERS = 6;
const ROOMS = 3;
const MAX_MESSAGE = 64 * 1024;
const REPORT = Deno.env.get("FUZZ_REPORT") === "1";

/** mulberry32: small, seeded, reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Env {
  /** `env` is frozen by the app: counters live in a mutable object. */
  readonly counts: { accepted: number; messages: number; constructed: number };
  /** Terminal events per socket: "close <code>" or "error <message>". */
  readonly ends: Map<WebSocket, string[]>;
}

class Echo extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    env.counts.constructed++;
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }
  fetch(request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server!, ["fuzz"]);
    server!.serializeAttachment({ n: this.env.counts.accepted });
    this.env.counts.accepted++;
    // Bad handler outcomes too: accepted, then a throw or a refusal instead of the upgrade.
    const fail = new URL(request.url).searchParams.get("fail");
    if (fail === "throw") throw new Error("fuzz: failed after accept");
    if (fail === "refuse") return new Response("refused after accept", { status: 403 });
    return webSocketResponse(client!);
  }
  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
    this.env.counts.messages++;
    ws.send(message);
  }
  webSocketClose(ws: WebSocket, code: number) {
    this.#end(ws, `close ${code}`);
  }
  webSocketError(ws: WebSocket, error: unknown) {
    this.#end(ws, `error ${(error as Error).message.replace(/\d+/g, "#")}`);
  }
  #end(ws: WebSocket, what: string) {
    const list = this.env.ends.get(ws) ?? [];
    list.push(what);
    this.env.ends.set(ws, list);
  }
}

// ---- random frames ----------------------------------------------------------------------------

type Rand = () => number;

function int(rand: Rand, n: number): number {
  return Math.floor(rand() * n);
}

function bytes(rand: Rand, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(rand, 256);
  return out;
}

/** A length: mostly small, sometimes around the 125/126 and 65535/65536 edges or over the cap. */
function length(rand: Rand): number {
  const r = rand();
  if (r < 0.3) return 0;
  if (r < 0.7) return int(rand, 32);
  if (r < 0.8) return 124 + int(rand, 4);
  if (r < 0.9) return 65_534 + int(rand, 4);
  if (r < 0.95) return int(rand, 4096);
  return MAX_MESSAGE + 1 + int(rand, 1024); // over the app's cap: close 1009 + webSocketError
}

function text(rand: Rand, n: number): string {
  let out = "";
  for (let i = 0; i < n; i++) {
    const r = rand();
    out += r < 0.8 ? String.fromCharCode(32 + int(rand, 95)) : r < 0.95 ? "é" : "🦕";
  }
  return out;
}

/** A frame header that lies about its length (up to 2^63), then a few bytes. */
function lyingHeader(rand: Rand): Uint8Array {
  const out = new Uint8Array(14);
  out[0] = 0x80 | int(rand, 16);
  out[1] = 0x80 | 127;
  new DataView(out.buffer).setBigUint64(
    2,
    BigInt(Math.floor(rand() * 2 ** 52)) * BigInt(1 + int(rand, 2048)),
  );
  out.set(bytes(rand, 4), 10);
  return out;
}

const CLOSE_CODES = [
  0,
  999,
  1000,
  1001,
  1002,
  1004,
  1005,
  1006,
  1011,
  1015,
  2999,
  3000,
  4999,
  5000,
  65535,
];

/** One random action on a connection. Returns a label for the report. */
async function act(rand: Rand, c: RawClient): Promise<string> {
  const r = int(rand, 16);
  switch (r) {
    case 0:
    case 1:
      await c.text(rand() < 0.1 ? "ping" : text(rand, length(rand) % 2_000));
      return "text";
    case 2:
      await c.binary(bytes(rand, length(rand)));
      return "binary";
    case 3: // any opcode, including reserved ones
      await c.send(int(rand, 16), bytes(rand, int(rand, 40)), { fin: rand() < 0.8 });
      return "opcode";
    case 4: // reserved bits
      await c.send(rand() < 0.5 ? TEXT : BINARY, bytes(rand, int(rand, 20)), {
        rsv: 1 + int(rand, 7),
      });
      return "rsv";
    case 5: { // a fragmented message, sometimes interleaved with a ping or another data frame
      const first = rand() < 0.5 ? TEXT : BINARY;
      const parts = 1 + int(rand, 4);
      await c.send(first, first === TEXT ? text(rand, int(rand, 50)) : bytes(rand, int(rand, 50)), {
        fin: false,
      });
      for (let i = 0; i < parts; i++) {
        const x = rand();
        if (x < 0.15) await c.ping(bytes(rand, int(rand, 10)));
        else if (x < 0.25) await c.text("interleaved");
        await c.continuation(bytes(rand, int(rand, 50)), { fin: i === parts - 1 && rand() < 0.9 });
      }
      return "fragments";
    }
    case 6:
      await c.send(CONTINUATION, bytes(rand, int(rand, 30)), { fin: rand() < 0.5 });
      return "stray continuation";
    case 7: // unmasked
      await c.send(rand() < 0.5 ? TEXT : BINARY, text(rand, int(rand, 30)), { mask: false });
      return "unmasked";
    case 8: // garbage bytes
      await c.write(bytes(rand, 1 + int(rand, 64)));
      return "garbage";
    case 9: { // a Close with any code and a reason of any length, or a 1-byte payload
      const x = rand();
      const payload = x < 0.1 ? bytes(rand, 1) : closePayload(
        CLOSE_CODES[int(rand, CLOSE_CODES.length)],
        rand() < 0.2 ? bytes(rand, 130) : text(rand, 10),
      );
      await c.send(CLOSE, payload);
      return "close";
    }
    case 10: // control frames: pings/pongs, sometimes over 125 bytes or fragmented
      await c.send(
        rand() < 0.5 ? PING : PONG,
        bytes(rand, rand() < 0.2 ? 126 + int(rand, 10) : int(rand, 20)),
        {
          fin: rand() < 0.9,
        },
      );
      return "control";
    case 11: { // invalid UTF-8 in a text frame
      const b = bytes(rand, 1 + int(rand, 20));
      b[0] = 0xff;
      await c.send(TEXT, b);
      return "invalid utf-8";
    }
    case 12:
      await c.write(lyingHeader(rand));
      return "lying length";
    case 13: // a frame cut short: header says more than what follows
      await c.write(new Uint8Array([0x82, 0x80 | 100, 1, 2, 3, 4, 5, 6]));
      return "cut short";
    default:
      await c.text(`echo ${int(rand, 1000)}`);
      return "echo";
  }
}

// ---- the run ----------------------------------------------------------------------------------

Deno.test(`random frames from ${WORKERS} raw clients for ${DURATION_MS} ms (seed ${SEED}) leave the server healthy and nothing stray`, async () => {
  const env: Env = { counts: { accepted: 0, messages: 0, constructed: 0 }, ends: new Map() };
  await using s = await serveApp({
    objects: { ECHO: Echo },
    env,
    routes: [{ pattern: "/fuzz/:name", object: "ECHO" }],
    maxMessageBytes: MAX_MESSAGE,
    hibernateAfterMs: 1_000,
  });
  const actions: Record<string, number> = {};
  let sessions = 0;
  let refusedHandshakes = 0;
  const deadline = performance.now() + DURATION_MS;

  async function worker(index: number): Promise<void> {
    const rand = prng(SEED + index);
    while (performance.now() < deadline) {
      sessions++;
      let client: RawClient;
      try {
        const r = rand();
        const fail = r < 0.05 ? "?fail=throw" : r < 0.1 ? "?fail=refuse" : "";
        client = await RawClient.connect(s.port, `/fuzz/room${int(rand, ROOMS)}${fail}`);
      } catch {
        refusedHandshakes++;
        continue;
      }
      try {
        const steps = 1 + int(rand, 20);
        for (let i = 0; i < steps && !client.eof; i++) {
          const label = await act(rand, client);
          actions[label] = (actions[label] ?? 0) + 1;
          if (rand() < 0.3) await new Promise((resolve) => setTimeout(resolve, 0));
        }
      } catch {
        // The server already dropped the connection (a protocol error): writes fail.
      } finally {
        if (rand() < 0.5) await client.close(1000).catch(() => {});
        await client.drop();
      }
    }
  }

  // Meanwhile objects are hibernated (when not busy) and woken by the next event,
  // and idle time passes on the manual clock (write-behind flushes, idle timers).
  let hibernated = 0;
  const ticker = (async () => {
    while (performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (const o of s.app.stats().objects) {
        try {
          await hibernateNow(s.app, "ECHO", s.app.env.ECHO.idFromString(o.id));
          hibernated++;
        } catch {
          // busy right now: an event or a wake is in flight
        }
      }
      await s.clock.advance(1_500);
    }
  })();
  await Promise.all([...Array.from({ length: WORKERS }, (_, i) => worker(i)), ticker]);

  const context = `(seed ${SEED})`;
  // Every fuzz socket is gone from the process and from the objects.
  await until(() => s.app.stats().connections === 0, `every fuzz socket gone ${context}`, 2_000);
  assert.deepEqual(
    s.app.stats().objects.map((o) => o.sockets),
    s.app.stats().objects.map(() => 0),
    context,
  );
  // Each accepted socket ended exactly once: one webSocketClose or one webSocketError.
  await until(
    () => env.ends.size === env.counts.accepted,
    `one end event per socket ${context}`,
    2_000,
  );
  const twice = [...env.ends.values()].filter((list) => list.length !== 1);
  assert.deepEqual(twice, [], `sockets with more than one end event ${context}`);
  // Nothing reached onException but the fetch() failures the fuzzer asked for (a throw,
  // or a refusal that closes the accepted socket): protocol errors go to webSocketError only.
  const unexpected = s.exceptions.filter((e) =>
    !(e.context.operation === "fetch" &&
      ((e.error as Error).message === "fuzz: failed after accept" ||
        (e.error as Error).message.startsWith(
          "Cannot keep the WebSocket accepted in ECHO.fetch(): it returned a 403 response",
        )))
  );
  assert.deepEqual(
    unexpected.map((e) => `${e.context.operation}: ${String(e.error)}`),
    [],
    context,
  );

  // A well-behaved client is served as before.
  const good = await s.connect("/fuzz/room0");
  good.socket.send("still here");
  assert.equal(await good.next(), "still here");
  good.socket.send("ping");
  assert.equal(await good.next(), "pong");
  assert.equal(s.app.stats().connections, 1);
  assert.equal(s.app.stats().objects.reduce((n, o) => n + o.sockets, 0), 1, context);

  // KV holds the record of the one open socket and nothing of the closed ones.
  await flushNow(s.app);
  const kinds: Record<string, number> = {};
  for await (const entry of s.kv.list({ prefix: ["dormant", "h"] })) {
    const kind = String(entry.key[4]);
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  assert.equal(kinds.ws, 1, `socket records in KV: ${JSON.stringify(kinds)} ${context}`);
  assert.ok((kinds.ts ?? 0) <= 1, `timestamp records in KV: ${JSON.stringify(kinds)} ${context}`);
  assert.ok(
    hibernated > 0 && env.counts.constructed > ROOMS,
    `objects hibernated and woke ${context}`,
  );

  if (REPORT) {
    const ends: Record<string, number> = {};
    for (const [what] of env.ends.values()) ends[what!] = (ends[what!] ?? 0) + 1;
    console.log(JSON.stringify({
      seed: SEED,
      ms: DURATION_MS,
      sessions,
      accepted: env.counts.accepted,
      refusedHandshakes,
      messagesDelivered: env.counts.messages,
      hibernated,
      instancesBuilt: env.counts.constructed,
      fetchFailures: s.exceptions.length,
      actions,
      ends,
      kv: kinds,
    }));
  }
  await good.close();
});
