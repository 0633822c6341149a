"""Alertmanager routing for the generated alerts: by severity, with inhibitions.

Owns: :func:`alertmanager_config`. Receivers are webhooks whose URLs come from
the config, so the file passes ``amtool check-config`` as generated and a
deployment points them at its pager, ticket queue and chat channel.
Must not import: grafanalib, subprocess or any HTTP library.
"""

from __future__ import annotations

from typing import Any

from controlplane.codegen.config import CodegenConfig

__all__ = ["alertmanager_config"]


def alertmanager_config(cfg: CodegenConfig) -> dict[str, Any]:
    hooks = cfg.receivers
    return {
        "route": {
            "receiver": "ticket",
            "group_by": ["alertname", "namespace", "model_name", "target"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"receiver": "page", "matchers": ['severity="page"'], "repeat_interval": "1h"},
                {"receiver": "ticket", "matchers": ['severity="ticket"']},
                {"receiver": "info", "matchers": ['severity="info"'], "repeat_interval": "24h"},
            ],
        },
        "inhibit_rules": [
            # A page already says the model is in trouble; its tickets add noise. The source
            # must name a namespace and model: a page without them (no vLLM metrics at all)
            # would otherwise match every ticket that lacks them too.
            {
                "source_matchers": ['severity="page"', 'namespace=~".+"', 'model_name=~".+"'],
                "target_matchers": ['severity=~"ticket|info"'],
                "equal": ["namespace", "model_name"],
            },
            # With no vLLM metrics every decision is invalid: one cause, one alert.
            {
                "source_matchers": ['alertname="VllmMetricsAbsent"'],
                "target_matchers": ['alertname="ControlplaneDecisionInvalid"'],
                "equal": [],
            },
            # A control plane that does not tick cannot produce valid decisions either.
            {
                "source_matchers": ['alertname="ControlplaneNotReconciling"'],
                "target_matchers": ['alertname=~"ControlplaneDecisionInvalid|ControlplaneStepErrors"'],
                "equal": [],
            },
        ],
        "receivers": [
            {"name": name, "webhook_configs": [{"url": hooks[name], "send_resolved": True}]}
            for name in ("page", "ticket", "info")
        ],
    }
