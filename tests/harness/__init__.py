"""Fixtures that start real components (Prometheus, Alertmanager, emulator) on 127.0.0.1."""
