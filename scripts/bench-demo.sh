#!/usr/bin/env bash
# Benchmark for the walking skeleton's figures (BENCHMARKS.md):
#   1. `fathom demo` end to end (generation included), once;
#   2. the same job without generation (`fathom run examples/demo.toml` on the demo data),
#      RUNS times (default 3), reporting the median of each stage and of the whole job.
# Usage: bash scripts/bench-demo.sh [RUNS]    (data goes to $FATHOM_BENCH_DIR, default /tmp/fathom-bench)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-3}"
dir="${FATHOM_BENCH_DIR:-/tmp/fathom-bench}"
cargo build --release -p fathom-client --manifest-path "$repo/Cargo.toml"
fathom="$repo/target/release/fathom"
mkdir -p "$dir"
cd "$dir"

echo "== fathom demo (generation + job), cores: $(nproc)"
start=$(date +%s%N)
"$fathom" demo --dir fathom-demo | tee demo.txt
end=$(date +%s%N)
echo "demo wall time: $(( (end - start) / 1000000 )) ms"

echo "== fathom run examples/demo.toml x $runs (no generation)"
for run in $(seq 1 "$runs"); do
  rm -rf fathom-demo/lake
  "$fathom" run "$repo/examples/demo.toml" > "run-$run.txt"
  grep -E "^job|stages" "run-$run.txt"
done

python3 - "$runs" <<'PY'
import re, statistics, sys
runs = int(sys.argv[1])
stages, totals = {}, []
for run in range(1, runs + 1):
    text = open(f"run-{run}.txt").read()
    totals.append(float(re.search(r"succeeded in ([0-9.]+)s", text).group(1)))
    for name, seconds in re.findall(r"(\w+) ([0-9.]+)s", text.split("stages", 1)[1].splitlines()[0]):
        stages.setdefault(name, []).append(float(seconds))
print(f"median over {runs} runs: job {statistics.median(totals):.2f}s; " +
      "; ".join(f"{name} {statistics.median(values):.2f}s" for name, values in stages.items()))
PY
