"""``trustpub publish`` with the tokens a job is handed rather than fetches: two static
tokens (no ambient CI), and GitLab's ``id_tokens:``. End to end against the local world."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import build_demo
from trustpub.local.issuer import GitLabIdentity
from trustpub.local.world import LocalWorld

TRUSTPUB = [sys.executable, "-m", "trustpub"]
PROJECT = "trustpub-demo"
EMAIL = "release@demo-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project's wheel and sdist, built by its real backend (hatchling)."""
    out = tmp_path_factory.mktemp("dist")
    build_demo(out)
    return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world") as running:
        running.index.add_project(PROJECT)
        yield running


def _env(world: LocalWorld, **tokens: str) -> dict[str, str]:
    """This process's environment without any CI or credential variable, plus ``tokens``."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI_", "GOOGLE_")) and not k.endswith("_ID_TOKEN")
    }
    env.pop("CI", None)
    env["TRUSTPUB_SIGSTORE"] = str(world.trust_config)
    env.update(tokens)
    return env


def _publish(world: LocalWorld, dist: Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--json", "--attestations-dir", str(cwd / "att"), str(dist)],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )


def _refused(proc: subprocess.CompletedProcess[str], world: LocalWorld) -> str:
    """The release failed cleanly: exit 1, no traceback, nothing uploaded, nothing signed."""
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert world.index.files(PROJECT) == [] and world.index.stored_log == []
    assert world.sigstore.rekor.size == 0
    assert not (Path(proc.args[proc.args.index("--attestations-dir") + 1])).exists()
    return proc.stderr


def test_two_static_tokens_publish_with_attestations_that_verify(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    """Google Cloud outside the metadata server: one token for the index, one for Sigstore."""
    from pypi_attestations import GooglePublisher
    from sigstore.models import ClientTrustConfig
    from sigstore.verify import Verifier

    from trustpub.attest import verify_provenance
    from trustpub.dists import hash_file
    from trustpub.transport import Transport

    world.index.add_google_publisher(PROJECT, EMAIL)
    tokens = world.issuer.static_environment("google", email=EMAIL)
    proc = _publish(world, dist, tmp_path, _env(world, **tokens))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["credentials"] == "trusted publishing (static token (TRUSTPUB_OIDC_TOKEN))"
    for secret in tokens.values():
        assert secret not in proc.stdout and secret not in proc.stderr
    ours = {p.name: hash_file(p).sha256 for p in dist.iterdir()}
    assert {f["filename"]: f["sha256"] for f in doc["files"]} == ours
    assert world.index.files(PROJECT) == sorted(ours)  # on the index, not only in the report
    verifier = Verifier(trusted_root=ClientTrustConfig.from_json(world.trust_config.read_text()).trusted_root)
    for entry in doc["files"]:
        assert entry["outcome"] == "uploaded" and entry["rekor_log_index"] is not None
        served = Transport().get(entry["attestation_url"])
        assert served.status == 200
        verdict = verify_provenance(
            served.data, entry["filename"], entry["sha256"], GooglePublisher(email=EMAIL), verifier, source=entry["attestation_url"]
        )
        assert verdict.ok, verdict.failure
        # Signed for that service account, not for anyone else.
        other = verify_provenance(
            served.data, entry["filename"], entry["sha256"], GooglePublisher(email="someone@else.iam.gserviceaccount.com"),
            verifier, source=entry["attestation_url"],
        )
        assert not other.ok


def test_without_the_sigstore_token_nothing_is_signed_or_uploaded(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    world.index.add_google_publisher(PROJECT, EMAIL)
    token = world.issuer.mint_google("pypi", email=EMAIL)
    stderr = _refused(_publish(world, dist, tmp_path, _env(world, TRUSTPUB_OIDC_TOKEN=token)), world)
    assert "has audience 'pypi', but Sigstore, which signs the attestations, expects exactly 'sigstore'" in stderr
    assert "TRUSTPUB_SIGSTORE_OIDC_TOKEN" in stderr and "--no-attestations" in stderr
    assert "the index expects" not in stderr and token not in stderr


def test_a_sigstore_token_with_the_wrong_audience_is_named(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    world.index.add_google_publisher(PROJECT, EMAIL)
    tokens = {
        "TRUSTPUB_OIDC_TOKEN": world.issuer.mint_google("pypi", email=EMAIL),
        "TRUSTPUB_SIGSTORE_OIDC_TOKEN": world.issuer.mint_google("pypi", email=EMAIL),
    }
    stderr = _refused(_publish(world, dist, tmp_path, _env(world, **tokens)), world)
    assert "static token (TRUSTPUB_SIGSTORE_OIDC_TOKEN) has audience 'pypi', but Sigstore" in stderr
    assert "expects exactly 'sigstore'" in stderr
    assert all(t not in stderr for t in tokens.values())


def test_gitlab_without_id_tokens_names_every_missing_token_at_once(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    world.index.add_gitlab_publisher(PROJECT, "octo-group/demo", ".gitlab-ci.yml")
    stderr = _refused(_publish(world, dist, tmp_path, _env(world, GITLAB_CI="true")), world)
    assert "PYPI_ID_TOKEN is not set" in stderr and "SIGSTORE_ID_TOKEN is not set" in stderr
    assert "`id_tokens: {PYPI_ID_TOKEN: {aud: pypi}, SIGSTORE_ID_TOKEN: {aud: sigstore}}`" in stderr
    # One message, before anything was signed or uploaded (checked by _refused).
    assert stderr.count("trustpub: error:") == 1


def test_gitlab_with_both_id_tokens_publishes_with_attestations(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    world.index.add_gitlab_publisher(PROJECT, "octo-group/demo", ".gitlab-ci.yml")
    identity = GitLabIdentity()
    env = _env(
        world,
        GITLAB_CI="true",
        PYPI_ID_TOKEN=world.issuer.mint_gitlab("pypi", identity=identity),
        SIGSTORE_ID_TOKEN=world.issuer.mint_gitlab("sigstore", identity=identity),
    )
    proc = _publish(world, dist, tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert all(f["outcome"] == "uploaded" and f["rekor_log_index"] is not None for f in doc["files"])


def test_publish_help_documents_the_static_tokens() -> None:
    out = subprocess.run([*TRUSTPUB, "publish", "--help"], capture_output=True, text=True, check=True).stdout
    flat = " ".join(out.split())
    assert "TRUSTPUB_OIDC_TOKEN" in flat and "TRUSTPUB_SIGSTORE_OIDC_TOKEN (or TRUSTPUB_SIGSTORE_OIDC_TOKEN_FILE)" in flat
