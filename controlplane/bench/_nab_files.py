"""Reading NAB data files: ``timestamp,value`` rows, ISO timestamps, profile order."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["PROFILE_ORDER", "parse_time", "read_series", "epoch_s", "ordered_profiles"]

PROFILE_ORDER = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def parse_time(text: str, where: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{where}: timestamp {text!r} is not ISO 8601") from None


def read_series(path: Path, name: str) -> tuple[list[str], list[datetime], list[float]]:
    """The ``timestamp,value`` rows of one NAB data file, in file order."""
    raw, stamps, values = [], [], []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "timestamp" not in reader.fieldnames or "value" not in reader.fieldnames:
            raise ValueError(f"{name}: expected columns timestamp,value")
        for line, row in enumerate(reader, start=2):
            where = f"{name} line {line}"
            stamps.append(parse_time(row["timestamp"], where))
            raw.append(row["timestamp"])
            try:
                values.append(float(row["value"]))
            except (TypeError, ValueError):
                raise ValueError(f"{where}: value {row['value']!r} is not a number") from None
    return raw, stamps, values


def epoch_s(d: datetime) -> float:
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()


def ordered_profiles(profiles: dict[str, Any]) -> list[str]:
    return [p for p in PROFILE_ORDER if p in profiles] + sorted(p for p in profiles if p not in PROFILE_ORDER)


