"""Fixtures for the codegen tests: the default generation, written once to a temp dir,
and the real promtool / amtool binaries (tests skip when one is not installed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controlplane.codegen.config import CodegenConfig
from controlplane.codegen.generate import generate, write


@pytest.fixture(scope="session")
def generated() -> dict[str, str]:
    """Every generated file of the default config, path -> text."""
    return generate(CodegenConfig())


@pytest.fixture(scope="session")
def generated_dir(tmp_path_factory: pytest.TempPathFactory, generated: dict[str, str]) -> Path:
    root = tmp_path_factory.mktemp("generated")
    write(generated, root)
    return root


def _binary(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not Path(path).exists():
        pytest.skip(f"{name} is not installed (scripts/install brings it from Debian)")
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _binary("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return _binary("amtool")
