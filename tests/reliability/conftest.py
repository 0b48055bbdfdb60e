"""Fixtures of the reliability suite: releases built once per session by a real build backend."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.reliability._support import build_release


@pytest.fixture(scope="session")
def small_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/demo: its wheel, two retagged wheels and its sdist (4 files)."""
    return build_release(tmp_path_factory.mktemp("small-release"), wheels=3)


@pytest.fixture(scope="session")
def release40(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-file release: 39 wheels of a tag matrix and the sdist."""
    return build_release(tmp_path_factory.mktemp("release40"), wheels=39)


@pytest.fixture
def dist(small_release: Path, tmp_path: Path) -> Path:
    target = tmp_path / "dist"
    shutil.copytree(small_release, target)
    return target
