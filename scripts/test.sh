#!/usr/bin/env bash
# The one test command: prepares the SailPoint SDK virtualenvs (PyPI) the SDK-compatibility
# tests drive, then runs every test. Tests only talk to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
# promtool and a real Prometheus server (the observability tests use both), from apt.
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
# redis-server: the replica tests start their own on loopback (tests/api/shared.rs).
if ! command -v redis-server >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
./scripts/setup-sdk-venvs.sh
cargo test --all-targets "$@"
