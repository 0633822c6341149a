"""Controller settings: grouped, typed, each field with its unit and why its default.

Owns: :class:`ControllerConfig` and loading it from YAML (errors name the key).
The shipped example ``examples/controller.yaml`` is tested to equal these defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from controlplane.store.url import parse_database

__all__ = [
    "ControllerConfig",
    "PrometheusSettings",
    "KubernetesSettings",
    "LeaderSettings",
    "LoopSettings",
    "ApiSettings",
    "AlertmanagerSettings",
    "ElasticsearchSettings",
    "LocalSettings",
    "load_config",
    "ConfigError",
]


class ConfigError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrometheusSettings(_Section):
    url: str = Field("http://127.0.0.1:9090", description="Prometheus HTTP API base URL")
    timeout_s: float = Field(5.0, gt=0, description="per query; a tick runs ~20 queries per policy")
    rate_window: str = Field("1m", description="range for rate() and histogram quantiles: >= 4 scrape intervals")


class KubernetesSettings(_Section):
    enabled: bool = Field(False, description="patch Deployments; off means local replicas or shadow only")
    in_cluster: bool = Field(True, description="use the pod's service account")
    kubeconfig: str | None = Field(None, description="path to a kubeconfig when not in a cluster")
    host: str | None = Field(None, description="explicit API server URL (tests, proxies)")
    field_manager: str = Field("llm-controlplane", description="server-side field owner of spec.replicas")


class LeaderSettings(_Section):
    enabled: bool = Field(False, description="elect a leader on a Lease; only the leader patches")
    namespace: str = Field("llm-controlplane")
    lease_name: str = Field("llm-controlplane-leader")
    identity: str | None = Field(None, description="defaults to the pod name (HOSTNAME)")
    lease_duration_s: float = Field(15.0, gt=0, description="client-go default")
    renew_deadline_s: float = Field(10.0, gt=0, description="client-go default")
    retry_period_s: float = Field(2.0, gt=0, description="client-go default")


class LoopSettings(_Section):
    tick_s: float = Field(15.0, ge=1.0, le=300.0, description="one decision per policy per tick; 15 s like HPA sync")
    database: str = Field(
        "controlplane.db",
        description="decisions, policies and audit: a SQLite file, or postgresql://user@host:5432/db"
        " shared by replicas (password from PGPASSWORD)",
    )
    metrics_port: int = Field(9464, ge=0, le=65535, description="controller /metrics; 0 disables")
    metrics_addr: str = Field("0.0.0.0", description="bind address of /metrics")
    policies_file: str | None = Field(None, description="YAML policies loaded at start (single-node mode)")
    forecast_fit_interval_s: float = Field(600.0, gt=0, description="refit forecasters off the tick path")
    state_dir: str | None = Field(
        None, description="forecast and anomaly state across restarts; null: beside a SQLite database, none with"
        " PostgreSQL"
    )
    decision_retention_days: float = Field(
        14.0, ge=0, description="decisions older than this are deleted every hour; 0 keeps every one"
    )

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        try:
            parse_database(value)
        except ValueError as exc:
            raise ValueError(str(exc).removeprefix("database: ")) from None
        return value



class ApiSettings(_Section):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=1, le=65535)
    tokens_file: str | None = Field(None, description="static bearer tokens: one 'token role name' per line")
    jwt_hs256_secret_file: str | None = None
    jwt_rs256_public_key_file: str | None = None


class AlertmanagerSettings(_Section):
    url: str | None = Field(None, description="Alertmanager base URL; None disables notifications")
    timeout_s: float = Field(5.0, gt=0)


class ElasticsearchSettings(_Section):
    url: str | None = Field(None, description="Elasticsearch/OpenSearch URL; None disables log signals")
    index: str = Field("vllm-logs-*", description="index pattern of serving logs")
    flavour: Literal["elasticsearch", "opensearch"] = "elasticsearch"
    timeout_s: float = Field(5.0, gt=0)


class LocalSettings(_Section):
    enabled: bool = Field(False, description="run replicas of local targets as processes on this machine")
    workdir: str = Field("controlplane-local", description="replica logs and the file_sd targets Prometheus reads")
    server: Literal["emulator", "vllm"] = Field("emulator", description="what a local replica runs")
    model: str | None = Field(None, description="vllm: the model path or name to serve")
    python: str | None = Field(None, description="interpreter that has vLLM installed; null: this one")
    extra_args: list[str] = Field(default_factory=list, description="appended to every replica's command")
    drain_grace_s: float = Field(30.0, gt=0, description="in-flight requests get this long on scale-down")


class ControllerConfig(_Section):
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    leader: LeaderSettings = Field(default_factory=LeaderSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    alertmanager: AlertmanagerSettings = Field(default_factory=AlertmanagerSettings)
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    local: LocalSettings = Field(default_factory=LocalSettings)

    @model_validator(mode="after")
    def _local_vllm_needs_model(self) -> ControllerConfig:
        if self.local.server == "vllm" and not self.local.model:
            raise ValueError("local.model: required when local.server is vllm")
        return self


def load_config(path: str | Path | None) -> ControllerConfig:
    if path is None:
        return ControllerConfig()
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError("config", f"not valid YAML: {exc}") from exc
    try:
        return ControllerConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(".".join(str(p) for p in err["loc"]), err["msg"].removeprefix("Value error, ")) from exc
