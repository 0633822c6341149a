"""Notifications: the control plane's own alerts (anomalies, guard trips) to Alertmanager.

Owns: :mod:`~controlplane.notify.alertmanager` (the API v2 client and payload),
:mod:`~controlplane.notify.book` (which alerts to send when: new, re-sent while
active, resolved) and :mod:`~controlplane.notify.dispatch` (sending off the tick
thread, failures logged and counted, never raised into the tick).
Must not be imported by the pure core (import-linter contract).
"""
