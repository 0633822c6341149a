"""scripts/install: pip only into a virtual environment, and a second run that changes nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for p in (REPO / "scripts").iterdir() if p.is_file())


def test_scripts_install_with_pip_only_into_a_virtual_environment() -> None:
    calls = 0
    for script in SCRIPTS:
        text = script.read_text()
        assert "break-system-packages" not in text, script.name
        for line in text.splitlines():
            if re.search(r"\bpip3?\s+install\b", line) and not line.lstrip().startswith("#"):
                calls += 1
                assert re.search(r'("\$vpython"|\.venv[\w-]*/bin/python) -m pip install', line), (
                    f"{script.name}: pip outside a virtual environment: {line.strip()}"
                )
    assert calls >= 1


def _venv_of_this_interpreter() -> Path:
    venv = Path(os.environ.get("CONTROLPLANE_VENV", ".venv"))
    if not venv.is_absolute():
        venv = REPO / venv
    if sys.prefix == sys.base_prefix or Path(sys.prefix).resolve() != venv.resolve():
        pytest.skip(f"runs from the environment scripts/install makes ({venv}), not {sys.prefix}")
    return venv


def _tree(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(path)): (p.lstat().st_mtime_ns, p.lstat().st_size) for p in path.rglob("*")}


def test_second_install_skips_pip_and_changes_nothing() -> None:
    venv = _venv_of_this_interpreter()
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    first = subprocess.run(["bash", "scripts/install", "test"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    before = _tree(venv)
    again = subprocess.run(["bash", "scripts/install", "test"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines() == [
        f"llm-controlplane[test] already installed (editable) in {os.environ.get('CONTROLPLANE_VENV', '.venv')}"
        f" (Python {sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}): pip skipped"
    ]
    assert _tree(venv) == before
    # Fewer extras than installed: nothing to add either.
    plain = subprocess.run(["bash", "scripts/install"], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=120)
    assert plain.returncode == 0 and "pip skipped" in plain.stdout, plain.stdout + plain.stderr
    assert _tree(venv) == before
