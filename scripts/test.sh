#!/usr/bin/env bash
# The one test command: prepares the SailPoint SDK virtualenvs (PyPI) the SDK-compatibility
# tests drive, then runs every test. Tests only talk to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-sdk-venvs.sh
cargo test --all-targets "$@"
