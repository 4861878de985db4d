#!/usr/bin/env bash
# Creates two virtualenvs with the official SailPoint Python SDK, 2.x and 1.4.2, used by
# the SDK-compatibility tests (tests/api/sdk_paths.rs). Idempotent; PyPI only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${REPORTGATE_SDK_VENVS:-$root/target/sdk-venvs}"
mkdir -p "$dir"
make_venv() {
  local name="$1" spec="$2"
  if [ -x "$dir/$name/bin/python" ] && "$dir/$name/bin/python" -c 'import sailpoint' 2>/dev/null; then
    return
  fi
  python3 -m venv "$dir/$name"
  "$dir/$name/bin/pip" install --quiet --disable-pip-version-check "$spec"
}
make_venv sdk2 'sailpoint>=2,<3'
make_venv sdk1 'sailpoint==1.4.2'
echo "SailPoint SDK venvs ready in $dir"
