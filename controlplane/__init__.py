"""Observability and autoscaling control plane for a vLLM serving tier."""

__version__ = "0.1.0"
