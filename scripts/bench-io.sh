#!/usr/bin/env bash
# Benchmark for the I/O figures (BENCHMARKS.md, issue 5):
#   1. reading the demo dataset (120 Parquet files, 386 MB) from an S3-compatible server
#      (moto_server from .venv, on loopback) vs from local files: the demo job's scan stage,
#      embedded, 3 runs each, medians;
#   2. committing a job window of 1,000 files to a Delta table, and replacing it (a rerun).
# Usage: bash scripts/bench-io.sh   (data in $FATHOM_BENCH_DIR, default /tmp/fathom-bench;
# needs the .venv that scripts/test.sh creates)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${FATHOM_BENCH_DIR:-/tmp/fathom-bench}"
cargo build --release --manifest-path "$repo/Cargo.toml" --workspace --examples
bin="$repo/target/release"
mkdir -p "$dir" && cd "$dir"
[ -d fathom-demo/raw ] || "$bin/fathom" gen --series 10000 --days 30 --out fathom-demo

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$repo/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" > /dev/null 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
endpoint="http://127.0.0.1:$port"
echo "== uploading the demo dataset to $endpoint"
"$repo/.venv/bin/python" "$repo/tests/python/s3_upload.py" "$endpoint" bench raw fathom-demo/raw > /dev/null
export AWS_ENDPOINT="$endpoint" AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1

sed -e "s|\"fathom-demo/raw/\"|\"$dir/fathom-demo/raw/\"|" -e "s|\"fathom-demo/lake/|\"$dir/io-lake/|" "$repo/examples/demo.toml" > io-local.toml
sed -e "s|\"fathom-demo/raw/\"|\"s3://bench/raw/\"|" -e "s|\"fathom-demo/lake/|\"$dir/io-lake/|" "$repo/examples/demo.toml" > io-s3.toml
for source in local s3; do
  for run in 1 2 3; do
    rm -rf io-lake
    "$bin/fathom" run "io-$source.toml" > "io-$source-$run.txt"
  done
done
kill $moto 2>/dev/null || true

python3 - <<'PY'
import os, re, statistics
size = sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk("fathom-demo/raw") for name in names)
for source in ("local", "s3"):
    scans = [float(re.search(r"scan ([0-9.]+)s", open(f"io-{source}-{run}.txt").read()).group(1)) for run in (1, 2, 3)]
    scan = statistics.median(scans)
    print(f"{source:5}: scan stage median {scan:.2f} s = {size / scan / 1e6:.0f} MB/s of Parquet ({size / 1e6:.1f} MB, 120 files; runs {scans})")
PY
echo "== Delta commit of a 1,000-file window"
"$bin/examples/commit_bench" 1000 5
