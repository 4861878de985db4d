"""Assertions on rendered chart output that schema validation cannot make.

usage: check_rendered.py CASE RENDERED.yaml [OTHER.yaml]
Each case checks what a platform team relies on for those values (scripts/helm-check.sh).
"""
import sys

import yaml


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kinds(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind):
    found = kinds(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def workload(docs):
    found = kinds(docs, "Deployment") + kinds(docs, "StatefulSet")
    assert len(found) == 1, f"expected one workload, found {[d['kind'] for d in found]}"
    return found[0]


def container(docs):
    return workload(docs)["spec"]["template"]["spec"]["containers"][0]


def config(docs):
    for cm in kinds(docs, "ConfigMap"):
        if "config.yaml" in cm["data"]:
            return yaml.safe_load(cm["data"]["config.yaml"])
    raise AssertionError("no configuration ConfigMap")


def egress_ports(docs):
    ports = {}
    for rule in one(docs, "NetworkPolicy")["spec"]["egress"]:
        for p in rule.get("ports", []):
            ports.setdefault(p["port"], []).append(rule.get("to"))
    return ports


def defaults(docs):
    w = workload(docs)
    assert w["kind"] == "Deployment", w["kind"]
    pod = w["spec"]["template"]
    ann = pod["metadata"]["annotations"]
    assert "checksum/config" in ann and "checksum/secret" in ann, ann
    assert pod["metadata"]["labels"]["app.kubernetes.io/version"], pod["metadata"]["labels"]
    c = container(docs)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert probe in c, f"no {probe}"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert not kinds(docs, "PersistentVolumeClaim")


def secret_changed(docs, other):
    """A chart-managed Secret value change rolls the pods; the config checksum stays."""
    a = workload(docs)["spec"]["template"]["metadata"]["annotations"]
    b = workload(other)["spec"]["template"]["metadata"]["annotations"]
    assert a["checksum/secret"] != b["checksum/secret"], "checksum/secret did not change"
    assert a["checksum/config"] == b["checksum/config"]


def replicas(docs):
    """Several replicas with a PVC audit trail: one claim per replica, never a shared one."""
    sts = workload(docs)
    assert sts["kind"] == "StatefulSet", sts["kind"]
    assert sts["spec"]["replicas"] == 3
    claims = sts["spec"]["volumeClaimTemplates"]
    assert [c["metadata"]["name"] for c in claims] == ["audit"], claims
    assert claims[0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claims[0]["spec"]["storageClassName"] == "fast-rwo"
    assert claims[0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert not kinds(docs, "PersistentVolumeClaim"), "a shared claim is rendered"
    vols = [v["name"] for v in sts["spec"]["template"]["spec"]["volumes"]]
    assert "audit" not in vols, "the audit volume must come from the claim template"
    mounts = {m["name"]: m["mountPath"] for m in container(docs)["volumeMounts"]}
    assert mounts["audit"] == "/var/lib/reportgate/audit"
    headless = [s for s in kinds(docs, "Service") if s["spec"].get("clusterIP") == "None"]
    assert [s["metadata"]["name"] for s in headless] == [sts["spec"]["serviceName"]]
    cfg = config(docs)
    assert cfg["audit"]["file"] == "/var/lib/reportgate/audit/audit.jsonl"
    assert cfg["audit"]["hmac_key_file"] == "/var/run/secrets/reportgate/audit-hmac-key"
    assert abs(cfg["redis"]["fallback_share"] - 1 / 3) < 1e-6, cfg["redis"]
    assert "audit-hmac-key" in one(docs, "Secret")["stringData"]
    ports = egress_ports(docs)
    assert 6379 in ports and 8443 in ports, ports  # redis.url, the JWKS URL's port


def emptydir(docs):
    w = workload(docs)
    assert w["kind"] == "Deployment"
    vols = {v["name"]: v for v in w["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in vols["audit"], vols["audit"]


def all_on(docs):
    w = workload(docs)
    pod = w["spec"]["template"]
    c = container(docs)
    assert w["metadata"]["name"] == "rg-gateway", w["metadata"]["name"]
    assert w["metadata"]["labels"]["team"] == "platform"
    assert "checksum/secret" not in pod["metadata"]["annotations"], "existingSecret has no checksum"
    assert not kinds(docs, "Secret"), "existingSecret: the chart must not create a Secret"
    assert c["image"] == (
        "registry.example.com/platform/reportgate:0.1.0@sha256:"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    ), c["image"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/version"] == "0.1.0"
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    pulls = [s["name"] for s in pod["spec"]["imagePullSecrets"]]
    assert pulls == ["corp-registry", "reportgate-pull"], pulls
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HTTPS_PROXY"] == "http://proxy.corp.example:3128", env
    assert env["NO_PROXY"] == ".svc,.cluster.local" and env["RUST_BACKTRACE"] == "1", env
    assert c["envFrom"] == [{"configMapRef": {"name": "reportgate-extra-env"}}]
    assert {"name": "corp-ca", "mountPath": "/etc/reportgate-ca", "readOnly": True} in c["volumeMounts"]
    assert any(v["name"] == "corp-ca" for v in pod["spec"]["volumes"])
    assert pod["spec"]["securityContext"]["runAsUser"] == 20001
    assert c["startupProbe"]["failureThreshold"] == 60
    cfg = config(docs)
    assert cfg["tenant"]["proxy"] == {
        "url": "http://proxy.corp.example:3128",
        "no_proxy": ".svc,.cluster.local",
        "username": "svc-reportgate",
        "password_file": "/var/run/secrets/reportgate/proxy-password",
    }, cfg["tenant"]
    assert cfg["log"]["otlp_endpoint"] == "http://otel-collector.monitoring:4318/v1/traces", cfg["log"]
    assert cfg["audit"]["hmac_key_file"] == "/var/run/secrets/reportgate/audit-hmac-key"
    assert one(docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["kind"] == w["kind"]
    ports = egress_ports(docs)
    platform = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "platform"}}}]
    assert ports[6380] == [platform], ports  # rediss://...:6380, narrowed by networkPolicy.redis.to
    assert ports[3128] == [[{"ipBlock": {"cidr": "198.51.100.10/32"}}]], ports  # the proxy
    assert ports[4318] == [None], ports  # the OTLP collector
    assert ports[8443] == [[{"ipBlock": {"cidr": "192.0.2.0/24"}}]], ports  # extraEgress
    assert len(ports[443]) == 2, ports  # the tenant, and the JWKS host on 443


def umbrella(docs):
    """Rendered as a dependency of a parent chart with global values."""
    c = container(docs)
    assert c["image"].startswith("mirror.corp.example/"), c["image"]
    pulls = [s["name"] for s in workload(docs)["spec"]["template"]["spec"]["imagePullSecrets"]]
    assert pulls == ["umbrella-pull"], pulls
    assert workload(docs)["metadata"]["name"] == "reports-gateway"


CASES = {
    "defaults": defaults,
    "secret-changed": secret_changed,
    "replicas": replicas,
    "emptydir": emptydir,
    "all-on": all_on,
    "umbrella": umbrella,
}

if __name__ == "__main__":
    case, paths = sys.argv[1], sys.argv[2:]
    CASES[case](*[load(p) for p in paths])
    print(f"rendered {case}: ok")
