"""``trustpub publish --to A,B``: one release, several indexes (issue 15).

Two real indexes on 127.0.0.1: the local world's index (PyPI-like, audience ``pypi``)
and a second local index (TestPyPI-like, audience ``testpypi``) that trusts the same
OIDC issuer and Sigstore instance, as TestPyPI and PyPI trust the same GitHub and
Sigstore. The release is the demo project built by hatchling (sdist and two wheels),
published by the CLI in a subprocess, as a user or the GitHub Action runs it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability._support import build_release, sha256s
from trustpub.errors import ConfigurationError
from trustpub.local.index import LocalIndex
from trustpub.local.issuer import GITHUB_ISSUER
from trustpub.local.world import LocalWorld
from trustpub.target_list import resolve_targets, split_targets
from trustpub.transport import Transport
from trustpub.upload.simple import SimpleIndex

TRUSTPUB = [sys.executable, "-m", "trustpub"]
PROJECT = "trustpub-demo"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_release(tmp_path_factory.mktemp("multi-release"), wheels=2)


@pytest.fixture
def dist(release: Path, tmp_path: Path) -> Path:
    target = tmp_path / "dist"
    shutil.copytree(release, target)
    return target


@dataclass
class Indexes:
    """``staging`` is published first (TestPyPI's role), ``world.index`` second (PyPI's)."""

    world: LocalWorld
    staging: LocalIndex

    @property
    def production(self) -> LocalIndex:
        return self.world.index

    def trust(self, index: LocalIndex) -> None:
        ident = self.world.issuer.github
        index.add_project(PROJECT)
        index.add_github_publisher(PROJECT, ident.repository, ident.repository_owner_id, ident.workflow_file,
                                   ident.environment)


@pytest.fixture
def indexes(tmp_path: Path) -> Iterator[Indexes]:
    with LocalWorld.start(tmp_path / "world") as world:
        staging = LocalIndex(tmp_path / "staging", audience="testpypi",
                             jwks_urls={GITHUB_ISSUER: world.issuer.jwks_url}, trust_config=world.trust_config)
        staging.start()
        try:
            yield Indexes(world, staging)
        finally:
            staging.stop()


def _env(tmp_path: Path, world: LocalWorld | None) -> dict[str, str]:
    """A clean environment; with ``world``, a GitHub Actions job with ``id-token: write`` and a step summary."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI_", "TWINE_", "CI_"))}
    env.pop("CI", None)
    env["TRUSTPUB_STATE_DIR"] = str(tmp_path / "state")
    env["PYPIRC"] = str(tmp_path / "no-pypirc")
    if world is not None:
        env.update(world.ci_environment())
        env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "summary.md")
    return env


def _publish(to: str, dist: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRUSTPUB, "publish", "--to", to, "--json", *extra, str(dist)],
                          env=env, capture_output=True, text=True, timeout=240)


def _listed(index: LocalIndex) -> dict[str, str]:
    return SimpleIndex(Transport(), index.simple_url).files(PROJECT, refresh=True)


def _provenance(index: LocalIndex, filename: str) -> bytes:
    response = Transport().request(
        "GET", f"{index.url}/integrity/{PROJECT}/1.0.0/{filename}/provenance",
        headers={"Accept": "application/vnd.pypi.integrity.v1+json"},
    )
    assert response.status == 200, (filename, response.status)
    return bytes(response.data)


def _doc(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    doc = json.loads(proc.stdout)
    assert isinstance(doc, dict)
    return doc


def _statuses(doc: dict[str, object]) -> list[str]:
    return [t["status"] for t in doc["targets"]]  # type: ignore[attr-defined, index]


# -- the list of indexes ----------------------------------------------------------------


def test_the_to_list_takes_commas_lines_names_sections_and_urls(tmp_path: Path) -> None:
    """What the Action passes (one item per line) reads like a comma list; sections bring their URL."""
    assert split_targets("testpypi,\n  pypi\r\n,") == ["testpypi", "pypi"]
    pypirc = tmp_path / "pypirc"
    pypirc.write_text("[corp]\nrepository = https://pypi.corp.example/legacy/\nusername = u\npassword = p\n")
    env = {"PYPIRC": str(pypirc)}
    targets = resolve_targets(to="testpypi\ncorp\nhttps://__token__:pypi-sekret@mirror.example/legacy/", env=env)
    assert [t.registry.upload_url for t in targets] == [
        "https://test.pypi.org/legacy/", "https://pypi.corp.example/legacy/", "https://mirror.example/legacy/"]
    assert [t.repository for t in targets] == [None, "corp", None]
    assert targets[2].target.userinfo is not None and "sekret" not in targets[2].name
    # One item keeps the single-index rules; a bare section name works there too.
    assert resolve_targets(to="corp", env=env)[0].repository == "corp"
    with pytest.raises(ConfigurationError, match=r"names https://upload\.pypi\.org/legacy/ twice"):
        resolve_targets(to="pypi,https://upload.pypi.org/legacy", env=env)
    with pytest.raises(ConfigurationError, match=r"unknown index 'nosuch' in --to.*sections: corp"):
        resolve_targets(to="testpypi,nosuch", env=env)
    with pytest.raises(ConfigurationError, match="--repository corp beside --to"):
        resolve_targets(to="testpypi,pypi", repository="corp", env=env)


def test_options_for_one_index_are_refused_with_several(dist: Path, tmp_path: Path) -> None:
    env = _env(tmp_path, None)
    proc = _publish("http://127.0.0.1:9/legacy/,http://127.0.0.1:8/legacy/", dist, env, "--stage-only",
                    "--upload-api", "auto")
    assert proc.returncode == 2, proc.stderr
    assert "--stage-only works on one index; --to names 2" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- the release --------------------------------------------------------------------------


def test_one_run_puts_identical_files_and_attestations_on_both(indexes: Indexes, dist: Path, tmp_path: Path) -> None:
    indexes.trust(indexes.staging)
    indexes.trust(indexes.production)
    env = _env(tmp_path, indexes.world)
    to = f"{indexes.staging.upload_url},{indexes.production.upload_url}"
    proc = _publish(to, dist, env, "--attestations-dir", str(tmp_path / "att"))
    assert proc.returncode == 0, proc.stderr
    doc = _doc(proc)
    assert doc["schema"] == "trustpub.publish.many/1" and doc["ok"] is True
    assert _statuses(doc) == ["landed", "landed"]
    ours = sha256s(dist)
    assert _listed(indexes.staging) == _listed(indexes.production) == ours
    for filename in ours:
        # The same signed bundles on both indexes, not two signing passes.
        assert _provenance(indexes.staging, filename) == _provenance(indexes.production, filename)
    assert proc.stderr.count("signed,") == 1  # one attestation step for the release
    # Each index's section keeps the single-index document's keys.
    for target in doc["targets"]:  # type: ignore[attr-defined]
        assert {"files", "registry", "credentials", "journal", "upload_api"} <= set(target)
        assert target["credentials"].startswith("trusted publishing")
    journals = {t["journal"] for t in doc["targets"]}  # type: ignore[attr-defined]
    assert len(journals) == 2  # one journal per index
    # One release provenance, naming both indexes in order.
    bundle = json.loads(Path(str(doc["release_provenance"])).read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicate"]["buildDefinition"]["externalParameters"]["indexes"] == [
        indexes.staging.upload_url, indexes.production.upload_url]
    assert sorted(s["name"] for s in statement["subject"]) == sorted(ours)
    # The step summary: an overview, then one section per index.
    summary = (tmp_path / "summary.md").read_text()
    assert summary.count("### trustpub: trustpub-demo 1.0.0 to ") == 2
    assert "2 of 2 landed" in summary

    again = _publish(to, dist, env, "--attestations-dir", str(tmp_path / "att"))
    assert again.returncode == 0, again.stderr
    for target in _doc(again)["targets"]:  # type: ignore[attr-defined]
        assert {f["outcome"] for f in target["files"]} == {"already-present"}
    assert sorted(indexes.staging.stored_log) == sorted(indexes.production.stored_log) == sorted(ours)


def test_missing_publisher_on_the_second_index_fails_before_the_first_gets_a_byte(
    indexes: Indexes, dist: Path, tmp_path: Path
) -> None:
    indexes.trust(indexes.staging)
    indexes.production.add_project(PROJECT)  # the project exists, but trusts no publisher
    att = tmp_path / "att"
    proc = _publish(f"{indexes.staging.upload_url},{indexes.production.upload_url}", dist, _env(tmp_path, indexes.world),
                    "--attestations-dir", str(att))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = _doc(proc)
    assert _statuses(doc) == ["not-attempted", "refused"]
    assert "nothing was uploaded to any index" in str(doc["error"])
    assert indexes.staging.stored_log == [] and indexes.production.stored_log == []
    assert _listed(indexes.staging) == {}
    assert not att.exists() or not list(att.iterdir())  # nothing was signed either
    summary = (tmp_path / "summary.md").read_text()
    assert "0 of 2 landed" in summary and summary.count("\n### trustpub: ") == 2
    assert "REFUSED" in summary and "not attempted" in summary


def test_a_fault_on_the_second_index_and_a_rerun_complete_it_without_touching_the_first(
    indexes: Indexes, dist: Path, tmp_path: Path
) -> None:
    indexes.trust(indexes.staging)
    indexes.trust(indexes.production)
    env = _env(tmp_path, indexes.world)
    to = f"{indexes.staging.upload_url},{indexes.production.upload_url}"
    att = ["--attestations-dir", str(tmp_path / "att"), "--jobs", "1"]
    indexes.production.fail_next_uploads(1, status=400)
    first = _publish(to, dist, env, *att)
    assert first.returncode == 1, first.stderr
    assert _statuses(_doc(first)) == ["landed", "failed"]
    ours = sha256s(dist)
    assert _listed(indexes.staging) == ours
    assert len(_listed(indexes.production)) < len(ours)
    assert "FAILED" in first.stderr

    rerun = _publish(to, dist, env, *att)
    assert rerun.returncode == 0, rerun.stderr
    doc = _doc(rerun)
    assert _statuses(doc) == ["landed", "landed"]
    staging_files = {f["filename"]: f["outcome"] for f in doc["targets"][0]["files"]}  # type: ignore[index]
    assert set(staging_files.values()) == {"already-present"}
    assert _listed(indexes.production) == ours
    assert sorted(indexes.staging.stored_log) == sorted(ours)  # nothing sent to the first index again
    assert sorted(indexes.production.stored_log) == sorted(ours)  # each file stored once
    for filename in ours:  # the re-run sent the bundles of the first run
        assert _provenance(indexes.staging, filename) == _provenance(indexes.production, filename)
    assert doc["release_provenance"]


def test_a_failing_smoke_test_on_the_first_index_stops_the_second(indexes: Indexes, dist: Path, tmp_path: Path) -> None:
    """Token per index (user:password@ in each URL), legacy API: the smoke test runs after the first upload."""
    indexes.staging.add_project(PROJECT)
    indexes.production.add_project(PROJECT)
    first_token = indexes.staging.add_api_token(PROJECT)
    second_token = indexes.production.add_api_token(PROJECT)
    first_url = indexes.staging.upload_url.replace("http://", f"http://__token__:{first_token}@")
    second_url = indexes.production.upload_url.replace("http://", f"http://__token__:{second_token}@")
    # Installs from the first index (the import works), then fails on purpose.
    smoke = 'python -c "import trustpub_demo; raise SystemExit(3)"'
    proc = _publish(f"{first_url},{second_url}", dist, _env(tmp_path, None), "--no-attestations",
                    "--smoke", smoke)
    assert proc.returncode == 1, proc.stderr
    assert first_token not in proc.stdout + proc.stderr and second_token not in proc.stdout + proc.stderr
    doc = _doc(proc)
    assert _statuses(doc) == ["failed", "not-attempted"]
    assert doc["targets"][0]["smoke"] == "failed"  # type: ignore[index]
    assert "running the smoke command failed (exit 3)" in proc.stderr
    assert _listed(indexes.staging) == sha256s(dist)
    assert indexes.production.stored_log == []


def _token_urls(indexes: Indexes) -> list[str]:
    """Each index's upload URL carrying its own API token (the index's project created first)."""
    urls = []
    for index in (indexes.staging, indexes.production):
        index.add_project(PROJECT)
        token = index.add_api_token(PROJECT)
        urls.append(index.upload_url.replace("http://", f"http://__token__:{token}@"))
    return urls


def test_a_conflicting_file_on_the_second_index_stops_the_release_before_the_first(
    indexes: Indexes, dist: Path, tmp_path: Path
) -> None:
    from tests.distfactory import make_metadata, make_sdist

    urls = _token_urls(indexes)
    other = tmp_path / "other"
    other.mkdir()
    make_sdist(other, name="trustpub_demo", version="1.0.0", metadata=make_metadata(PROJECT, "1.0.0"))
    env = _env(tmp_path, None)
    seeded = _publish(urls[1], other, env, "--no-attestations")  # one index: the single-index document
    assert seeded.returncode == 0, seeded.stderr
    assert "schema" not in _doc(seeded) and _doc(seeded)["files"]
    proc = _publish(",".join(urls), dist, env, "--no-attestations")
    assert proc.returncode == 1, proc.stderr
    assert "different file with this name" in proc.stderr
    assert _statuses(_doc(proc)) == ["not-attempted", "refused"]
    assert indexes.staging.stored_log == []


def test_one_environment_token_is_never_sent_to_two_indexes(indexes: Indexes, dist: Path, tmp_path: Path) -> None:
    indexes.staging.add_project(PROJECT)
    env = _env(tmp_path, None)
    env["TRUSTPUB_TOKEN"] = indexes.staging.add_api_token()
    proc = _publish(f"{indexes.staging.upload_url},{indexes.production.upload_url}", dist, env, "--no-attestations")
    assert proc.returncode == 2, proc.stderr
    assert "the same credentials (TRUSTPUB_TOKEN) would be sent to" in proc.stderr
    assert indexes.staging.stored_log == [] and indexes.production.stored_log == []


def test_dry_run_lists_every_index_and_sends_nothing(dist: Path, tmp_path: Path) -> None:
    proc = _publish("testpypi\npypi", dist, _env(tmp_path, None), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    doc = _doc(proc)
    assert doc["dry_run"] is True and _statuses(doc) == ["landed", "landed"]
    assert [t["upload_url"] for t in doc["targets"]] == [  # type: ignore[attr-defined]
        "https://test.pypi.org/legacy/", "https://upload.pypi.org/legacy/"]
    assert "dry run: trustpub-demo 1.0.0 to 2 indexes, nothing was sent" in proc.stderr


def test_upload_api_auto_uses_each_custom_index_that_speaks_upload2(indexes: Indexes, dist: Path, tmp_path: Path) -> None:
    proc = _publish(",".join(_token_urls(indexes)), dist, _env(tmp_path, None), "--no-attestations", "--upload-api", "auto")
    assert proc.returncode == 0, proc.stderr
    doc = _doc(proc)
    assert [t["upload_api"] for t in doc["targets"]] == ["upload-2.0", "upload-2.0"]  # type: ignore[attr-defined]
    assert _listed(indexes.staging) == _listed(indexes.production) == sha256s(dist)


def test_a_passing_smoke_test_runs_after_each_index_from_that_index(indexes: Indexes, dist: Path, tmp_path: Path) -> None:
    urls = _token_urls(indexes)
    proc = _publish(",".join(urls), dist, _env(tmp_path, None), "--no-attestations",
                    "--smoke", 'python -c "import trustpub_demo"')
    assert proc.returncode == 0, proc.stderr
    doc = _doc(proc)
    assert _statuses(doc) == ["landed", "landed"]
    assert [t["smoke"] for t in doc["targets"]] == ["passed", "passed"]  # type: ignore[attr-defined]
    for index in (indexes.staging, indexes.production):  # each smoke test installed from its own index
        assert f"smoke: installing trustpub-demo==1.0.0 from {index.upload_url} ({index.simple_url})" in proc.stderr
    # The first smoke test ran before the second index got anything.
    assert proc.stderr.index("smoke: running the smoke command") < proc.stderr.index("== index 2/2")
