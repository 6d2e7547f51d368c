/**
 * Checks run.ts results against the performance goals (docs/benchmarks.md): one
 * row per goal with the median of per-rep ratios to raw Deno (same rep, same
 * run), its range, the same median over quiet pairs only (both samples with
 * noise ≤ --quiet cores), and for rate tests the ratio of rate per server
 * CPU-second, which is less sensitive to other load on a shared machine.
 *
 *   deno run -A bench/goals.ts bench-results/X-main.json [X-wake.json X-maxconn.json] [--fw fw] [--ref deno] [--quiet 0.25]
 *
 * @module
 */

type Sample = { rep: number; test: string; server: string; r: Record<string, unknown> };

const files: string[] = [];
let fw = "fw";
let ref = "deno";
let quiet = 0.25;
for (let i = 0; i < Deno.args.length; i++) {
  const a = Deno.args[i]!;
  if (a === "--fw") fw = Deno.args[++i]!;
  else if (a === "--ref") ref = Deno.args[++i]!;
  else if (a === "--quiet") quiet = Number(Deno.args[++i]);
  else files.push(a);
}

const samples: Sample[] = [];
for (const [index, file] of files.entries()) {
  const data = JSON.parse(Deno.readTextFileSync(file)) as { samples: Sample[] };
  for (const s of data.samples) samples.push({ ...s, rep: index * 1000 + s.rep });
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};
const f2 = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : "–");

interface Pair {
  a: Record<string, unknown>;
  b: Record<string, unknown>;
}

function pairs(test: string): Pair[] {
  const out: Pair[] = [];
  for (const s of samples) {
    if (s.test !== test || s.server !== fw) continue;
    const r = samples.find((x) => x.test === test && x.server === ref && x.rep === s.rep);
    if (r) out.push({ a: s.r, b: r.r });
  }
  return out;
}

function ratios(ps: Pair[], metric: (r: Record<string, unknown>) => number | null): number[] {
  const out: number[] = [];
  for (const { a, b } of ps) {
    const x = metric(a);
    const y = metric(b);
    if (x !== null && y !== null && y !== 0) out.push(x / y);
  }
  return out;
}

const isQuiet = (p: Pair) => (num(p.a.noise) ?? 0) <= quiet && (num(p.b.noise) ?? 0) <= quiet;
const perCpu = (key: string) => (r: Record<string, unknown>) => {
  const v = num(r[key]);
  const cpu = num(r.server_cpu);
  return v !== null && cpu !== null && cpu > 0 ? v / cpu : null;
};

function row(
  goal: string,
  test: string,
  key: string,
  target: string,
  pass: (x: number) => boolean,
  cpuNormalized = false,
): string {
  const ps = pairs(test);
  const all = ratios(ps, (r) => num(r[key]));
  if (all.length === 0) return `| ${goal} | ${test} ${key} | – | – | – | – | ${target} | no data |`;
  const q = ratios(ps.filter(isQuiet), (r) => num(r[key]));
  const c = cpuNormalized ? ratios(ps, perCpu(key)) : [];
  const m = median(all);
  return `| ${goal} | ${test} ${key} | **${f2(m)}** | ${f2(Math.min(...all))}–${
    f2(Math.max(...all))
  } | ${q.length ? `${f2(median(q))} (n=${q.length})` : "–"} | ${
    cpuNormalized ? f2(median(c)) : "–"
  } | ${target} | ${pass(m) ? "met" : "**not met**"} (n=${all.length}) |`;
}

const lines: string[] = [
  `| # | metric | ratio ${fw}/${ref} (median) | range | quiet pairs | per server CPU-s | goal | verdict |`,
  "|---|---|---:|---:|---:|---:|---|---|",
  row("1", "echo", "rate", "≥ 0.85×", (x) => x >= 0.85, true),
  row("1", "echo", "p99_us", "≤ 1.5×", (x) => x <= 1.5),
  row("2", "autoresp", "rate", "≥ 0.9×", (x) => x >= 0.9, true),
  row("3", "bcast1k", "rate", "≥ 0.85×", (x) => x >= 0.85, true),
  row("3", "bcast10k", "rate", "≥ 0.85×", (x) => x >= 0.85, true),
  row("4", "mem10k", "bytes_per_conn", "≤ 1.2×", (x) => x <= 1.2),
  row("5", "mem10k", "connect_rate", "≥ 0.8×", (x) => x >= 0.8),
  row("7", "wake", "wake_p99_us", "≤ 6×", (x) => x <= 6),
];
const maxconn = samples.filter((s) => s.test === "maxconn");
if (maxconn.length) {
  lines.push("", "maxconn (goal 6):", "");
  lines.push(
    "| server | peak open | open at end | server exited | fd limit | max fds | alive probe | server error |",
  );
  lines.push("|---|---:|---:|---|---:|---:|---|---|");
  for (const s of maxconn) {
    const r = s.r;
    lines.push(
      `| ${s.server} | ${r.peak_open} | ${r.open_at_end} | ${r.server_exited} | ${r.server_fd_limit} | ${r.server_max_fds} | ${r.alive_after} | ${
        String(r.server_error ?? "").slice(0, 60)
      } |`,
    );
  }
}
const cpuCheck = samples.filter((s) => num(s.r.server_cpu) !== null);
if (cpuCheck.length) {
  const low = cpuCheck.filter((s) => (num(s.r.server_cpu) ?? 1) < 0.9).length;
  const busyClient = cpuCheck.filter((s) => (num(s.r.client_cpu) ?? 0) >= 0.9).length;
  const noisy = cpuCheck.filter((s) => (num(s.r.noise) ?? 0) > quiet).length;
  lines.push(
    "",
    `Samples kept: ${cpuCheck.length} with CPU data; server_cpu < 0.9 in ${low}, client_cpu ≥ 0.9 in ${busyClient}, noise > ${quiet} cores in ${noisy}.`,
  );
}
console.log(lines.join("\n"));
