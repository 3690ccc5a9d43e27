#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs, in order,
# formatting, lints, every test (unit, property, end-to-end) and the deploy/ checks.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "etcd (the state-store and failover tests start a real one on loopback)"
if ! command -v etcd >/dev/null 2>&1; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server
fi
# Debian starts a system etcd on the default ports when installing; the tests use their own.
if command -v systemctl >/dev/null 2>&1; then systemctl stop etcd >/dev/null 2>&1 || true; fi

step "alertmanager (the alert tests start a real one on loopback)"
if ! command -v prometheus-alertmanager >/dev/null 2>&1 && ! command -v alertmanager >/dev/null 2>&1; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus-alertmanager
fi
if command -v systemctl >/dev/null 2>&1; then systemctl stop prometheus-alertmanager >/dev/null 2>&1 || true; fi

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

step "build (the cluster tests start the coordinator and worker binaries)"
cargo build --workspace

step "tests"
cargo nextest run --workspace --no-fail-fast

step "deploy checks"
.venv/bin/python deploy/check.py
