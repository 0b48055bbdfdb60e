"""``trustpub rehearse``: the whole chain against the local world, as `make demo` runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.distfactory import make_sdist, make_wheel


def _rehearse(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trustpub", "rehearse", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_rehearsal_publishes_attests_and_verifies(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist)
    make_sdist(dist)
    proc = _rehearse(str(dist), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "rehearsal passed: 2 file(s)" in proc.stderr
    assert "attested demo_pkg-1.0.0-py3-none-any.whl (Rekor log index" in proc.stderr
    assert "::add-mask::" not in proc.stdout + proc.stderr
    # Nothing is written into dist/.
    assert sorted(p.name for p in dist.iterdir()) == ["demo_pkg-1.0.0-py3-none-any.whl", "demo_pkg-1.0.0.tar.gz"]


def test_rehearsal_catches_what_pypi_would_refuse(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist, tag="cp312-cp312-linux_x86_64")
    proc = _rehearse(str(dist), cwd=tmp_path)
    assert proc.returncode == 1
    assert "[wheel-platform-tag]" in proc.stderr


def test_rehearsal_usage_error(tmp_path: Path) -> None:
    proc = _rehearse(str(tmp_path / "missing"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "no such file or folder" in proc.stderr
