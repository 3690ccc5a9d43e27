#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs, in order,
# formatting, lints, every test (unit, property, end-to-end) and the deploy/ checks.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "python readers (deltalake, duckdb) in .venv"
if [ ! -x .venv/bin/python ]; then
  if ! python3 -m venv .venv; then
    apt-get update -q && apt-get install -y -q python3-venv
    python3 -m venv .venv
  fi
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt
export FATHOM_PYTHON="$PWD/.venv/bin/python"

if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
cargo nextest run --workspace --no-fail-fast

step "deploy checks"
.venv/bin/python deploy/check.py
