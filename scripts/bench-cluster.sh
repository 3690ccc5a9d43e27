#!/usr/bin/env bash
# Benchmark for the cluster's figures (BENCHMARKS.md):
#   1. submit-to-done latency of a trivial job (10 series x 1 day) on a coordinator and 2 worker
#      processes, RUNS times, median of the coordinator-side elapsed time;
#   2. the demo job (10,000 series x 30 days, from scripts/bench-demo.sh's data) on that
#      cluster vs embedded, 3 runs each, medians;
#   3. dispatching and running a 10,000-task scan stage of near-no-op tasks (one tiny file each)
#      on a coordinator and 2 workers with 4 slots each: the scan stage's elapsed time, median
#      of 5 runs.
# Usage: bash scripts/bench-cluster.sh [RUNS]   (data in $FATHOM_BENCH_DIR, default /tmp/fathom-bench)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-10}"
dir="${FATHOM_BENCH_DIR:-/tmp/fathom-bench}"
cargo build --release --manifest-path "$repo/Cargo.toml" -p fathom-client -p fathom-coordinator -p fathom-worker
bin="$repo/target/release"
mkdir -p "$dir" && cd "$dir"
[ -d fathom-demo/raw ] || "$bin/fathom" gen --series 10000 --days 30 --out fathom-demo

# start_cluster NAME SLOTS SHUFFLE_ROOT [coordinator flags...]: one coordinator and two workers
# in the background (their pids in $pids), the coordinator's URL in $url.
start_cluster() {
  local name=$1 slots=$2 root=$3
  shift 3
  "$bin/fathom-coordinator" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 "$@" > "$name-coordinator.out" 2> "$name-coordinator.log" &
  pids=($!)
  for _ in $(seq 50); do grep -q "listening on" "$name-coordinator.out" 2>/dev/null && break; sleep 0.1; done
  url="http://$(sed -n 's/.*listening on //p' "$name-coordinator.out" | head -1)"
  for index in 0 1; do
    "$bin/fathom-worker" --coordinator "$url" --slots "$slots" --shuffle-dir "$root/$name-shuffle-$index" --worker-id "$name-$index" > /dev/null 2> "$name-worker-$index.log" &
    pids+=($!)
  done
  sleep 1
}
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

start_cluster bench 1 "$dir"

"$bin/fathom" gen --series 10 --days 1 --out trivial > /dev/null
sed -e 's|"fathom-demo/|"trivial/|' -e 's|end = "2026-02-04T00:00:00Z"|end = "2026-01-06T00:00:00Z"|' "$repo/examples/demo.toml" > trivial.toml
sed -e "s|\"fathom-demo/|\"$dir/fathom-demo/|" "$repo/examples/demo.toml" > demo-abs.toml

echo "== trivial job x $runs on coordinator + 2 worker processes"
for run in $(seq 1 "$runs"); do "$bin/fathom" submit trivial.toml --coordinator "$url" --wait > "trivial-$run.txt"; done
echo "== demo job x 3: cluster, then embedded"
for run in 1 2 3; do rm -rf fathom-demo/lake; "$bin/fathom" submit demo-abs.toml --coordinator "$url" --wait > "cluster-$run.txt"; done
for run in 1 2 3; do rm -rf fathom-demo/lake; "$bin/fathom" run demo-abs.toml > "embedded-$run.txt"; done

kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true

echo "== 10,000-task stage"
rm -rf tiny && mkdir -p tiny/raw/date=2026-01-05
"$bin/fathom" gen --series 1 --days 1 --out tiny-src > /dev/null
one=$(ls tiny-src/raw/date=2026-01-05/*.parquet | head -1)
for index in $(seq -w 0 9999); do cp "$one" "tiny/raw/date=2026-01-05/part-$index.parquet"; done
sed -e 's|"fathom-demo/|"tiny/|' -e 's|end = "2026-02-04T00:00:00Z"|end = "2026-01-06T00:00:00Z"|' "$repo/examples/demo.toml" > tiny.toml
# A fresh cluster per run, so that no run pays for cleaning up after the previous one. Shuffle
# files go to tmpfs when there is one ($FATHOM_BENCH_SHUFFLE): this figure is about dispatch,
# and on a VM disk 20,000 file creations and deletions per run make the runs drift apart.
shuffle="${FATHOM_BENCH_SHUFFLE:-$([ -d /dev/shm ] && echo /dev/shm/fathom-bench || echo "$dir")}"
echo "shuffle files of the 10,000-task stage under $shuffle"
for run in 1 2 3 4 5; do
  rm -rf "$shuffle"/many-shuffle-*
  start_cluster many 4 "$shuffle" --target-scan-bytes 1 --partitions 2
  job=$("$bin/fathom" submit tiny.toml --coordinator "$url" | tail -1)
  for _ in $(seq 600); do
    "$bin/fathom" status "$job" --coordinator "$url" --output json > "many-$run.json"
    python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if s["stages"] and s["stages"][0]["done"] else 1)' "many-$run.json" && break
    sleep 0.5
  done
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
done

rm -rf "$shuffle"/many-shuffle-*

python3 - "$runs" <<'PY'
import re, statistics, sys
def elapsed(name):
    return float(re.search(r"succeeded in ([0-9.]+)s", open(name).read()).group(1))
runs = int(sys.argv[1])
trivial = [elapsed(f"trivial-{r}.txt") * 1000 for r in range(1, runs + 1)]
cluster = [elapsed(f"cluster-{r}.txt") for r in (1, 2, 3)]
embedded = [elapsed(f"embedded-{r}.txt") for r in (1, 2, 3)]
print(f"trivial job submit-to-done: median {statistics.median(trivial):.0f} ms (min {min(trivial):.0f}, max {max(trivial):.0f})")
print(f"demo job: cluster median {statistics.median(cluster):.2f} s; embedded median {statistics.median(embedded):.2f} s")
import json
stages = [json.load(open(f"many-{r}.json"))["stages"][0] for r in range(1, 6)]
times = [stage["elapsed_ms"] / 1000 for stage in stages if stage["tasks_done"] == 10000]
print(f"10,000-task scan stage: median {statistics.median(times):.2f} s over {len(times)} runs (min {min(times):.2f}, max {max(times):.2f})")
PY
