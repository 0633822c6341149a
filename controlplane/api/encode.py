"""Plain JSON out of decision and simulation records.

Owns: :func:`finite`. JSON has no NaN or Infinity and numpy scalars are not
JSON types: a non-finite number becomes ``null`` (missing, never zero) and a
numpy scalar its Python value.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["finite"]


def finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
