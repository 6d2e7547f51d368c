/**
 * Backpressure against a peer that never reads (Deno's `bufferedAmount` grows
 * without bound, so the framework caps it: `maxBufferedBytes`). A raw
 * TCP client completes the handshake and then stops reading; the object sends
 * 1 MiB messages to it. With `backpressure: "close"` the socket is closed with
 * 1013 and memory stays bounded; with `"drop"` the messages are dropped and
 * the socket stays open; a broadcast to [slow, fast] still reaches the fast
 * client in full. Messages the output gate holds (each send after a write
 * that is not awaited) count against the same cap.
 *
 * Rerun: `deno test -A tests/sockets/server_socket_test.ts` (set
 * `BACKPRESSURE_REPORT=1` to print the figures in docs/reliability.md).
 */
import assert from "node:assert/strict";
import { DurableObject, type WebSocket, WebSocketPair, webSocketResponse } from "../../mod.ts";
import { serveApp, until } from "../_helpers.ts";
import type { TestClient } from "../../src/testing/mod.ts";
import { interceptKv } from "../_intercept_kv.ts";

const MIB = 1024 * 1024;
const CAP = 4 * MIB;
const FLOOD = 256; // 256 MiB offered: far above the 200 MiB memory bound if nothing capped it
const REPORT = Deno.env.get("BACKPRESSURE_REPORT") === "1";

interface FloodReport {
  sent: number;
  maxBuffered: number;
  readyState: number;
  listed: boolean;
  rssDelta: number;
}

interface Env {
  readonly closes: Array<[number, string, boolean]>;
  /** Reports of "gated" floods (sent here: a reply would wait for the held writes). */
  readonly reports: FloodReport[];
}

function macrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** `?role=slow|fast` becomes the socket's tag; commands arrive from the fast client. */
class Hub extends DurableObject<Env> {
  fetch(request: Request): Response {
    const role = new URL(request.url).searchParams.get("role") ?? "fast";
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server!, [role]);
    return webSocketResponse(client!);
  }

  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
    const [command, arg] = String(message).split(" ");
    if (command === "flood") {
      // 1 MiB messages to the slow socket only, yielding so Deno can write.
      const slow = this.ctx.getWebSockets("slow")[0]!;
      const payload = new Uint8Array(MIB).fill(7);
      const rss = Deno.memoryUsage().rss;
      let maxBuffered = 0;
      for (let i = 0; i < FLOOD; i++) {
        slow.send(payload);
        maxBuffered = Math.max(maxBuffered, slow.bufferedAmount);
        await macrotask();
      }
      const report: FloodReport = {
        sent: FLOOD,
        maxBuffered,
        readyState: slow.readyState,
        listed: this.ctx.getWebSockets().includes(slow),
        rssDelta: Deno.memoryUsage().rss - rss,
      };
      ws.send(JSON.stringify(report));
    } else if (command === "gated") {
      // As "flood", but each send follows a write that is not awaited (the output gate holds it).
      const slow = this.ctx.getWebSockets("slow")[0]!;
      const payload = new Uint8Array(MIB).fill(7);
      const n = Number(arg);
      const rss = Deno.memoryUsage().rss;
      let maxBuffered = 0;
      for (let i = 0; i < n; i++) {
        this.ctx.storage.put("n", i);
        slow.send(payload);
        maxBuffered = Math.max(maxBuffered, slow.bufferedAmount);
        await macrotask();
      }
      this.env.reports.push({
        sent: n,
        maxBuffered,
        readyState: slow.readyState,
        listed: this.ctx.getWebSockets().includes(slow),
        rssDelta: Deno.memoryUsage().rss - rss,
      });
    } else if (command === "after") {
      // Once the slow peer drained what was queued, a message reaches it again.
      const slow = this.ctx.getWebSockets("slow")[0]!;
      for (let i = 0; i < 400 && slow.bufferedAmount > 0; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      slow.send("after");
      ws.send(`sent after, buffered ${slow.bufferedAmount}`);
    } else if (command === "broadcast") {
      // Numbered 1 MiB messages to every open socket.
      const n = Number(arg);
      for (let i = 0; i < n; i++) {
        const payload = new Uint8Array(MIB);
        new DataView(payload.buffer).setUint32(0, i);
        for (const peer of this.ctx.getWebSockets()) peer.send(payload);
        await macrotask();
      }
    }
  }

  webSocketClose(_ws: WebSocket, code: number, reason: string, wasClean: boolean) {
    this.env.closes.push([code, reason, wasClean]);
  }
}

// ---- a peer that completes the handshake and then reads nothing until told to -----------------

interface Drained {
  binaryFrames: number;
  binaryBytes: number;
  texts: string[];
  close: { code: number; reason: string } | null;
}

class SilentPeer {
  readonly #conn: Deno.TcpConn;
  #rest: Uint8Array;

  private constructor(conn: Deno.TcpConn, rest: Uint8Array) {
    this.#conn = conn;
    this.#rest = rest;
  }

  static async connect(port: number, path: string): Promise<SilentPeer> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await conn.write(new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    let head = new Uint8Array(0);
    const chunk = new Uint8Array(1024);
    for (;;) {
      const n = await conn.read(chunk);
      if (n === null) throw new Error("EOF during the handshake");
      const next = new Uint8Array(head.length + n);
      next.set(head);
      next.set(chunk.subarray(0, n), head.length);
      head = next;
      const end = indexOf(head, [13, 10, 13, 10]);
      if (end === -1) continue;
      const status = new TextDecoder().decode(head.subarray(0, 12));
      if (!status.startsWith("HTTP/1.1 101")) throw new Error(`handshake refused: ${status}`);
      return new SilentPeer(conn, head.slice(end + 4));
    }
  }

  /**
   * Starts reading: counts binary frames (payloads are skipped, not kept),
   * keeps text frames, and stops at a Close frame, at `stopAtText`, or at EOF.
   */
  async drain(stopAtText?: string): Promise<Drained> {
    const out: Drained = { binaryFrames: 0, binaryBytes: 0, texts: [], close: null };
    let buffer = this.#rest;
    const chunk = new Uint8Array(256 * 1024);
    let skip = 0; // payload bytes of a binary frame still to skip
    for (;;) {
      if (skip > 0 && buffer.length > 0) {
        const n = Math.min(skip, buffer.length);
        skip -= n;
        buffer = buffer.subarray(n);
      }
      if (skip === 0 && buffer.length >= 2) {
        const header = parseHeader(buffer);
        if (header !== null) {
          const { opcode, length, at } = header;
          if (opcode === 0x2 || opcode === 0x0) {
            out.binaryFrames++;
            out.binaryBytes += length;
            buffer = buffer.subarray(at);
            skip = length;
            continue;
          }
          if (buffer.length >= at + length) {
            const payload = buffer.subarray(at, at + length);
            buffer = buffer.subarray(at + length);
            if (opcode === 0x1) {
              const text = new TextDecoder().decode(payload);
              out.texts.push(text);
              if (text === stopAtText) return out;
            } else if (opcode === 0x8) {
              const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : 1005;
              out.close = { code, reason: new TextDecoder().decode(payload.subarray(2)) };
              return out;
            }
            continue;
          }
        }
      }
      const n = await this.#conn.read(chunk);
      if (n === null) return out;
      const next = new Uint8Array(buffer.length + n);
      next.set(buffer);
      next.set(chunk.subarray(0, n), buffer.length);
      buffer = next;
    }
  }

  /** Sends a masked Close frame with `code`. */
  async sendClose(code: number): Promise<void> {
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const frame = new Uint8Array([
      0x88,
      0x82,
      ...mask,
      (code >> 8) ^ mask[0]!,
      (code & 0xff) ^ mask[1]!,
    ]);
    await this.#conn.write(frame);
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

function parseHeader(b: Uint8Array): { opcode: number; length: number; at: number } | null {
  let length = b[1]! & 0x7f;
  let at = 2;
  if (length === 126) {
    if (b.length < 4) return null;
    length = (b[2]! << 8) | b[3]!;
    at = 4;
  } else if (length === 127) {
    if (b.length < 10) return null;
    length = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
    at = 10;
  }
  return { opcode: b[0]! & 0xf, length, at };
}

function indexOf(bytes: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function serveHub(backpressure: "close" | "drop", kv?: Deno.Kv) {
  const closes: Env["closes"] = [];
  const reports: Env["reports"] = [];
  return serveApp({
    objects: { HUB: Hub },
    env: { closes, reports },
    routes: [{ pattern: "/hub/:name", object: "HUB" }],
    maxBufferedBytes: CAP,
    backpressure,
    kv,
  }).then((s) => Object.assign(s, { closes, reports }));
}

/** A KV whose commits wait while `held` is set, until `release()`. */
function holdingKv(real: Deno.Kv) {
  const waiting: Array<() => void> = [];
  const control = {
    held: false,
    release() {
      control.held = false;
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
  const kv = interceptKv(real, {
    async commit(commit) {
      if (control.held) await new Promise<void>((resolve) => waiting.push(resolve));
      return commit();
    },
  });
  return { kv, control };
}

// ---- tests ------------------------------------------------------------------------------------

Deno.test('backpressure "close": a peer that never reads is closed with 1013 and memory stays bounded', async () => {
  await using s = await serveHub("close");
  const slow = await SilentPeer.connect(s.port, "/hub/a?role=slow");
  try {
    const fast = await s.connect("/hub/a?role=fast");
    fast.socket.send("flood");
    const report = JSON.parse(await fast.next() as string) as FloodReport;
    if (REPORT) console.log(JSON.stringify({ case: "close", ...report }));
    assert.equal(report.readyState, 2, "the slow socket is closing");
    assert.equal(report.listed, false, "it left getWebSockets() at once");
    assert.ok(report.maxBuffered <= CAP + MIB, `bufferedAmount peaked at ${report.maxBuffered}`);
    assert.ok(report.rssDelta < 200 * MIB, `rss grew by ${report.rssDelta}`);
    // Still counted against the cap until the descriptor is really gone.
    assert.equal(s.app.stats().connections, 2);
    assert.equal(s.app.stats().objects[0]!.sockets, 1);
    // The peer finally reads: what was queued, then Close 1013.
    const drained = await slow.drain();
    if (REPORT) console.log(JSON.stringify({ case: "close, drained", ...drained }));
    assert.deepEqual(drained.close, { code: 1013, reason: "Send buffer full" });
    assert.ok(
      drained.binaryFrames < FLOOD,
      `only ${drained.binaryFrames} of ${FLOOD} messages were queued`,
    );
    slow.close();
    await until(() => s.app.stats().connections === 1, "the slow socket's descriptor released");
    // terminate() delivers no webSocketClose; the fast client is untouched.
    assert.deepEqual(s.closes, []);
    fast.socket.send("broadcast 1");
    assert.equal((await fast.next() as ArrayBuffer).byteLength, MIB);
    assert.deepEqual(s.exceptions, []);
  } finally {
    slow.close();
  }
});

Deno.test('backpressure "drop": messages to a peer that never reads are dropped and the socket stays open', async () => {
  await using s = await serveHub("drop");
  const slow = await SilentPeer.connect(s.port, "/hub/a?role=slow");
  try {
    const fast = await s.connect("/hub/a?role=fast");
    fast.socket.send("flood");
    const report = JSON.parse(await fast.next() as string) as FloodReport;
    if (REPORT) console.log(JSON.stringify({ case: "drop", ...report }));
    assert.equal(report.readyState, 1, "the slow socket is still open");
    assert.equal(report.listed, true);
    assert.ok(report.maxBuffered <= CAP + MIB, `bufferedAmount peaked at ${report.maxBuffered}`);
    assert.ok(report.rssDelta < 200 * MIB, `rss grew by ${report.rssDelta}`);
    // The peer reads again: it gets what was queued (not all 256), then new messages.
    const draining = slow.drain("after");
    fast.socket.send("after");
    assert.match(await fast.next() as string, /^sent after/);
    const drained = await draining;
    if (REPORT) console.log(JSON.stringify({ case: "drop, drained", ...drained }));
    assert.ok(
      drained.binaryFrames > 0 && drained.binaryFrames < FLOOD,
      `${drained.binaryFrames} of ${FLOOD} delivered`,
    );
    assert.deepEqual(drained.texts, ["after"]);
    assert.equal(drained.close, null);
    // A clean close from the peer still reaches webSocketClose: the socket was alive.
    await slow.sendClose(1000);
    await until(() => s.closes.length === 1, "webSocketClose for the slow peer");
    assert.deepEqual(s.closes[0], [1000, "", true]);
    assert.deepEqual(s.exceptions, []);
  } finally {
    slow.close();
  }
});

Deno.test("a broadcast of 32 × 1 MiB to [slow, fast] reaches the fast client in full and in order", async () => {
  await using s = await serveHub("close");
  const slow = await SilentPeer.connect(s.port, "/hub/b?role=slow");
  try {
    const fast = await s.connect("/hub/b?role=fast");
    const started = performance.now();
    fast.socket.send("broadcast 32");
    const seen: number[] = [];
    for (let i = 0; i < 32; i++) {
      const message = await fast.next() as ArrayBuffer;
      assert.equal(message.byteLength, MIB);
      seen.push(new DataView(message).getUint32(0));
    }
    const ms = performance.now() - started;
    if (REPORT) {
      console.log(
        JSON.stringify({ case: "broadcast", fastReceived: seen.length, ms: Math.round(ms) }),
      );
    }
    assert.deepEqual(seen, Array.from({ length: 32 }, (_, i) => i));
    const drained = await slow.drain();
    assert.equal(drained.close?.code, 1013);
    assert.ok(drained.binaryFrames < 32);
    assert.deepEqual(s.exceptions, []);
  } finally {
    slow.close();
  }
});

// ---- messages held by the output gate count against the cap ----------------------------------

const GATED = 32;

/**
 * A slow peer and a fast client on one hub; the fast client asks for a flood of `GATED` 1 MiB
 * messages while every KV commit is held, so each message waits in the output gate. `check` gets
 * the flood's report once the commits are released.
 */
async function gatedFlood(
  backpressure: "close" | "drop",
  check: (
    report: FloodReport,
    peers: { s: Awaited<ReturnType<typeof serveHub>>; slow: SilentPeer; fast: TestClient },
  ) => Promise<void>,
): Promise<void> {
  const real = await Deno.openKv(":memory:");
  const { kv, control } = holdingKv(real);
  try {
    await using s = await serveHub(backpressure, kv);
    const slow = await SilentPeer.connect(s.port, "/hub/g?role=slow");
    try {
      const fast = await s.connect("/hub/g?role=fast");
      control.held = true;
      fast.socket.send(`gated ${GATED}`);
      let report: FloodReport;
      try {
        await until(() => s.reports.length === 1, "the gated flood");
        report = s.reports[0]!;
      } finally {
        control.release();
      }
      if (REPORT) console.log(JSON.stringify({ case: `gated ${backpressure}`, ...report }));
      assert.ok(report.maxBuffered <= CAP + MIB, `held + buffered peaked at ${report.maxBuffered}`);
      await check(report, { s, slow, fast });
    } finally {
      slow.close();
    }
  } finally {
    real.close();
  }
}

Deno.test('backpressure "close" applies while writes are pending: messages held by the output gate count, the socket closes 1013', async () => {
  await gatedFlood("close", async (report, { s, slow }) => {
    assert.equal(report.readyState, 2, "closed with 1013 while every write was still pending");
    assert.equal(report.listed, false);
    // The held messages died with the socket: the peer finds only the Close.
    const drained = await slow.drain();
    assert.deepEqual(drained.close, { code: 1013, reason: "Send buffer full" });
    assert.equal(drained.binaryFrames, 0);
    assert.deepEqual(s.closes, []);
    assert.deepEqual(s.exceptions, []);
  });
});

Deno.test('backpressure "drop" applies while writes are pending: held messages over the cap are dropped, the rest arrive once durable', async () => {
  await gatedFlood("drop", async (report, { s, slow, fast }) => {
    assert.equal(report.readyState, 1);
    assert.equal(report.listed, true);
    const draining = slow.drain("after");
    fast.socket.send("after");
    assert.match(await fast.next() as string, /^sent after/);
    const drained = await draining;
    assert.ok(
      drained.binaryFrames > 0 && drained.binaryFrames <= CAP / MIB + 1,
      `${drained.binaryFrames} of ${GATED} delivered`,
    );
    assert.deepEqual(drained.texts, ["after"]);
    assert.deepEqual(s.exceptions, []);
  });
});
