"""Shared fixtures. Tests call library functions; a few drive the CLI through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# `doccano_server`: one real Doccano on a free loopback port for the session (see tests/doccano_fixtures.py).
pytest_plugins = ["doccano_fixtures"]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def seeds_dir() -> Path:
    return ROOT / "seeds"
