"""The controller's manifests: leader election, least privilege, network policy, hardening."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
import yaml

from controlplane.config import ControllerConfig
from controlplane.controller import load_policies_file
from serving.k8s.render import REPO
from tests.deploy.manifests import OVERLAYS, container, find

NS = "llm-controlplane"

# (namespace or "cluster", apiGroup, resource) -> verbs: exactly what the controller calls.
EXPECTED_RULES = {
    ("llm-serving", "apps", "deployments/scale"): {"get", "update", "patch"},
    ("llm-serving", "apps", "deployments"): {"get", "list", "watch"},
    ("llm-serving", "autoscaling", "horizontalpodautoscalers"): {"list", "watch"},
    ("llm-serving", "", "events"): {"create"},
    # the policy syncer lists ScalingPolicy resources in all namespaces
    ("cluster", "controlplane.io", "scalingpolicies"): {"get", "list", "watch"},
    ("llm-controlplane", "coordination.k8s.io", "leases"): {"get", "create", "update"},
}


def _rules(overlay: str) -> dict[tuple[str, str, str], set[str]]:
    from tests.deploy.manifests import documents

    out: dict[tuple[str, str, str], set[str]] = {}
    for role in (d for d in documents(overlay) if d["kind"] in ("Role", "ClusterRole")):
        scope = role["metadata"].get("namespace", "cluster")
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
            for group in rule["apiGroups"]:
                for res in rule["resources"]:
                    out.setdefault((scope, group, res), set()).update(rule["verbs"])
    return out


def _settings(overlay: str) -> ControllerConfig:
    cm = find(overlay, "ConfigMap", "llm-controlplane-config", NS)
    return ControllerConfig.model_validate(yaml.safe_load(cm["data"]["controller.yaml"]))


def test_rbac_is_exactly_the_needed_rules() -> None:
    assert _rules("production") == EXPECTED_RULES


def test_shadow_cannot_write_the_scale() -> None:
    expected = {k: v for k, v in EXPECTED_RULES.items() if k[2] != "deployments/scale"}
    assert _rules("shadow") == expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_role_bindings_name_the_service_account(overlay: str) -> None:
    from tests.deploy.manifests import documents

    bindings = [d for d in documents(overlay) if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    roles = {
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
        for d in documents(overlay)
        if d["kind"] in ("Role", "ClusterRole")
    }
    assert {
        (b["roleRef"]["kind"], b["metadata"].get("namespace"), b["roleRef"]["name"]) for b in bindings
    } == roles
    for b in bindings:
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "llm-controlplane", "namespace": NS}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_two_replicas_elect_a_leader(overlay: str) -> None:
    dep = find(overlay, "Deployment", "llm-controlplane", NS)
    assert dep["spec"]["replicas"] == 2
    cfg = _settings(overlay)
    assert cfg.kubernetes.enabled and cfg.leader.enabled
    assert cfg.leader.namespace == NS, "the Lease lives where the leader Role grants leases"
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "llm-controlplane"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_paths_and_ports_match_the_pod(overlay: str) -> None:
    dep = find(overlay, "Deployment", "llm-controlplane", NS)
    c = container(dep, "controller")
    cfg = _settings(overlay)
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}

    def volume_of(path: str) -> dict:
        m = next(m for m in mounts.values() if PurePosixPath(path).is_relative_to(m["mountPath"]))
        return volumes[m["name"]]

    config_arg = next(a.split("=", 1)[1] for a in c["args"] if a.startswith("--config="))
    assert volume_of(config_arg)["configMap"]["name"] == "llm-controlplane-config"
    assert volume_of(cfg.loop.policies_file or "")["configMap"]["name"] == "llm-controlplane-config"
    assert volume_of(cfg.api.tokens_file or "")["secret"]["secretName"] == "llm-controlplane-api-tokens"
    if cfg.loop.database.startswith("postgresql://"):
        # the store is a server; forecast state stays on the pod's writable volume
        writable = volume_of(cfg.loop.state_dir or "")
        env = {e["name"]: e for e in c.get("env", [])}
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "llm-controlplane-postgres", "key": "password",
        }
        find(overlay, "Secret", "llm-controlplane-postgres", NS)
    else:
        writable = volume_of(cfg.loop.database)
    assert "emptyDir" in writable or "persistentVolumeClaim" in writable
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"api": cfg.api.port, "metrics": cfg.loop.metrics_port}
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_hardened_pod(overlay: str) -> None:
    dep = find(overlay, "Deployment", "llm-controlplane", NS)
    pod = dep["spec"]["template"]["spec"]
    c = container(dep, "controller")
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(
        c["resources"]["limits"]
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy(overlay: str) -> None:
    np = find(overlay, "NetworkPolicy", "llm-controlplane", NS)
    spec = np["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    ingress_ports = {p["port"] for rule in spec["ingress"] for p in rule["ports"]}
    assert ingress_ports == {8080, 9464}
    for rule in spec["ingress"]:
        assert all("namespaceSelector" in peer for peer in rule["from"]), "no ingress from everywhere"
    egress_ports = {(p["port"], p["protocol"]) for rule in spec["egress"] for p in rule["ports"]}
    # DNS, API server, Prometheus, Alertmanager, Elasticsearch.
    assert egress_ports == {
        (53, "UDP"),
        (53, "TCP"),
        (443, "TCP"),
        (6443, "TCP"),
        (9090, "TCP"),
        (9093, "TCP"),
        (9200, "TCP"),
    } | ({(5432, "TCP")} if overlay == "shared-store" else set())


def test_secret_values_are_marked_placeholders() -> None:
    secret = find("production", "Secret", "llm-controlplane-api-tokens", NS)
    assert secret["metadata"]["annotations"]["llm-controlplane.io/placeholder"] == "true"
    lines = [
        ln for ln in secret["stringData"]["tokens"].splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert lines and all(ln.startswith("REPLACE-ME") for ln in lines)


@pytest.mark.parametrize(("overlay", "mode"), [("production", "active"), ("shadow", "shadow")])
def test_policies_load_and_target_the_serving_deployment(overlay: str, mode: str, tmp_path) -> None:
    cm = find(overlay, "ConfigMap", "llm-controlplane-config", NS)
    path = tmp_path / "policies.yaml"
    path.write_text(cm["data"]["policies.yaml"])
    policies = load_policies_file(path)
    assert [p.mode for p in policies] == [mode]
    assert policies[0].target_key == "llm-serving/vllm-chat"
    find(overlay, "Deployment", "vllm-chat", "llm-serving")


def test_configmap_carries_the_example_settings() -> None:
    cm = find("production", "ConfigMap", "llm-controlplane-config", NS)
    assert cm["data"]["controller.yaml"] == (REPO / "examples/controller.yaml").read_text()


def test_shared_store_settings_differ_from_the_example_only_in_the_store() -> None:
    shared = _settings("shared-store")
    example = ControllerConfig.model_validate(yaml.safe_load((REPO / "examples/controller.yaml").read_text()))
    assert shared.loop.database.startswith("postgresql://") and "@" in shared.loop.database
    assert ":" not in shared.loop.database.split("//", 1)[1].split("@", 1)[0], "no password in the URL"
    same = shared.model_copy(
        update={"loop": shared.loop.model_copy(update={"database": example.loop.database, "state_dir": None})}
    )
    assert same == example


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_monitoring_is_included(overlay: str) -> None:
    find(overlay, "PrometheusRule", "llm-controlplane", "monitoring")
    find(overlay, "ServiceMonitor", "llm-controlplane", NS)
