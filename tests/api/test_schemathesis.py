"""Contract test: schemathesis generates requests for every operation of the app's OpenAPI
document and checks each response (no 5xx, status code, content type, headers and body conform).

The app runs in-process over ASGI with an in-memory store, a fake loop (so dry-run really decides)
and an admin token, so most generated requests reach the handlers; a bounded number of examples
per operation keeps the run under a minute. The case count is printed at the end (run with -s).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from controlplane.api import ApiOptions, create_app
from controlplane.clock import FakeClock
from controlplane.loop import ControlLoop
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog
from controlplane.store.policies import PolicyRepository
from controlplane.telemetry import ControllerMetrics
from tests.api.fakes import FakeActuator, FakeSource

MAX_EXAMPLES = 30  # per operation and generation mode (positive, negative)
TOKEN = "schemathesis-admin-token-0001"

_dir = Path(tempfile.mkdtemp(prefix="api-contract-"))
(_dir / "tokens").write_text(f"{TOKEN} admin contract\n")
(_dir / "traces").mkdir()
_db = Database(":memory:")
_clock = FakeClock(1_795_521_600.0)
_loop = ControlLoop(
    policies=PolicyRepository(_db),
    source=FakeSource(),
    actuator=FakeActuator(),
    log=DecisionLog(_db),
    metrics=ControllerMetrics(),
    clock=_clock,
)
_app = create_app(
    ApiOptions(
        tokens_file=str(_dir / "tokens"),
        whatif_dir=str(_dir / "traces"),
        rate_per_s=1e6,
        rate_burst=10**6,
        whatif_max_requests=2000,
    ),
    _db,
    _loop,
    clock=_clock,
)
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "checks": {
            # a schema-valid request may still break a rule the schema cannot state
            # (an override's expires_at must be in the future): 422 is the right answer there
            "positive_data_acceptance": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app, config=CONFIG)
CASES: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    print(f"\nschemathesis: {len(CASES)} cases over {len(set(CASES))} operations")
    _db.close()
    shutil.rmtree(_dir, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    CASES.append(f"{case.method} {case.operation.path}")
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})
