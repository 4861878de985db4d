#!/usr/bin/env bash
# Fuzzes the gateway's /v1 API from its own /openapi.json with schemathesis (PyPI), all
# checks, bounded in examples and time, against `reportgate sandbox` on loopback.
# Fails on any 5xx, undocumented status, schema mismatch or wrongly accepted/rejected input.
# All phases (examples, coverage, fuzzing, stateful) and every check, negative data
# rejection included. scripts/schemathesis.toml accepts the documented 422 on run (a fuzzer
# reusing one Idempotency-Key for different bodies gets idempotency_key_reused).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${REPORTGATE_ST_VENV:-target/st-venv}"
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
cargo build --quiet --bin reportgate
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
./target/debug/reportgate sandbox --listen "127.0.0.1:$port" --admin-listen 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
token=$(grep -a '^  export TOKEN=' "$log" | sed 's/.*TOKEN=//' || true)
[ -n "$token" ] || { echo "no token in sandbox output"; cat "$log"; exit 1; }
timeout 600 "$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" \
  -H "Authorization: Bearer $token" --checks all --max-examples 100 --seed 1
