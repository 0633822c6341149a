"""One advisor's state as a JSON file that survives a controller restart.

Owns: :class:`StateFile` -- an atomic save (write beside, then rename) and a
load that logs and ignores a file it cannot read, so a corrupt or stale state
costs what it took to learn, never the controller's start. Used for the
anomaly advisor (:mod:`controlplane.advisors.anomaly_wiring`) and model-based
sizing (:mod:`controlplane.advisors.wiring`); the forecast advisor keeps one
file per target itself.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["StateFile"]

log = logging.getLogger(__name__)


class StateFile:
    """``name`` in ``state_dir`` (nothing is read or written when ``state_dir`` is None)."""

    def __init__(self, state_dir: Path | None, name: str) -> None:
        self.path = None if state_dir is None else Path(state_dir) / name

    def load(self, restore: Callable[[dict[str, Any]], None]) -> bool:
        """Hand the saved state to ``restore``; False when there is none or it cannot be used."""
        if self.path is None or not self.path.exists():
            return False
        try:
            restore(json.loads(self.path.read_text()))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("ignoring saved state %s: %s", self.path, exc)
            return False
        log.info("restored state from %s", self.path)
        return True

    def saver(self, state: Callable[[], dict[str, Any]]) -> Callable[[], None]:
        """A no-argument save of ``state()``, for a scheduler job or a stop hook."""
        return lambda: self.save(state)

    def save(self, state: Callable[[], dict[str, Any]]) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state()))
            os.replace(tmp, self.path)
        except (OSError, ValueError, TypeError):
            log.exception("could not save state to %s", self.path)
