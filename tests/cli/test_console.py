"""Console output: library log chatter below the service's level, progress bars that stay
off files and pipes, redraw at most once a second, and never share a line with a log line."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
from tqdm.contrib.logging import logging_redirect_tqdm

from controlplane import console


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal and counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in console.SERVICE_LOGGERS})
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def test_library_info_stays_below_the_service_level(restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    console.configure_logging("INFO")
    logging.getLogger("apscheduler.scheduler").info("Adding job tentatively")
    logging.getLogger("apscheduler.scheduler").warning("job missed")
    logging.getLogger("controlplane.run").info("loaded c.yaml")
    logging.getLogger("controlplane.loop").debug("tick detail")
    err = capsys.readouterr().err
    assert "Adding job tentatively" not in err
    assert "WARNING apscheduler.scheduler job missed" in err
    assert "INFO controlplane.run loaded c.yaml" in err
    assert "tick detail" not in err


def test_debug_shows_the_service_debug_but_not_library_info(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    console.configure_logging("debug")
    logging.getLogger("controlplane.loop").debug("tick detail")
    logging.getLogger("httpx").info("HTTP Request: GET ...")
    err = capsys.readouterr().err
    assert "tick detail" in err and "HTTP Request" not in err


def test_configuring_twice_keeps_one_handler(restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    console.configure_logging("INFO")
    console.configure_logging("WARNING")
    logging.getLogger("controlplane.run").warning("once")
    logging.getLogger("controlplane.run").info("hidden at WARNING")
    err = capsys.readouterr().err
    assert err.count("once") == 1 and "hidden" not in err


def test_unknown_level_names_the_option() -> None:
    with pytest.raises(ValueError, match="--log-level"):
        console.configure_logging("LOUD")


def test_bar_on_a_file_or_pipe_writes_nothing() -> None:
    pipe = io.StringIO()  # isatty() is False, as for `> log 2>&1` or `| tee`
    bar = console.progress_bar(10_000, unit="req", file=pipe)
    for _ in range(10_000):
        bar.update(1)
        bar.set_postfix_str("reactive", refresh=False)
    bar.close()
    assert pipe.getvalue() == ""


def test_bar_on_a_terminal_redraws_at_most_once_a_second() -> None:
    tty = FakeTerminal()
    bar = console.progress_bar(5_000, unit="req", file=tty)
    for _ in range(5_000):
        bar.update(1)
        bar.set_postfix_str("hpa", refresh=False)
    bar.close()
    drawn = tty.getvalue().count("\r")
    # The first draw, the last one and at most one per second between (the loop takes well
    # under a second); a redraw on every set_postfix_str would be 5,000.
    assert 1 <= drawn <= 6, drawn
    assert "5000/5000" in tty.getvalue()


def test_log_lines_and_echo_print_above_the_bar(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    tty = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(sys, "stdout", tty)
    console.configure_logging("INFO")
    with logging_redirect_tqdm():  # as the demo and loadgen commands wrap their bars
        bar = console.progress_bar(100, unit="req")
        bar.update(10)
        bar.refresh()
        logging.getLogger("controlplane.loop").warning("scrape failed")
        console.echo("scale 1 -> 2: binding slo_ttft")
        bar.update(10)
        bar.close()
    lines = tty.getvalue().split("\n")
    shown = [line.split("\r")[-1] for line in lines]  # what a terminal leaves on each line
    log_line = next(s for s in shown if "scrape failed" in s)
    echo_line = next(s for s in shown if "scale 1 -> 2" in s)
    assert "req" not in log_line and "%" not in log_line, log_line
    assert echo_line == "scale 1 -> 2: binding slo_ttft"
    for line in lines:
        if "scrape failed" in line or "scale 1 -> 2" in line:
            assert "req/s]" not in line.split("\r")[-1]
