"""PolicyRepository writes acknowledge what they committed: the record a create, update or rollback
returns is read inside its own transaction, so a writer racing it cannot change the answer; a stale
``expected_version`` is refused with the current one, on SQLite (a file, WAL) and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.policy.model import parse_policy
from controlplane.store import Database
from controlplane.store.audit import Actor
from controlplane.store.errors import StaleVersion
from controlplane.store.policies import PolicyRepository

ALICE = Actor("alice", "admin")
BASE = {"name": "chat", "target": {"kind": "kubernetes", "namespace": "ml", "deployment": "vllm"}}


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PolicyRepository]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else str(tmp_path / "p.db")
    db = Database(url)
    yield PolicyRepository(db)
    db.close()


def _policy(**over: Any) -> Any:
    return parse_policy({**BASE, **over})


def test_twenty_concurrent_updates_each_return_their_own_version(repo: PolicyRepository) -> None:
    repo.create(_policy(), ALICE, 0.0)
    barrier = threading.Barrier(20)
    got: dict[int, Any] = {}

    def write(i: int) -> None:
        barrier.wait()
        got[i], _ = repo.update("chat", _policy(max_replicas=10 + i), ALICE, float(i))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.version for r in got.values()) == list(range(2, 22))
    for i, record in got.items():
        assert record.body["max_replicas"] == 10 + i
        assert record.body == repo.version("chat", record.version).body


def test_stale_expected_version_names_the_current_one(repo: PolicyRepository) -> None:
    repo.create(_policy(), ALICE, 0.0)
    repo.update("chat", _policy(max_replicas=3), ALICE, 1.0)
    for write in (
        lambda: repo.update("chat", _policy(max_replicas=4), ALICE, 2.0, expected_version=1),
        lambda: repo.rollback("chat", 1, ALICE, 2.0, expected_version=1),
        lambda: repo.delete("chat", ALICE, 2.0, expected_version=1),
    ):
        with pytest.raises(StaleVersion) as caught:
            write()
        assert caught.value.current == 2
    assert repo.get("chat").version == 2 and len(repo.versions("chat")) == 2
