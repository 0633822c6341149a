"""Dashboards, alert and recording rules, promtool tests, runbooks and their Kubernetes
delivery, all generated from one :class:`~controlplane.codegen.config.CodegenConfig`.

Must not import: any HTTP, Kubernetes or Elasticsearch client (pure generation;
the tests run the real promtool, amtool and Prometheus against the output).
"""
