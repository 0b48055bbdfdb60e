"""``trustpub publish`` end to end against the local world: the release guarantees users rely on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import build_demo, make_metadata, make_wheel
from trustpub.dists import hash_file
from trustpub.local.world import LocalWorld

REPO = Path(__file__).resolve().parents[1]
TRUSTPUB = [sys.executable, "-m", "trustpub"]


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project built by hatchling: its wheel, a second (universal-tagged) wheel, its sdist."""
    out = tmp_path_factory.mktemp("release")
    build_demo(out)
    wheel = next(out.glob("*.whl"))
    _retag(wheel, out / wheel.name.replace("-py3-none-any", "-py2.py3-none-any"), "py2.py3-none-any")
    return out


def _retag(wheel: Path, target: Path, tag: str) -> None:
    """A second wheel of the same build with another tag (WHEEL and RECORD updated, so other bytes)."""
    import base64
    import hashlib
    import zipfile

    with zipfile.ZipFile(wheel) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    wheel_name = next(n for n in members if n.endswith(".dist-info/WHEEL"))
    members[wheel_name] = members[wheel_name].replace(b"Tag: py3-none-any", f"Tag: {tag}".encode())
    digest = base64.urlsafe_b64encode(hashlib.sha256(members[wheel_name]).digest()).rstrip(b"=").decode()
    record_name = next(n for n in members if n.endswith(".dist-info/RECORD"))
    lines = [
        f"{wheel_name},sha256={digest},{len(members[wheel_name])}" if line.startswith(wheel_name + ",") else line
        for line in members[record_name].decode().splitlines()
    ]
    members[record_name] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in members.items():
            dst.writestr(name, data)


@pytest.fixture
def dist(release: Path, tmp_path: Path) -> Path:
    target = tmp_path / "dist"
    shutil.copytree(release, target)
    return target


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own state folder (journals, release provenance); subprocesses inherit it."""
    where = tmp_path / "state"
    monkeypatch.setenv("TRUSTPUB_STATE_DIR", str(where))
    return where


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world", project="trustpub-demo") as w:
        yield w


def _token_env(world: LocalWorld) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI_"))}
    env["TRUSTPUB_STATE_DIR"] = os.environ["TRUSTPUB_STATE_DIR"]
    env["TRUSTPUB_TOKEN"] = world.index.add_api_token("trustpub-demo")
    env.pop("CI", None)
    return env


def _publish(world: LocalWorld, dist: Path, cwd: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--json", *extra, str(dist)],
        env=env if env is not None else _token_env(world), cwd=cwd, capture_output=True, text=True, timeout=120,
    )


def _index_hashes(world: LocalWorld) -> dict[str, str]:
    from trustpub.transport import Transport
    from trustpub.upload.simple import SimpleIndex

    return SimpleIndex(Transport(), world.index.url + "/simple/").files("trustpub-demo")


def _ours(dist: Path) -> dict[str, str]:
    return {p.name: hash_file(p).sha256 for p in dist.iterdir()}


def test_token_release_lands_and_json_matches_the_index(world: LocalWorld, dist: Path, tmp_path: Path, state_dir: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    proc = _publish(world, dist, work, "--no-attestations")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["project"] == "trustpub-demo" and doc["version"] == "1.0.0"
    assert [f["filetype"] for f in doc["files"]] == ["bdist_wheel", "bdist_wheel", "sdist"]
    assert {f["filename"]: f["sha256"] for f in doc["files"]} == _index_hashes(world) == _ours(dist)
    assert all(f["outcome"] == "uploaded" for f in doc["files"])
    assert doc["files"][0]["url"] == f"{world.index.url}/project/trustpub-demo/1.0.0/"
    assert "TRUSTPUB_TOKEN" in doc["credentials"]
    (journal_path,) = (state_dir / "journal").glob("*.json")
    assert doc["journal"] == str(journal_path) and f"journal: {journal_path}" in proc.stderr
    journal = json.loads(journal_path.read_text())
    assert {f: e["state"] for f, e in journal["files"].items()} == dict.fromkeys(_ours(dist), "uploaded")
    # Nothing is written into the working directory or next to the dists.
    assert list(work.iterdir()) == [] and sorted(_ours(dist)) == sorted(p.name for p in dist.iterdir())
    # A second run, from another working directory, is a no-op that still succeeds and
    # continues the same journal (same release, same index).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = _publish(world, dist, elsewhere, "--no-attestations")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["journal"] == str(journal_path)
    assert len(json.loads(journal_path.read_text())["runs"]) == 2
    assert {f["outcome"] for f in json.loads(again.stdout)["files"]} == {"already-present"}
    assert sorted(world.index.stored_log) == sorted(_ours(dist))


def test_dry_run_makes_no_network_request(dist: Path, tmp_path: Path) -> None:
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k):\n    raise SystemExit('NETWORK USED: %r' % (a,))\n"
        "socket.socket.connect = refuse\nsocket.create_connection = refuse\nsocket.getaddrinfo = refuse\n"
        "from trustpub.cli import main\n"
        f"sys.exit(main(['publish', '--dry-run', '--json', {str(dist)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={k: v for k, v in os.environ.items() if not k.startswith("TRUSTPUB")})
    assert proc.returncode == 0, proc.stderr
    assert "NETWORK USED" not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["dry_run"] is True
    assert {f["outcome"] for f in doc["files"]} == {"skipped"}
    assert doc["files"][0]["url"] == "https://pypi.org/project/trustpub-demo/1.0.0/"
    assert doc["files"][0]["attestation_url"].startswith("https://pypi.org/integrity/trustpub-demo/1.0.0/")


def test_dry_run_testpypi_urls(dist: Path, tmp_path: Path) -> None:
    proc = subprocess.run([*TRUSTPUB, "publish", "--testpypi", "--dry-run", "--json", str(dist)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"][0]["url"] == "https://test.pypi.org/project/trustpub-demo/1.0.0/"


def test_failing_preflight_uploads_nothing(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    make_wheel(dist, name="trustpub_demo", version="1.0.0", tag="cp312-cp312-linux_x86_64",
               metadata=make_metadata("trustpub-demo", "1.0.0"))
    proc = _publish(world, dist, tmp_path, "--no-attestations")
    assert proc.returncode == 1
    assert "[wheel-platform-tag]" in proc.stderr and "nothing was uploaded" in proc.stderr
    assert world.index.stored_log == []


def test_conflicting_file_stops_the_release_before_anything_goes_up(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    # Publish a different sdist under the same name first.
    other = tmp_path / "other"
    other.mkdir()
    from tests.distfactory import make_sdist

    make_sdist(other, name="trustpub_demo", version="1.0.0", metadata=make_metadata("trustpub-demo", "1.0.0"))
    first = _publish(world, other, tmp_path, "--no-attestations")
    assert first.returncode == 0, first.stderr
    before = list(world.index.stored_log)
    proc = _publish(world, dist, tmp_path, "--no-attestations")
    assert proc.returncode == 1
    assert "different file with this name" in proc.stderr
    assert world.index.stored_log == before


@pytest.mark.parametrize("kill_after_stored", [0, 1, 2, 3])
def test_kill_and_rerun_completes_without_duplicates(
    world: LocalWorld, dist: Path, tmp_path: Path, state_dir: Path, kill_after_stored: int
) -> None:
    world.index.upload_delay = 0.4  # each answer is late: a kill can land after the file did
    env = _token_env(world)
    proc = subprocess.Popen(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--no-attestations", "--jobs", "1", str(dist)],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    journal_dir = state_dir / "journal"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        planned = journal_dir.exists() and any(journal_dir.glob("*.json"))
        if planned and len(world.index.stored_log) >= kill_after_stored:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    world.index.upload_delay = 0.0
    rerun = subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--no-attestations", "--json", str(dist)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert _index_hashes(world) == _ours(dist)
    assert sorted(world.index.stored_log) == sorted(_ours(dist)), "a file was stored twice"
    # Wheels always land before the sdist.
    assert world.index.stored_log[-1].endswith(".tar.gz")


def test_index_failures_are_retried(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    world.index.fail_next_uploads(2, status=503)
    proc = _publish(world, dist, tmp_path, "--no-attestations")
    assert proc.returncode == 0, proc.stderr
    assert _index_hashes(world) == _ours(dist)


def test_secret_never_printed(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    env = _token_env(world)
    token = env["TRUSTPUB_TOKEN"]
    world.index.fail_next_uploads(10, status=400)
    proc = _publish(world, dist, tmp_path, "--no-attestations", "-vv", env=env)
    assert proc.returncode == 1
    assert token not in proc.stdout + proc.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert token.encode() not in path.read_bytes(), path


def test_usage_errors(tmp_path: Path) -> None:
    proc = subprocess.run([*TRUSTPUB, "publish", "--to", "ftp://example", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown index" in proc.stderr
    proc = subprocess.run([*TRUSTPUB, "publish", "--jobs", "0", "--dry-run", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert socket  # keep the import: the conftest guard covers this process


def test_trusted_publishing_release_with_attestations_lands_and_verifies(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ACTIONS_", "TRUSTPUB_", "PYPI_"))}
    env["TRUSTPUB_STATE_DIR"] = os.environ["TRUSTPUB_STATE_DIR"]
    env.update(world.ci_environment())
    proc = _publish(world, dist, tmp_path, "--attestations-dir", str(tmp_path / "att"), env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["credentials"].startswith("trusted publishing")
    assert {f["filename"]: f["sha256"] for f in doc["files"]} == _index_hashes(world) == _ours(dist)
    for entry in doc["files"]:
        assert entry["rekor_log_index"] is not None
        assert entry["attestation_url"] == f"{world.index.url}/integrity/trustpub-demo/1.0.0/{entry['filename']}/provenance"
    # The subprocess sees a GitHub runner: the minted token is masked, on stderr so that
    # stdout stays one JSON document.
    assert "::add-mask::pypi-" in proc.stderr
    # Every file's provenance, served by the index, verifies for the publisher.
    from trustpub.commands.rehearse import verify_provenance
    from trustpub.orchestrator import PublishResult
    from trustpub.registry import Registry

    result = PublishResult(Registry.parse(world.index.upload_url), "trustpub-demo", "1.0.0", [])
    from trustpub.orchestrator import PublishedFile

    result.files = [PublishedFile(f["filename"], f["filetype"], f["size"], f["sha256"], f["outcome"], f["url"]) for f in doc["files"]]
    assert verify_provenance(world, result) == []
    assert doc["release_provenance"] and Path(doc["release_provenance"]).exists()
    # Re-running signs nothing new and uploads nothing.
    again = _publish(world, dist, tmp_path, "--attestations-dir", str(tmp_path / "att"), env=env)
    assert again.returncode == 0, again.stderr
    assert sorted(world.index.stored_log) == sorted(_ours(dist))


@pytest.mark.parametrize("server", ["pypiserver_index", "devpi_index"])
@pytest.mark.parametrize("uploader", ["native", "uv"])
def test_publish_command_to_real_indexes(request: pytest.FixtureRequest, server: str, uploader: str, dist: Path, tmp_path: Path) -> None:
    """`trustpub publish` to a real pypiserver and devpi-server, each uploader; a re-run is a no-op."""
    from tests.servers import RunningIndex, pip_download

    index: RunningIndex = request.getfixturevalue(server)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ACTIONS_", "TRUSTPUB_", "PYPI_", "CI"))}
    env["TRUSTPUB_STATE_DIR"] = os.environ["TRUSTPUB_STATE_DIR"]
    env.update({"TRUSTPUB_USERNAME": index.username, "TRUSTPUB_PASSWORD": index.password})
    uv = str(Path(sys.executable).parent / "uv")
    cmd = [*TRUSTPUB, "publish", "--to", index.upload_url, "--uploader", uploader, "--uv-binary", uv, "--json", str(dist)]
    first = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert {f["outcome"] for f in json.loads(first.stdout)["files"]} == {"uploaded"}
    again = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert {f["outcome"] for f in json.loads(again.stdout)["files"]} == {"already-present"}
    assert index.password not in first.stdout + first.stderr + again.stdout + again.stderr
    out = tmp_path / "pip"
    pip_download(index, "trustpub-demo==1.0.0", out)
    (got,) = out.iterdir()
    assert got.read_bytes() == (dist / got.name).read_bytes()


def test_trusted_publishing_kill_and_rerun(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    """Killed after the first file landed, with attestations: the re-run completes the release,
    reuses the attestations already written, and every file has its provenance on the index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ACTIONS_", "TRUSTPUB_", "PYPI_"))}
    env["TRUSTPUB_STATE_DIR"] = os.environ["TRUSTPUB_STATE_DIR"]
    env.update(world.ci_environment())
    att = tmp_path / "att"
    world.index.upload_delay = 0.4
    proc = subprocess.Popen(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--attestations-dir", str(att), "--jobs", "1", str(dist)],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(world.index.stored_log) < 1:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    world.index.upload_delay = 0.0
    written = {p.name: p.stat().st_mtime_ns for p in att.glob("*.attestation")}
    assert written, "the killed run had signed before uploading"
    rerun = _publish(world, dist, tmp_path, "--attestations-dir", str(att), env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(world.index.stored_log) == sorted(_ours(dist))
    # Attestations of files still to upload were reused, not re-signed.
    assert all(att.joinpath(n).stat().st_mtime_ns == m for n, m in written.items())
    doc = json.loads(rerun.stdout)
    assert doc["release_provenance"] and Path(doc["release_provenance"]).exists()
    from trustpub.commands.rehearse import verify_provenance
    from trustpub.orchestrator import PublishedFile, PublishResult
    from trustpub.registry import Registry

    result = PublishResult(Registry.parse(world.index.upload_url), "trustpub-demo", "1.0.0", [
        PublishedFile(f["filename"], f["filetype"], f["size"], f["sha256"], f["outcome"], f["url"]) for f in doc["files"]
    ])
    assert verify_provenance(world, result) == []
