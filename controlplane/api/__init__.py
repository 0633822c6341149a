"""The admin REST API (FastAPI): policies, decisions, overrides, forecasts, anomalies, what-if, audit.

Owns: HTTP only -- authentication, roles, rate limits, request and response
shapes. The work is done by the stores (:mod:`controlplane.store`) and the
services beside the routers (dry-run, what-if); routers hold no business logic.
The pure core must not import this package.
"""

from controlplane.api.app import create_app
from controlplane.api.settings import ApiOptions

__all__ = ["create_app", "ApiOptions"]
