#!/usr/bin/env bash
# Runs the WebSocket benchmark harness (a folder outside this repository, BENCH_DIR):
# the framework's bench app (bench/app.ts) against raw Deno in the same run, then
# summarizes into bench-results/.
#
#   deno task bench                 # from the repo root
#   REPS=1 bash bench/run.sh        # quick pass
#
# Env:
#   BENCH_DIR   the benchmark harness folder, with run.ts and summarize.ts
#               (default: shared/bench in the folder that holds this repository)
#   REPS        reps of echo,autoresp,bcast1k,bcast10k,mem10k (default 5)
#   WAKE_REPS   reps of wake; 0 skips it          (default: REPS)
#   MAXCONN     1 also runs maxconn once (--reps 1 --retries 0)  (default 0)
#   TESTS       the main test list                (default echo,autoresp,bcast1k,bcast10k,mem10k)
#   OUT         result name prefix                (default bench-results/<UTC stamp>)
#   DENO        the Deno binary                   (default: deno on PATH)
#   LOADGEN     the load generator binary, built there if missing
#               (default ${XDG_CACHE_HOME:-~/.cache}/ws-bench/loadgen-dormant, so BENCH_DIR stays untouched)
# Extra arguments are passed to run.ts (e.g. --no-pin, --noise-max 0.3).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR="${BENCH_DIR:-$(cd .. && pwd)/shared/bench}"
REPS="${REPS:-5}"
WAKE_REPS="${WAKE_REPS:-$REPS}"
MAXCONN="${MAXCONN:-0}"
TESTS="${TESTS:-echo,autoresp,bcast1k,bcast10k,mem10k}"
DENO="${DENO:-$(command -v deno)}"
export DENO
export LOADGEN="${LOADGEN:-${XDG_CACHE_HOME:-$HOME/.cache}/ws-bench/loadgen-dormant}"
mkdir -p "$(dirname "$LOADGEN")"
OUT="${OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}"
FW="exec deno run -A bench/app.ts {port}" # exec: SIGTERM reaches deno, not sh

if [ ! -f "$BENCH_DIR/run.ts" ]; then
  echo "bench/run.sh: no run.ts in $BENCH_DIR (set BENCH_DIR)" >&2
  exit 2
fi
mkdir -p "$(dirname "$OUT")"

run() { # name, tests, reps, extra run.ts args...
  local name="$1" tests="$2" reps="$3"
  shift 3
  echo "== $tests × $reps reps → $OUT-$name.json ($(date -u +%H:%M:%S))" >&2
  local t0=$SECONDS
  "$DENO" run -A "$BENCH_DIR/run.ts" --servers deno --server "fw=$FW" \
    --tests "$tests" --reps "$reps" --out "$OUT-$name" "$@"
  echo "== $name took $((SECONDS - t0)) s" >&2
  files+=("$OUT-$name.json")
}

files=()
{
  echo "# bench $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); $("$DENO" --version | head -1)"
  echo
} >"$OUT.md"

[ "$REPS" -gt 0 ] && run main "$TESTS" "$REPS" "$@"
[ "$WAKE_REPS" -gt 0 ] && run wake wake "$WAKE_REPS" "$@"
[ "$MAXCONN" = 1 ] && run maxconn maxconn 1 "$@" --retries 0

for f in "${files[@]}"; do
  "$DENO" run -A "$BENCH_DIR/summarize.ts" "$f" --ref deno >>"$OUT.md"
done
{
  echo
  echo "## Goals (ratios fw / raw Deno, per-rep, same run)"
  echo
  "$DENO" run -A bench/goals.ts "${files[@]}"
} >>"$OUT.md"
cat "$OUT.md"
echo "wrote $OUT.md" >&2
