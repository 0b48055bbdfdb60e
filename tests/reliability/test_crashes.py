"""SIGKILL at 20 random points of a 40-file publish: each re-run completes the release.

Each point gets a fresh local index (it starts in milliseconds) and the same 40 files,
built once per session. After every kill the journal on disk must be whole JSON of the
journal's shape (it is written atomically), and the re-run must read it back and say
what the killed run left. The index must end with every file exactly once.

The points are random (``TRUSTPUB_CRASH_SEED`` replays a run; the seed is in every
failure message), spread over the time a whole publish takes, so they fall before the
journal exists, during planning, between and inside uploads, and after the last one.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability._support import TRUSTPUB, clean_env, journals, run_trustpub, sha256s
from trustpub.local.index import LocalIndex

POINTS = 20


@pytest.fixture(scope="module")
def seed() -> int:
    return int(os.environ.get("TRUSTPUB_CRASH_SEED") or time.time_ns() % 1_000_000)


def _journal_snapshot(cwd: Path, where: str) -> dict[str, object] | None:
    found = journals(cwd)
    if not found:
        return None
    assert len(found) == 1, f"{where}: one release, one journal: {found}"
    try:
        doc = json.loads(found[0].read_text())
    except ValueError as exc:  # pragma: no cover - the failure this test exists for
        raise AssertionError(f"{where}: the journal is torn: {exc}") from None
    assert isinstance(doc, dict) and isinstance(doc.get("files"), dict) and isinstance(doc.get("runs"), list), where
    for name, entry in doc["files"].items():  # type: ignore[union-attr]
        assert entry["state"] in ("planned", "uploaded", "already-present", "failed", "skipped"), (where, name, entry)
    return doc


def test_sigkill_at_random_points_then_rerun_completes(release40: Path, tmp_path_factory: pytest.TempPathFactory, seed: int) -> None:
    ours = sha256s(release40)
    assert len(ours) == 40
    rng = random.Random(seed)

    # Calibrate: how long a whole publish takes here (and that it works at all).
    calibration = tmp_path_factory.mktemp("calibration")
    with LocalIndex(calibration / "index") as index:
        token = index.add_api_token("trustpub-demo")
        full = run_trustpub(["publish", "--to", index.upload_url, "--no-attestations", str(release40)],
                            cwd=calibration, env=clean_env(calibration, TRUSTPUB_TOKEN=token), secrets=[token])
        assert full.returncode == 0, full.stderr
        assert sorted(index.stored_log) == sorted(ours)
    span = full.elapsed

    for point in range(POINTS):
        where = f"kill point {point} (seed {seed})"
        cwd = tmp_path_factory.mktemp(f"kill{point}")
        dist = cwd / "dist"
        shutil.copytree(release40, dist)
        with LocalIndex(cwd / "index") as index:
            token = index.add_api_token("trustpub-demo")
            env = clean_env(cwd, TRUSTPUB_TOKEN=token)
            delay = rng.uniform(0.05, span * 1.05)
            proc = subprocess.Popen(
                [*TRUSTPUB, "publish", "--to", index.upload_url, "--no-attestations", "-q", str(dist)],
                cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                time.sleep(delay)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            left = _journal_snapshot(cwd, where)

            rerun = run_trustpub(["publish", "--to", index.upload_url, "--no-attestations", "--json", str(dist)],
                                 cwd=cwd, env=env, secrets=[token])
            assert rerun.returncode == 0, f"{where}: {rerun.stderr}"
            assert sorted(index.stored_log) == sorted(ours), f"{where}: a file is missing or was stored twice"
            assert index.stored_log[-1].endswith(".tar.gz"), f"{where}: the sdist went up before a wheel"
            assert set(rerun.outcomes().values()) <= {"uploaded", "already-present"}, where
            _assert_read_back(left, rerun.stderr, rerun.json(), ours, where)
            _journal_snapshot(cwd, where)


def _assert_read_back(left: dict[str, object] | None, stderr: str, doc: dict[str, object], ours: dict[str, str], where: str) -> None:
    """The re-run said what the killed run left, with the journal's own counts."""
    runs = left.get("runs") if left else None
    if not runs:  # killed before a run was recorded: nothing to read back
        assert doc["previous_run"] is None, where
        return
    assert isinstance(runs, list)
    if runs[-1]["finished"] is not None:  # killed after the run had recorded its end
        assert runs[-1]["outcome"] == "ok" and doc["previous_run"] is None, where
        return
    files = left["files"] if left else {}
    assert isinstance(files, dict)
    uploaded = sum(1 for n, e in files.items() if e["state"] == "uploaded" and e["sha256"] == ours.get(n))
    match = re.search(r"previous run \(.*?\) was interrupted: (\d+) uploaded.*?(\d+) not attempted", stderr)
    assert match, f"{where}: the re-run did not report the interrupted run:\n{stderr}"
    assert int(match.group(1)) == uploaded, where
    previous = doc["previous_run"]
    assert isinstance(previous, dict) and previous["interrupted"] is True and previous["uploaded"] == uploaded, where
    assert previous["uploaded"] + previous["already_present"] + previous["failed"] + previous["not_attempted"] == 40, where
