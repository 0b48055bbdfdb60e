"""``trustpub attest`` end to end: a GitHub Actions job (the local world's runner) signs a release."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import make_sdist, make_wheel
from trustpub.cli import main
from trustpub.local.issuer import GitHubIdentity
from trustpub.local.world import LocalWorld
from trustpub.secrets import uninstall_log_redaction

PUBLISHER = "github:octo-org/demo/release.yml"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path_factory.mktemp("world"), project="demo-pkg") as running:
        yield running


@pytest.fixture(autouse=True)
def ci(world: LocalWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A GitHub Actions job of the local world, in a folder with dist/ (a wheel and an sdist)."""
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "ACTIONS_", "GITLAB", "BUILDKITE", "CIRCLECI", "TRUSTPUB_", "GOOGLE_")) or name.endswith("_ID_TOKEN"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("trustpub.oidc._detect._GCP_PRODUCT_NAME_FILE", "/nonexistent/product_name")
    for key, value in world.ci_environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TRUSTPUB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dist").mkdir()
    make_wheel(tmp_path / "dist")
    make_sdist(tmp_path / "dist")
    yield tmp_path
    world.issuer.github = GitHubIdentity()
    uninstall_log_redaction()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["attest", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def no_secrets(world: LocalWorld, *texts: str) -> None:
    for text in texts:
        assert "eyJ" not in text  # no JWT
        assert world.issuer.request_token not in text


def test_attest_a_release_then_rerun(world: LocalWorld, ci: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--slsa", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["ok"] and document["certificates"] == 1
    assert document["publisher"] == {"kind": "GitHub", "repository": "octo-org/demo", "workflow": "release.yml", "environment": "release"}
    names = sorted(p.name for p in (ci / "dist").iterdir())
    assert names == [
        "demo_pkg-1.0.0-py3-none-any.whl",
        "demo_pkg-1.0.0-py3-none-any.whl.publish.attestation",
        "demo_pkg-1.0.0-py3-none-any.whl.slsa.attestation",
        "demo_pkg-1.0.0.tar.gz",
        "demo_pkg-1.0.0.tar.gz.publish.attestation",
        "demo_pkg-1.0.0.tar.gz.slsa.attestation",
    ]
    assert [f["reused"] for f in document["files"]] == [False, False]
    # The release provenance is in the state folder: not in dist/ (`twine upload dist/*` refuses
    # unknown files), not in the project (the next sdist would pack it).
    state = ci / "state"
    assert document["release_provenance"] == str(state / "provenance" / "demo_pkg-1.0.0.provenance.sigstore.json")
    assert (state / "provenance" / "demo_pkg-1.0.0.provenance.sigstore.json").is_file()
    assert sorted(p.name for p in ci.iterdir()) == ["dist", "state"]
    assert "demo_pkg-1.0.0.tar.gz: signed demo_pkg-1.0.0.tar.gz.publish.attestation, demo_pkg-1.0.0.tar.gz.slsa.attestation" in err
    assert "2 file(s), 2 signed, 0 reused, verified for GitHub octo-org/demo, workflow release.yml" in err
    no_secrets(world, out, err)

    # A re-run (a retried job) reuses every attestation; only the release provenance is new.
    code, out, err = run(capsys, "--slsa", "--json")
    assert code == 0, err
    again = json.loads(out)
    assert [f["reused"] for f in again["files"]] == [True, True]
    assert [f["log_index"] for f in again["files"]] == [f["log_index"] for f in document["files"]]
    assert "2 file(s), 0 signed, 2 reused" in err

    # The files verify from the command line, against the same instance (TRUSTPUB_SIGSTORE).
    assert main(["verify", "dist", "--publisher", PUBLISHER]) == 0
    assert "demo_pkg-1.0.0.tar.gz: verified: publish/v1" in capsys.readouterr().err


def test_attestations_dir(ci: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "dist", "--attestations-dir", "attestations", "-q")
    assert code == 0 and err == ""
    assert sorted(p.name for p in (ci / "dist").iterdir()) == ["demo_pkg-1.0.0-py3-none-any.whl", "demo_pkg-1.0.0.tar.gz"]
    assert sorted(p.name for p in (ci / "attestations").iterdir()) == [
        "demo_pkg-1.0.0-py3-none-any.whl.publish.attestation",
        "demo_pkg-1.0.0.provenance.sigstore.json",
        "demo_pkg-1.0.0.tar.gz.publish.attestation",
    ]
    assert main(["verify", "dist", "--publisher", PUBLISHER, "--attestations-dir", "attestations", "-q"]) == 0


def test_reusable_workflow_is_refused_before_signing(world: LocalWorld, ci: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world.issuer.github = GitHubIdentity(job_workflow_ref="octo-org/demo/.github/workflows/publish.yml@refs/tags/v1.0.0")
    size = world.sigstore.rekor.size
    code, out, err = run(capsys)
    assert code == 1 and out == ""
    (line,) = [line for line in err.splitlines() if line.startswith("trustpub: error:")]
    assert "attestations signed by this job would be refused by the index" in line
    assert "reusable workflow 'publish.yml', called from 'release.yml'" in line
    assert world.sigstore.rekor.size == size
    assert sorted(p.name for p in (ci / "dist").iterdir()) == ["demo_pkg-1.0.0-py3-none-any.whl", "demo_pkg-1.0.0.tar.gz"]
    no_secrets(world, err)


def test_publisher_override_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--publisher", "github:octo-org/demo/deploy.yml")
    assert code == 1 and "checks attestations against 'deploy.yml'" in err
    assert run(capsys, "--publisher", "github:nonsense")[0] == 2


def test_outside_ci_and_usage(monkeypatch: pytest.MonkeyPatch, ci: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS")
    code, _, err = run(capsys)
    assert code == 1 and "needs a CI identity" in err
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    code, _, err = run(capsys)
    assert code == 1 and "id-token: write" in err
    assert run(capsys, "nowhere")[0] == 2
    (ci / "empty").mkdir()
    assert run(capsys, "empty")[0] == 2
    assert run(capsys, "--sigstore", "missing.json")[0] == 2
