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
# Two tiers. Unit tests and the API tests run in parallel; the tests that measure time or
# load (floods, held and queued callers, long-polls, replicas, injected delays) run one at a
# time after them, so that no test's timing depends on what its neighbours are doing.
timing=(abandon:: caching:: deadlines:: faults:: limits:: long_polls:: shared:: shared_limits::)
cargo test --lib --bins --examples "$@"
cargo test --test api "$@" -- $(printf -- '--skip %s ' "${timing[@]}")
cargo test --test api "$@" -- --test-threads=1 "${timing[@]}"
