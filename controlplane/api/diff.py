"""Field-level difference between two policy versions.

Owns: :func:`diff_fields`. Nested mappings are compared key by key and lists
item by item, so a change reads as ``schedule.0.start: 08:00 -> 07:30``.
Must not import: the web framework.
"""

from __future__ import annotations

from typing import Any

__all__ = ["flatten", "diff_fields"]


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves keyed by dotted path; an empty mapping or list is itself a leaf."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return {prefix: value}


def diff_fields(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{field, before, after, change}]`` sorted by field; equal documents give ``[]``."""
    a, b = flatten(before), flatten(after)
    changes = []
    for field in sorted(set(a) | set(b)):
        if field not in b:
            changes.append({"field": field, "before": a[field], "after": None, "change": "removed"})
        elif field not in a:
            changes.append({"field": field, "before": None, "after": b[field], "change": "added"})
        elif a[field] != b[field]:
            changes.append({"field": field, "before": a[field], "after": b[field], "change": "changed"})
    return changes
