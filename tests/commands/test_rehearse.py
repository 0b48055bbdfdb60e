"""``trustpub rehearse``: the whole chain against the local world, as `make demo` runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.distfactory import make_sdist, make_wheel

UV = Path(sys.executable).parent / "uv"


def _rehearse(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if env is None:
        env = {**os.environ, "TRUSTPUB_STATE_DIR": str(cwd / "state")}
    return subprocess.run(
        [sys.executable, "-m", "trustpub", "rehearse", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=180
    )


def _dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist)
    make_sdist(dist)
    return dist


def _printed_paths(text: str) -> list[Path]:
    """Every absolute file path the output names (URLs are not paths: they follow "http:")."""
    return [Path(m.rstrip(".,;)")) for m in re.findall(r"(?:^|(?<=\s))(/[^\s,]+)", text, re.MULTILINE)]


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


def test_what_the_rehearsal_reports_still_exists_after_it(tmp_path: Path) -> None:
    """The world's temporary folder is gone when rehearse returns; no path it printed may be in it."""
    dist = _dist(tmp_path)
    proc = _rehearse("--json", str(dist), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    kept = tmp_path / "state" / "rehearse" / "demo-pkg"
    provenance, journal = Path(doc["release_provenance"]), Path(doc["journal"])
    assert provenance == kept / "demo_pkg-1.0.0.provenance.sigstore.json" and provenance.is_file()
    assert journal.parent == kept / "journal" and journal.is_file()
    assert f"rehearsal: attestations and release provenance kept in {kept}, journal in {kept / 'journal'}" in proc.stderr
    printed = _printed_paths(proc.stderr)
    assert provenance in printed and journal in printed
    assert [p for p in printed if not p.exists()] == []
    assert sorted(p.name for p in kept.glob("*.attestation")) == [
        "demo_pkg-1.0.0-py3-none-any.whl.publish.attestation", "demo_pkg-1.0.0.tar.gz.publish.attestation",
    ]
    # A second rehearsal (a new world, a new index) replaces what the first left: one journal.
    again = _rehearse("--json", str(dist), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert [p.name for p in (kept / "journal").glob("*.json")] == [Path(json.loads(again.stdout)["journal"]).name]
    assert [p for p in _printed_paths(again.stderr) if not p.exists()] == []


def test_rehearsal_with_dir_keeps_everything_there(tmp_path: Path) -> None:
    dist = _dist(tmp_path)
    proc = _rehearse("--dir", "world", "--json", str(dist), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert Path(doc["release_provenance"]) == tmp_path / "world" / "attestations" / "demo_pkg-1.0.0.provenance.sigstore.json"
    assert Path(doc["journal"]).parent == tmp_path / "world" / "state" / "journal"
    assert [p for p in _printed_paths(proc.stderr) if not p.exists()] == []
    assert not (tmp_path / "state").exists()


def test_rehearsal_through_uv_at_a_given_path(tmp_path: Path) -> None:
    """`--uv-binary PATH` reaches the uploader: with no uv on PATH, only the flag makes it work."""
    assert UV.is_file(), "the test extra installs uv into the venv"
    dist = _dist(tmp_path)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {**os.environ, "TRUSTPUB_STATE_DIR": str(tmp_path / "state"), "PATH": str(empty)}
    assert shutil.which("uv", path=env["PATH"]) is None
    without = _rehearse("--uploader", "uv", str(dist), cwd=tmp_path, env=env)
    assert without.returncode == 2 and "uv executable not found: 'uv'" in without.stderr, without.stderr
    assert "Traceback" not in without.stderr
    proc = _rehearse("--uploader", "uv", "--uv-binary", str(UV), str(dist), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "rehearsal passed: 2 file(s)" in proc.stderr
