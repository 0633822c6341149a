"""What the ``controlplane`` command writes to a terminal: log lines and progress bars.

Owns: the one console log handler (this project's loggers at the chosen level,
libraries at warnings unless the chosen level is quieter still) and progress bars
that draw only on a terminal, at most once a second. Written to a file or a pipe,
a bar prints nothing: a redraw per update would flood the log. Lines printed
while a bar lives go through :func:`echo`, and commands wrap the bar's lifetime in
``tqdm.contrib.logging.logging_redirect_tqdm()``, so log lines and messages land
above the bar instead of glued onto it.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

from tqdm import tqdm

__all__ = ["SERVICE_LOGGERS", "configure_logging", "progress_bar", "echo", "is_terminal"]

# Loggers of this project; everything else (apscheduler, httpx, kubernetes, ...) is a library.
SERVICE_LOGGERS = ("controlplane", "serving")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# A redraw at most this often (s); tqdm's default of 0.1 s redraws ten times a second.
BAR_INTERVAL_S = 1.0


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record (test capture, a redirect)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _level(value: str | int) -> int:
    if isinstance(value, int):
        return value
    number = logging.getLevelName(value.upper())
    if not isinstance(number, int):
        raise ValueError(f"--log-level: {value!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return number


def configure_logging(level: str | int = "INFO") -> None:
    """One stderr handler on the root logger: this project at ``level``, libraries at
    ``max(level, WARNING)`` so their INFO lines (APScheduler's "Adding job tentatively ...")
    never outnumber the service's own. Calling it again replaces the handler."""
    service = _level(level)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(max(service, logging.WARNING))
    for name in SERVICE_LOGGERS:
        logging.getLogger(name).setLevel(service)


def is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def progress_bar(total: float | None, *, desc: str | None = None, unit: str = "it", enabled: bool = True,
                 unit_scale: bool = False, file: IO[str] | None = None) -> tqdm:  # type: ignore[type-arg]
    """A tqdm bar on ``file`` (stderr), disabled unless that is a terminal; redraws at most
    once per :data:`BAR_INTERVAL_S`. Pass ``refresh=False`` to ``set_postfix_str``."""
    stream = file if file is not None else sys.stderr
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit_scale,
        file=stream,
        disable=not (enabled and is_terminal(stream)),
        mininterval=BAR_INTERVAL_S,
        maxinterval=BAR_INTERVAL_S * 10,
        dynamic_ncols=True,
    )


def echo(message: str) -> None:
    """Print a line to stdout above any live progress bar (safe from any thread)."""
    tqdm.write(message, file=sys.stdout)
