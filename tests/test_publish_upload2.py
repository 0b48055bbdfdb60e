"""``trustpub publish --upload-api`` against the local world's Upload 2.0 API (PEP 694).

Real parts only: the local index on 127.0.0.1 with its session API, releases built by
hatchling (examples/demo, retagged into 40 wheels), the CLI in a subprocess where a
user would run it, pip installing from the stage preview and from the regular index.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability._support import build_release
from trustpub.errors import TrustpubError
from trustpub.local.world import LocalWorld
from trustpub.orchestrator import Orchestrator
from trustpub.registry import Registry
from trustpub.request import PublishRequest
from trustpub.transport import Transport
from trustpub.upload.simple import SimpleIndex

TRUSTPUB = [sys.executable, "-m", "trustpub"]
PROJECT = "trustpub-demo"


@pytest.fixture(scope="module")
def release40(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_release(tmp_path_factory.mktemp("u2-release40"), wheels=39)


@pytest.fixture(scope="module")
def release4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_release(tmp_path_factory.mktemp("u2-release4"), wheels=3)


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "state"
    monkeypatch.setenv("TRUSTPUB_STATE_DIR", str(where))
    return where


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world", project=PROJECT) as w:
        yield w


def _env(world: LocalWorld) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI_"))}
    env["TRUSTPUB_STATE_DIR"] = os.environ["TRUSTPUB_STATE_DIR"]
    env["TRUSTPUB_TOKEN"] = world.index.add_api_token(PROJECT)
    env.pop("CI", None)
    return env


def _cli(world: LocalWorld, dist: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--upload-api", world.index.upload2_url,
         "--no-attestations", "--json", *extra, str(dist)],
        env=env or _env(world), capture_output=True, text=True, timeout=300,
    )


def _public(world: LocalWorld) -> dict[str, str]:
    return SimpleIndex(Transport(), world.index.simple_url).files(PROJECT, refresh=True)


def _copy(src: Path, tmp_path: Path) -> Path:
    target = tmp_path / "dist"
    shutil.copytree(src, target)
    return target


def test_40_files_publish_atomically(world: LocalWorld, release40: Path, tmp_path: Path) -> None:
    dist = _copy(release40, tmp_path)
    env = _env(world)
    seen_while_staging: list[int] = []
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if line.startswith("staged: "):
            seen_while_staging.append(len(_public(world)))

    request = PublishRequest(paths=(dist,), registry=Registry.parse(world.index.upload_url), attestations=False,
                             upload_api=world.index.upload2_url, env=env, jobs=4)
    result = Orchestrator(say=say).publish(request)
    assert len(seen_while_staging) == 40 and set(seen_while_staging) == {0}  # nothing public until published
    ours = {p.name for p in dist.iterdir()}
    assert set(_public(world)) == ours  # then every file at once
    assert result.ok and result.upload_api == "upload-2.0" and result.published is True
    assert {f.outcome for f in result.files} == {"uploaded"}
    assert "upload API: Upload 2.0" in "\n".join(lines)


def test_fault_on_30th_file_leaves_nothing_public_and_rerun_completes(
    world: LocalWorld, release40: Path, tmp_path: Path, state_dir: Path
) -> None:
    dist = _copy(release40, tmp_path)
    env = _env(world)
    staged: list[str] = []

    def say(line: str) -> None:
        if line.startswith("staged: "):
            staged.append(line)
            if len(staged) == 29:  # the 30th file's bytes are refused (not retryable)
                world.index.upload2.fail_next(1, 400, action="bytes")

    request = PublishRequest(paths=(dist,), registry=Registry.parse(world.index.upload_url), attestations=False,
                             upload_api=world.index.upload2_url, env=env, jobs=1)
    with pytest.raises(TrustpubError) as caught:
        Orchestrator(say=say).publish(request)
    result = caught.value.result  # type: ignore[attr-defined]
    assert "HTTP 400 Fault injected" in str(caught.value)
    failed = [f for f in result.files if f.outcome == "failed"]
    assert len(failed) == 1 and failed[0].filename in str(caught.value)
    assert not any(f.outcome == "uploaded" for f in result.files)
    assert _public(world) == {}  # the 29 staged files were discarded with the session
    journal = json.loads(next((state_dir / "journal").glob("*.json")).read_text())
    assert journal["session"]["status"] == "canceled"

    proc = _cli(world, dist, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["upload_api"] == "upload-2.0" and doc["session"]["published"] is True
    assert set(_public(world)) == {p.name for p in dist.iterdir()}
    assert "upload API: Upload 2.0 (PEP 694 session)" in proc.stderr


def test_problem_details_name_the_file_and_nothing_is_public(world: LocalWorld, release4: Path, tmp_path: Path) -> None:
    dist = _copy(release4, tmp_path)
    world.index.upload2.fail_next(1, 400, action="complete")
    proc = _cli(world, dist, "--jobs", "1")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    first = sorted(json.loads(proc.stdout)["files"], key=lambda f: f["outcome"])[0]
    assert first["outcome"] == "failed"
    assert f"{first['filename']}: completing the file upload: HTTP 400 Fault injected" in proc.stderr
    assert "nothing of this release became public" in proc.stderr
    assert _public(world) == {}


def test_sigkill_mid_session_then_rerun_resumes_the_same_session(
    world: LocalWorld, release4: Path, tmp_path: Path, state_dir: Path
) -> None:
    dist = _copy(release4, tmp_path)
    env = _env(world)
    world.index.upload2.delay = 0.5
    proc = subprocess.Popen(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--upload-api", world.index.upload2_url,
         "--no-attestations", "--jobs", "1", str(dist)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    session_url = None
    while time.monotonic() < deadline:
        journals = list((state_dir / "journal").glob("*.json"))
        if journals:
            data = json.loads(journals[0].read_text())
            staged = [n for n, e in data["files"].items() if e["state"] == "staged"]
            if len(staged) >= 2:
                session_url = data["session"]["url"]
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert session_url is not None, "the run never staged two files"
    assert _public(world) == {}
    world.index.upload2.delay = 0.0
    again = _cli(world, dist, env=env)
    assert again.returncode == 0, again.stderr
    assert "resuming the Upload 2.0 session of the previous run" in again.stderr
    assert json.loads(again.stdout)["session"]["url"] == session_url
    assert set(_public(world)) == {p.name for p in dist.iterdir()}


def _venv_python(where: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(where)
    return where / "bin" / "python"


def test_stage_only_smoke_then_session_publish_and_pip_installs(
    world: LocalWorld, release4: Path, tmp_path: Path
) -> None:
    dist = _copy(release4, tmp_path)
    env = _env(world)
    staged = _cli(world, dist, "--stage-only", env=env)
    assert staged.returncode == 0, staged.stderr
    doc = json.loads(staged.stdout)
    assert doc["session"]["published"] is False and doc["session"]["stage_url"] and doc["session"]["session_token"]
    assert {f["outcome"] for f in doc["files"]} == {"staged"}
    assert f"stage (pip --index-url): {doc['session']['stage_url']}" in staged.stderr
    assert f"session token: {doc['session']['session_token']}" in staged.stderr
    assert _public(world) == {}
    # Re-run with --smoke: the same session (resumed), tried from the preview, then published.
    smoked = _cli(world, dist, "--smoke", "python -c 'import trustpub_demo'", env=env)
    assert smoked.returncode == 0, smoked.stderr
    assert "smoke: running the smoke command" in smoked.stderr
    assert json.loads(smoked.stdout)["session"]["url"] == doc["session"]["url"]
    assert set(_public(world)) == {p.name for p in dist.iterdir()}
    python = _venv_python(tmp_path / "venv")
    pip = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--index-url",
                          world.index.simple_url, f"{PROJECT}==1.0.0"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
    assert pip.returncode == 0, pip.stderr
    assert subprocess.run([str(python), "-c", "import trustpub_demo"], timeout=60).returncode == 0


def test_failing_smoke_cancels_and_session_flag_publishes_a_kept_stage(
    world: LocalWorld, release4: Path, tmp_path: Path
) -> None:
    dist = _copy(release4, tmp_path)
    env = _env(world)
    failed = _cli(world, dist, "--smoke", "python -c 'import no_such_module'", "--keep-stage", env=env)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr.split("smoke")[0]
    assert "--smoke: running the smoke command failed" in failed.stderr
    assert "the session is kept staged" in failed.stderr
    assert _public(world) == {}
    session_url = json.loads(failed.stdout)["session"] if json.loads(failed.stdout).get("session") else None
    journal = json.loads(next((Path(env["TRUSTPUB_STATE_DIR"]) / "journal").glob("*.json")).read_text())
    sid = journal["session"]["url"].rsplit("/", 1)[-1]
    assert session_url is None or session_url["url"].endswith(sid)
    published = subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--upload-api", world.index.upload2_url,
         "--session", sid, "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert published.returncode == 0, published.stderr
    assert set(_public(world)) == {p.name for p in dist.iterdir()}


def test_legacy_is_the_default_and_stage_flags_need_upload2(world: LocalWorld, release4: Path, tmp_path: Path) -> None:
    dist = _copy(release4, tmp_path)
    env = _env(world)
    refused = subprocess.run([*TRUSTPUB, "publish", "--to", world.index.upload_url, "--stage-only", str(dist)],
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "--stage-only needs the Upload 2.0 API" in refused.stderr
    assert "Traceback" not in refused.stderr and _public(world) == {}
    elsewhere = subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--upload-api", "http://127.0.0.2:9/2.0/", str(dist)],
        env=env, capture_output=True, text=True, timeout=60)
    assert elsewhere.returncode != 0 and "not on the upload host" in elsewhere.stderr
    legacy = subprocess.run([*TRUSTPUB, "publish", "--to", world.index.upload_url, "--no-attestations", "--json", str(dist)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert legacy.returncode == 0, legacy.stderr
    assert json.loads(legacy.stdout)["upload_api"] == "legacy" and "upload API: legacy" in legacy.stderr
    assert set(_public(world)) == {p.name for p in dist.iterdir()}


def test_upload_api_auto_probes_the_custom_index(world: LocalWorld, release4: Path, tmp_path: Path) -> None:
    dist = _copy(release4, tmp_path)
    proc = subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--upload-api", "auto", "--no-attestations", "--json",
         str(dist)],
        env=_env(world), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["upload_api"] == "upload-2.0"


def test_trusted_publishing_and_attestations_through_a_session(world: LocalWorld, release4: Path, tmp_path: Path) -> None:
    """The whole chain over Upload 2.0: a minted token opens the session, every staged
    file carries its PEP 740 attestation, and after the publish the index serves a
    provenance per file that verifies for the publisher."""
    dist = _copy(release4, tmp_path)
    env = {k: v for k, v in _env(world).items() if k != "TRUSTPUB_TOKEN"}
    env.update(world.ci_environment())
    proc = subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--upload-api", world.index.upload2_url,
         "--attestations-dir", str(tmp_path / "att"), "--json", str(dist)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["credentials"].startswith("trusted publishing")
    assert doc["session"]["published"] is True
    ours = {p.name for p in dist.iterdir()}
    assert set(_public(world)) == ours
    assert {f["filename"] for f in doc["files"]} == ours
    for entry in doc["files"]:
        assert entry["outcome"] == "uploaded" and entry["rekor_log_index"] is not None
    from trustpub.commands.rehearse import verify_provenance
    from trustpub.orchestrator import PublishedFile, PublishResult

    result = PublishResult(Registry.parse(world.index.upload_url), PROJECT, "1.0.0", [])
    result.files = [PublishedFile(f["filename"], f["filetype"], f["size"], f["sha256"], f["outcome"], f["url"])
                    for f in doc["files"]]
    assert verify_provenance(world, result) == []  # served by the index, checked against the publisher
    # The session token and the minted upload token never reach the output.
    assert "pypi-" not in proc.stdout
    assert doc["session"]["session_token"] is None
