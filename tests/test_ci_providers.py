"""Every CI of docs/ci/: what trustpub does there, and that the page says what trustpub does.

ActiveState end to end against the local world (its issuer mints ActiveState-shaped
tokens, its index has ActiveState publishers and refuses their attestations as PyPI
does); Buildkite and CircleCI refused before any request to PyPI, with the exact
text their pages quote; Google Cloud detected from the machine; each page's YAML
linted by ``trustpub doctor --workflow``'s rules; the README linking every page.
Google's and GitLab's end-to-end publishes are in test_ci_tokens.py and
test_gitlab_component.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.distfactory import build_demo
from tests.local._dists import build_wheel
from tests.local.test_index import assert_mint_error, assert_rejected, mint, upload
from trustpub.attestability import ACTIVESTATE_REFUSAL, attestation_refusal
from trustpub.local.issuer import ActiveStateIdentity
from trustpub.local.world import LocalWorld
from trustpub.workflow_lint import lint_workflow

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "ci"
PAGES = ("index", "github", "gitlab", "google-cloud", "activestate", "buildkite", "circleci")
PROJECT = "trustpub-demo"
TRUSTPUB = [sys.executable, "-m", "trustpub"]
_CI_VARS = ("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI_", "TWINE_", "GOOGLE_", "BUILDKITE", "CIRCLECI")


def _blocks(page: str, language: str) -> list[str]:
    """The bodies of a page's ``.. code-block:: LANGUAGE`` directives, dedented."""
    text = (DOCS / f"{page}.rst").read_text(encoding="utf-8")
    found = []
    for match in re.finditer(rf"^\.\. code-block:: {language}\n\n((?:(?:   .*)?\n)+)", text, re.M):
        found.append("\n".join(line[3:] for line in match.group(1).splitlines()).strip() + "\n")
    assert found, f"docs/ci/{page}.rst has no {language} block"
    return found


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build_demo(out)
    return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world") as running:
        identity = ActiveStateIdentity()
        running.index.add_activestate_publisher(PROJECT, identity.organization, identity.project, identity.actor_id)
        yield running


def _env(world: LocalWorld, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CI_VARS) and not k.endswith("_ID_TOKEN")}
    env.pop("CI", None)
    env["TRUSTPUB_SIGSTORE"] = str(world.trust_config)
    env.update(extra)
    return env


def _publish(world: LocalWorld, dist: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--json", *flags, str(dist)],
        env=env, capture_output=True, text=True, timeout=120,
    )


# --------------------------------------------------------------------------- ActiveState


def test_the_local_index_matches_activestate_claims_as_pypi_does(world: LocalWorld) -> None:
    assert mint(world.index, world.issuer.mint_activestate("pypi")).status == 200
    assert_mint_error(
        mint(world.index, world.issuer.mint_activestate("pypi", builder="someone-else")),
        "invalid-publisher",
        "valid token, but no corresponding publisher (Check failed for required claim 'builder')",
    )
    assert_mint_error(
        mint(world.index, world.issuer.mint_activestate("pypi", identity=ActiveStateIdentity(actor_id="other"))),
        "invalid-publisher",
        "valid token, but no corresponding publisher (Publisher with matching claims was not found)",
    )


def test_the_local_index_refuses_activestate_attestations_with_pypis_words(world: LocalWorld, tmp_path: Path) -> None:
    reply = mint(world.index, world.issuer.mint_activestate("pypi"))
    token = reply.json()["token"]
    wheel = build_wheel(tmp_path, PROJECT, "1.0")
    refused = upload(world.index, wheel, token, extra=[("attestations", "[]")])
    assert_rejected(refused, 400, f"Invalid attestations supplied during upload: {ACTIVESTATE_REFUSAL}")
    assert upload(world.index, wheel, token).status == 200  # the same token, without attestations


def test_activestate_publishes_without_attestations_and_says_why(world: LocalWorld, dist: Path) -> None:
    token = world.issuer.mint_activestate("pypi")
    proc = _publish(world, dist, _env(world, TRUSTPUB_OIDC_TOKEN=token))
    assert proc.returncode == 0, proc.stderr
    assert f"attestations: off for this ActiveState identity: PyPI says: {ACTIVESTATE_REFUSAL!r}" in proc.stderr
    doc = json.loads(proc.stdout)
    assert all(f["outcome"] == "uploaded" and f["rekor_log_index"] is None for f in doc["files"])
    assert world.index.files(PROJECT) == sorted(p.name for p in dist.iterdir())
    assert world.sigstore.rekor.size == 0 and token not in proc.stdout + proc.stderr


def test_activestate_with_attestations_asked_for_stops_before_signing(world: LocalWorld, dist: Path) -> None:
    env = _env(world, TRUSTPUB_OIDC_TOKEN=world.issuer.mint_activestate("pypi"))
    proc = _publish(world, dist, env, "--attestations")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--attestations cannot be honoured for this ActiveState identity" in proc.stderr
    assert ACTIVESTATE_REFUSAL in proc.stderr and "--no-attestations" in proc.stderr
    assert world.index.files(PROJECT) == [] and world.sigstore.rekor.size == 0


def test_activestate_page_quotes_the_notice() -> None:
    refusal = attestation_refusal({"iss": "https://platform.activestate.com/api/v1/oauth/oidc"})
    assert refusal is not None
    page = " ".join((DOCS / "activestate.rst").read_text(encoding="utf-8").split())
    assert refusal.notice() in page


# --------------------------------------------------------------------------- Buildkite, CircleCI


@pytest.mark.parametrize(("variable", "page", "index"), [("BUILDKITE", "buildkite", "pypi"), ("CIRCLECI", "circleci", "pypi")])
def test_buildkite_and_circleci_are_refused_before_any_request_with_the_pages_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], dist: Path, variable: str, page: str, index: str
) -> None:
    """In process, so conftest's guard turns any socket to PyPI into a failure: the refusal comes first."""
    from trustpub.cli import main

    for name in list(os.environ):
        if name.startswith(_CI_VARS) or name == "CI" or name.endswith("_ID_TOKEN"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(variable, "true")
    assert main(["publish", "--to", index, str(dist)]) == 1
    error = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("trustpub: error:"))
    assert "does not accept them for trusted publishing" in error
    assert error in _blocks(page, "text")[0]


# --------------------------------------------------------------------------- Google Cloud


def test_google_cloud_is_detected_from_the_machine(tmp_path: Path) -> None:
    from trustpub.oidc import GoogleCloudProvider, detect_ci

    product = tmp_path / "product_name"
    product.write_text("Google Compute Engine\n", encoding="utf-8")
    detection = detect_ci({}, gcp_product_file=str(product))
    assert detection.ci == "Google Cloud" and isinstance(detection.provider, GoogleCloudProvider)
    assert detection.provider.pypi_accepts
    product.write_text("Standard PC\n", encoding="utf-8")
    assert detect_ci({}, gcp_product_file=str(product)).ci is None


def test_google_cloud_page_builds_and_publishes_in_separate_steps() -> None:
    config = yaml.safe_load(_blocks("google-cloud", "yaml")[0])
    commands = [" ".join(step["args"]) for step in config["steps"]]
    assert "python -m build" in commands[0] and "trustpub publish" not in commands[0]
    assert "trustpub publish dist/" in commands[-1]
    assert "serviceAccount" in config
    console = _blocks("google-cloud", "console")[0]
    assert "TRUSTPUB_OIDC_TOKEN=" in console and "TRUSTPUB_SIGSTORE_OIDC_TOKEN=" in console


# --------------------------------------------------------------------------- the pages


def test_github_page_workflow_passes_the_lint(tmp_path: Path) -> None:
    path = tmp_path / ".github" / "workflows" / "release.yml"
    path.parent.mkdir(parents=True)
    path.write_text(_blocks("github", "yaml")[0], encoding="utf-8")
    report = lint_workflow(path, environment="pypi", workflow_name="release.yml")
    assert report.ok and report.publishing_jobs == ("publish",)
    # The page tells readers to pin trustpub's action; that is the only finding.
    assert [(f.rule, f.job) for f in report.findings] == [("unpinned-action", "publish")]


def test_gitlab_page_pipeline_passes_the_lint(tmp_path: Path) -> None:
    path = tmp_path / ".gitlab-ci.yml"
    path.write_text(_blocks("gitlab", "yaml")[0], encoding="utf-8")
    report = lint_workflow(path, environment="pypi", workflow_name=".gitlab-ci.yml")
    assert report.publishing_jobs == ("publish",) and report.findings == ()
    include = yaml.safe_load(_blocks("gitlab", "yaml")[1])["include"][0]
    assert include["component"].endswith("/publish@v0.1.0") and (REPO / "templates" / "publish.yml").exists()


def test_circleci_and_buildkite_pages_use_an_api_token() -> None:
    circle = yaml.safe_load(_blocks("circleci", "yaml")[0])
    assert "trustpub publish" in str(circle["jobs"]["publish"]["steps"])
    buildkite = yaml.safe_load(_blocks("buildkite", "yaml")[0])
    assert buildkite["steps"][0]["secrets"] == {"TRUSTPUB_TOKEN": "PYPI_API_TOKEN"}


def test_the_ci_index_lists_every_page_and_the_readme_links_each() -> None:
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    toctree = index.split(".. toctree::", 1)[1]
    assert [p for p in PAGES[1:] if f"   {p}\n" not in toctree] == []
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert [p for p in PAGES if f"(docs/ci/{p}.rst)" not in readme] == []
