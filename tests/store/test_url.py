"""Where the store lives, from one setting: forms accepted, errors naming the field, passwords hidden."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.config import ConfigError, ControllerConfig, load_config
from controlplane.store.postgres import to_format_style
from controlplane.store.url import parse_database


@pytest.mark.parametrize(
    ("value", "dialect", "target"),
    [
        ("controlplane.db", "sqlite", "controlplane.db"),
        ("/data/controlplane.db", "sqlite", "/data/controlplane.db"),
        (":memory:", "sqlite", ":memory:"),
        ("sqlite:///rel/cp.db", "sqlite", "rel/cp.db"),
        ("sqlite:////abs/cp.db", "sqlite", "/abs/cp.db"),
        ("sqlite://:memory:", "sqlite", ":memory:"),
        ("postgresql://cp@db:5432/cp", "postgresql", "postgresql://cp@db:5432/cp"),
        ("postgres://cp@db/cp?sslmode=require", "postgresql", "postgres://cp@db/cp?sslmode=require"),
        ("postgresql://?host=db&dbname=cp", "postgresql", "postgresql://?host=db&dbname=cp"),
    ],
)
def test_accepted_forms(value: str, dialect: str, target: str) -> None:
    url = parse_database(value)
    assert (url.dialect, url.target) == (dialect, target)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "empty"),
        ("mysql://u@h/db", "unsupported scheme 'mysql'"),
        ("postgresql://u@h:5432", "names no database"),
        ("postgresql://u@h:5432/", "names no database"),
        ("sqlite://relative.db", "sqlite:///relative/file.db"),
    ],
)
def test_refused_forms_name_the_field(value: str, says: str) -> None:
    with pytest.raises(ValueError, match=r"^loop\.database: .*" + says.replace("(", r"\(").replace(".", r"\.")):
        parse_database(value, "loop.database")


def test_config_names_loop_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "c.yaml"
    f.write_text("loop:\n  database: redis://cache/0\n")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert err.value.field == "loop.database"
    assert str(err.value) == (
        "loop.database: unsupported scheme 'redis'; use a SQLite file path or a postgresql:// URL"
    )
    assert ControllerConfig.model_validate({"loop": {"database": "postgresql://cp@db/cp"}})


def test_password_is_hidden_where_shown() -> None:
    url = parse_database("postgresql://cp:s3cret@db.internal:6432/cp?sslmode=require")
    assert url.redacted == "postgresql://cp:***@db.internal:6432/cp?sslmode=require"
    assert "s3cret" not in url.redacted
    assert parse_database("postgresql://cp@db/cp").redacted == "postgresql://cp@db/cp"


def test_placeholders_become_format_style_outside_quotes_only() -> None:
    assert to_format_style("SELECT * FROM t WHERE a = ? AND b = '?' AND c = ?") == (
        "SELECT * FROM t WHERE a = %s AND b = '?' AND c = %s"
    )
    assert to_format_style("SELECT 'it''s ?', ? WHERE x LIKE '5%'") == "SELECT 'it''s ?', %s WHERE x LIKE '5%%'"
    assert to_format_style('SELECT "odd?col" FROM t WHERE id = ?') == 'SELECT "odd?col" FROM t WHERE id = %s'


def test_forecast_state_goes_beside_a_sqlite_file_or_where_told() -> None:
    from pathlib import Path

    from controlplane.advisors.wiring import advisor_state_dir

    def cfg(**loop: Any) -> ControllerConfig:
        return ControllerConfig.model_validate({"loop": loop})

    assert advisor_state_dir(cfg(database="/data/cp.db")) == Path("/data/forecast-state")
    assert advisor_state_dir(cfg(database="sqlite:////data/cp.db")) == Path("/data/forecast-state")
    assert advisor_state_dir(cfg(database=":memory:")) is None
    assert advisor_state_dir(cfg(database="postgresql://cp@db/cp")) is None
    assert advisor_state_dir(cfg(database="postgresql://cp@db/cp", state_dir="/data/fs")) == Path("/data/fs")
