// The attachment codec against `node:v8`, side by side in one run:
//
//   deno run --allow-run --allow-read bench/codec_bench.ts [--calls 100000] [--conns 10000]
//
// Candidates: "js" (src/structured_clone), "v8" (`v8.serialize` / `v8.deserialize`
// per call) and "v8-reused" (one `DefaultSerializer` for every call; a
// `DefaultDeserializer` per call, since a deserializer is built on its input).
// Both node:v8 candidates first walk the value for platform objects, as the
// codec must refuse them and V8 writes them as `{}`.
//
// Each measurement runs in a fresh child process (`--v8-flags=--expose-gc`), so
// that one candidate's native memory does not count against another:
// - memory per call: RSS, external and heap growth over `--calls` encodes of a
//   fresh `{ room, n }` (or decodes of its bytes), without forcing a GC, and the
//   JS heap still held after two forced full GCs;
// - idle bytes per connection: `--conns` holder objects, each keeping the bytes
//   of one encoded attachment, as a connection does; RSS and JS heap + external
//   growth, minus the same holders without an attachment ("none");
// - ops/s: encode of fresh values (built before the clock starts: a reused
//   serializer writes a back-reference for an object it has seen) and decode of
//   one value's bytes; median of 5 rounds.

import { Buffer } from "node:buffer";
import { DefaultDeserializer, DefaultSerializer, deserialize, serialize } from "node:v8";
import { decode } from "../src/structured_clone/decode.ts";
import { encode } from "../src/structured_clone/encode.ts";
import { assertCloneable } from "../src/structured_clone/not_cloneable.ts";

interface Codec {
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

let reused: DefaultSerializer | null = null;

const CODECS: Record<string, Codec> = {
  js: { encode, decode },
  v8: {
    encode(value) {
      assertCloneable(value);
      return serialize(value);
    },
    decode: (bytes) => deserialize(bytes.slice()),
  },
  "v8-reused": {
    encode(value) {
      assertCloneable(value);
      const serializer = reused ??= new DefaultSerializer();
      try {
        serializer.writeHeader();
        serializer.writeValue(value);
        return serializer.releaseBuffer();
      } catch (error) {
        reused = null; // its state is undefined after a failed write
        throw error;
      }
    },
    decode(bytes) {
      const deserializer = new DefaultDeserializer(Buffer.from(bytes));
      deserializer.readHeader();
      return deserializer.readValue();
    },
  },
};

const TEXT_1K = "The quick brown fox jumps over the lazy dog. ".repeat(23).slice(0, 1024);

/** The values measured, each made fresh by its factory. */
const VALUES: Record<string, (i: number) => unknown> = {
  "small { room, n }": (i) => ({ room: `room-${i % 100}`, n: i }),
  "1 KB string record": (i) => ({ id: `u-${i}`, name: "someone", text: TEXT_1K, at: 1.7e12 + i }),
  "Map/Date/typed array mix": (i) => ({
    seen: new Map<string, number>([["alice", i], ["bob", 2]]),
    at: new Date(1.7e12 + i),
    bytes: new Uint8Array(32).fill(i & 0xff),
    scores: new Float64Array([0.5, i, -1, 2]),
  }),
  "storage value (20 messages)": (i) => ({
    messages: Array.from({ length: 20 }, (_, k) => ({
      from: `user${k}`,
      text: `hello there, message ${i + k}`,
      ts: 1.7e12 + i + k,
    })),
  }),
};
const ITERATIONS: Record<string, number> = {
  "small { room, n }": 40_000,
  "1 KB string record": 20_000,
  "Map/Date/typed array mix": 10_000,
  "storage value (20 messages)": 4_000,
};

const gc = (globalThis as { gc?: () => void }).gc;

function fullGc(): void {
  if (!gc) throw new Error("run the child with --v8-flags=--expose-gc");
  gc();
  gc();
}

type Usage = ReturnType<typeof Deno.memoryUsage>;
const delta = (after: Usage, before: Usage, n: number) => ({
  rss: (after.rss - before.rss) / n,
  external: (after.external - before.external) / n,
  heap: (after.heapUsed - before.heapUsed) / n,
});

/** Keeps results reachable, so that no loop is optimized away. */
const sink: { value: unknown } = { value: null };

/** Memory growth per call, without a forced GC and after one. */
function memory(codec: Codec, direction: string, calls: number) {
  const bytes = codec.encode({ room: "room-42", n: 12345 });
  fullGc();
  const before = Deno.memoryUsage();
  if (direction === "encode") {
    for (let i = 0; i < calls; i++) sink.value = codec.encode({ room: `room-${i % 100}`, n: i });
  } else {
    for (let i = 0; i < calls; i++) sink.value = codec.decode(bytes);
  }
  const after = Deno.memoryUsage();
  sink.value = null;
  fullGc();
  return { noGc: delta(after, before, calls), afterGc: delta(Deno.memoryUsage(), before, calls) };
}

/** Growth per held attachment: `conns` holders, each with its own encoded bytes. */
function idle(codec: Codec | null, conns: number) {
  fullGc();
  const before = Deno.memoryUsage();
  const holders: { id: number; attachment: Uint8Array | null }[] = [];
  for (let i = 0; i < conns; i++) {
    holders.push({
      id: i,
      attachment: codec ? codec.encode({ room: `room-${i % 100}`, n: i }) : null,
    });
  }
  const after = Deno.memoryUsage();
  fullGc();
  const afterGc = Deno.memoryUsage();
  sink.value = holders;
  return { noGc: delta(after, before, conns), afterGc: delta(afterGc, before, conns) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Encode and decode ops/s per value: median of 5 rounds. */
function speed(codec: Codec) {
  const result: Record<string, { encode: number; decode: number }> = {};
  for (const [name, make] of Object.entries(VALUES)) {
    const n = ITERATIONS[name]!;
    const bytes = codec.encode(make(7));
    const enc: number[] = [];
    const dec: number[] = [];
    for (let round = 0; round < 6; round++) {
      const values = Array.from({ length: n }, (_, i) => make(i + round * n));
      fullGc();
      let start = performance.now();
      for (let i = 0; i < n; i++) sink.value = codec.encode(values[i]);
      const encodeMs = performance.now() - start;
      fullGc();
      start = performance.now();
      for (let i = 0; i < n; i++) sink.value = codec.decode(bytes);
      const decodeMs = performance.now() - start;
      if (round > 0) { // round 0 warms up
        enc.push(n / encodeMs * 1000);
        dec.push(n / decodeMs * 1000);
      }
    }
    result[name] = { encode: median(enc), decode: median(dec) };
  }
  return result;
}

/** What each candidate does with the cases where they differ. */
function correctness(codec: Codec) {
  const attempt = (fn: () => unknown) => {
    try {
      return JSON.stringify(fn());
    } catch (error) {
      return `${(error as Error).name}: ${(error as Error).message.slice(0, 40)}`;
    }
  };
  const state = { room: "a", n: 1 };
  codec.encode(state);
  return {
    "same object encoded twice, 2nd decodes to": attempt(() => codec.decode(codec.encode(state))),
    "a URL": attempt(() => codec.encode({ url: new URL("https://example.com/") })),
    "bytes of { room, n }": codec.encode({ room: "room-42", n: 12345 }).byteLength,
  };
}

// ---- child -------------------------------------------------------------------------------------

const args = Deno.args;
const flag = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};

if (args[0] === "--child") {
  const [, measure, name] = args;
  const codec = name === "none" ? null : CODECS[name!]!;
  const calls = flag("--calls", 100_000);
  const conns = flag("--conns", 10_000);
  let out: unknown;
  if (measure === "idle") out = idle(codec, conns);
  else if (measure === "speed") out = speed(codec!);
  else out = memory(codec!, measure!, calls);
  console.log(JSON.stringify(out));
  Deno.exit(0);
}

// ---- parent ------------------------------------------------------------------------------------

async function child(measure: string, name: string): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      "--allow-read",
      new URL(import.meta.url).pathname,
      "--child",
      measure,
      name,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

type Delta = { rss: number; external: number; heap: number };
const f = (n: number) => n.toFixed(0);
const kops = (n: number) => (n / 1000).toFixed(0);
const names = Object.keys(CODECS);

console.log(`Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${new Date().toISOString()}`);
console.log(`calls ${flag("--calls", 100_000)}, conns ${flag("--conns", 10_000)}\n`);

console.log(
  "| memory per call (bytes) | RSS, no GC | external, no GC | heap, no GC | heap after GC |",
);
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const direction of ["encode", "decode"]) {
  for (const name of names) {
    const r = await child(direction, name) as { noGc: Delta; afterGc: Delta };
    console.log(
      `| ${direction} ${name} | ${f(r.noGc.rss)} | ${f(r.noGc.external)} | ${f(r.noGc.heap)} | ${
        f(r.afterGc.heap)
      } |`,
    );
  }
}

console.log(
  "\n| per held attachment (bytes) | RSS, no GC | heap+ext, no GC | RSS after GC | heap+ext after GC |",
);
console.log("| --- | ---: | ---: | ---: | ---: |");
const none = await child("idle", "none") as { noGc: Delta; afterGc: Delta };
for (const name of names) {
  const r = await child("idle", name) as { noGc: Delta; afterGc: Delta };
  const minus = (a: Delta, b: Delta) => [a.rss - b.rss, a.heap + a.external - b.heap - b.external];
  const [rss, js] = minus(r.noGc, none.noGc);
  const [rssGc, jsGc] = minus(r.afterGc, none.afterGc);
  console.log(`| ${name} | ${f(rss!)} | ${f(js!)} | ${f(rssGc!)} | ${f(jsGc!)} |`);
}

console.log("\n| kops/s (encode / decode) | " + names.join(" | ") + " |");
console.log("| --- |" + names.map(() => " ---: |").join(""));
const speeds: Record<string, Record<string, { encode: number; decode: number }>> = {};
for (const name of names) speeds[name] = await child("speed", name) as typeof speeds[string];
for (const value of Object.keys(VALUES)) {
  const cells = names.map((name) => {
    const s = speeds[name]![value]!;
    return `${kops(s.encode)} / ${kops(s.decode)}`;
  });
  console.log(`| ${value} | ${cells.join(" | ")} |`);
}

console.log("\n| behaviour | " + names.join(" | ") + " |");
console.log("| --- |" + names.map(() => " --- |").join(""));
const checks = names.map((name) => correctness(CODECS[name]!));
for (const key of Object.keys(checks[0]!)) {
  console.log(
    `| ${key} | ${checks.map((c) => String(c[key as keyof typeof c])).join(" | ")} |`,
  );
}
