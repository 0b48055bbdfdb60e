"""``trustpub doctor`` end to end: the CLI against the local issuer and index."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import make_wheel
from tests.identity import clear_ci_env
from trustpub.cli import main
from trustpub.diagnosis import PLACEHOLDER_PROJECT, diagnose_publishing, find_project
from trustpub.local.index import LocalIndex
from trustpub.local.issuer import (
    GitHubIdentity,
    GitLabIdentity,
    OIDCIssuer,
)
from trustpub.registry import Registry
from trustpub.secrets import uninstall_log_redaction

PROJECT = "demo-pkg"


@pytest.fixture
def index(trusting_index: LocalIndex) -> LocalIndex:
    return trusting_index


@pytest.fixture(autouse=True)
def ci_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No CI variables from the machine running the tests; cwd without dist/."""
    clear_ci_env(monkeypatch)
    monkeypatch.setattr("trustpub.oidc._detect._GCP_PRODUCT_NAME_FILE", "/nonexistent/product_name")
    monkeypatch.chdir(tmp_path)
    yield
    uninstall_log_redaction()  # doctor installs it process-wide


def in_github_actions(monkeypatch: pytest.MonkeyPatch, issuer: OIDCIssuer, **extra: str) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", issuer.github_token_url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", issuer.request_token)
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def test_correct_publisher(
    index: LocalIndex, issuer: OIDCIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    index.add_github_publisher(PROJECT, "octo-org/demo", "1234567", "release.yml", "release")
    in_github_actions(monkeypatch, issuer)
    code = main(["doctor", "--to", index.upload_url, "--project", PROJECT, "--mint"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    err = captured.err
    assert "CI:       GitHub Actions" in err and "audience: pypi" in err
    assert "job_workflow_ref: octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0" in err
    assert "Workflow name:" in err and "release.yml" in err
    assert f"settings: {index.url}/manage/project/{PROJECT}/settings/publishing/?provider=github&owner=octo-org" in err
    assert "mint: OK" in err and "result: publishing would work" in err
    # Stdout carries only the runner's mask command (GITHUB_ACTIONS is set).
    assert captured.out.startswith("::add-mask::pypi-") and captured.out.count("\n") == 1


def test_misconfigured_publisher_names_the_claim_and_the_fix(
    index: LocalIndex, issuer: OIDCIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # On the index: environment "pypi"; the job runs in "release".
    index.add_github_publisher(PROJECT, "octo-org/demo", "1234567", "release.yml", "pypi")
    in_github_actions(monkeypatch, issuer)
    code = main(
        ["doctor", "--to", index.upload_url, "--project", PROJECT, "--mint", "--publisher", "github:octo-org/demo/release.yml@pypi"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "[publisher-mismatch] the claim 'environment' is 'release', but the trusted publisher expects 'pypi'" in err
    assert "fix: set `environment: pypi` on the publishing job, or change the publisher's Environment name to 'release'" in err
    assert "mint not attempted" in err
    assert "publishing would NOT work" in err

    # Without --publisher, the real exchange is tried and its answer explained.
    code = main(["doctor", "--to", index.upload_url, "--project", PROJECT, "--mint"])
    err = capsys.readouterr().err
    assert code == 1
    assert "mint: FAILED" in err and "invalid-publisher" in err
    assert "Publisher with matching claims was not found" in err
    assert "environment: release" in err and "--publisher SPEC" in err


def test_wrong_workflow_file(
    index: LocalIndex, issuer: OIDCIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    in_github_actions(monkeypatch, issuer)
    code = main(["doctor", "--to", index.upload_url, "--publisher", "github:octo-org/demo/publish.yml"])
    err = capsys.readouterr().err
    assert code == 1
    assert "the claim 'job_workflow_ref' is 'release.yml', but the trusted publisher expects 'publish.yml'" in err
    assert "set the publisher's Workflow name to 'release.yml'" in err


def test_without_mint_a_clean_token_looks_right(
    index: LocalIndex, issuer: OIDCIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    in_github_actions(monkeypatch, issuer)
    assert main(["doctor", "--to", index.upload_url]) == 0
    err = capsys.readouterr().err
    assert "looks right (add --mint" in err
    assert f"/manage/project/{PLACEHOLDER_PROJECT}/settings/publishing/" in err


def test_missing_id_token_permission(
    index: LocalIndex, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["doctor", "--to", index.upload_url]) == 1
    err = capsys.readouterr().err
    assert "[missing-id-token-permission]" in err and "id-token: write" in err


def test_not_in_ci(index: LocalIndex, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--to", index.upload_url]) == 1
    err = capsys.readouterr().err
    assert "CI:       none detected" in err and "[not-in-ci]" in err


def test_pull_request_target_and_reusable_workflow(
    index: LocalIndex, issuer: OIDCIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer.github = GitHubIdentity(
        event_name="pull_request_target",
        environment=None,
        workflow_ref="octo-org/demo/.github/workflows/ci.yml@refs/heads/main",
    )
    in_github_actions(monkeypatch, issuer, GITHUB_EVENT_NAME="pull_request_target")
    assert main(["doctor", "--to", index.upload_url, "--mint"]) == 1
    err = capsys.readouterr().err
    assert "error   [pull-request-target]" in err
    assert "warning [reusable-workflow]" in err and "warning [no-environment]" in err
    assert "mint not attempted" in err


def test_index_without_trusted_publishing(
    index: LocalIndex, issuer: OIDCIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    index.disallow_oidc = True
    in_github_actions(monkeypatch, issuer)
    assert main(["doctor", "--to", index.upload_url]) == 1
    assert "[no-trusted-publishing]" in capsys.readouterr().err


def test_json_output(
    index: LocalIndex, issuer: OIDCIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    index.add_github_publisher(PROJECT, "octo-org/demo", "1234567", "release.yml")
    in_github_actions(monkeypatch, issuer)
    assert main(["doctor", "--to", index.upload_url, "--mint", "--json", "-q"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # no ::add-mask:: line in JSON mode
    assert report["ok"] is True and report["mint"]["ok"] is True
    assert report["claims"]["repository"] == "octo-org/demo"
    assert report["publisher"]["spec"] == "github:octo-org/demo/release.yml@release"
    assert captured.err == ""  # -q and all good


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--to", "ftp://example.org/"]) == 2
    assert main(["doctor", "--publisher", "bitbucket:x"]) == 2
    assert "unknown kind 'bitbucket'" in capsys.readouterr().err


def test_project_from_dist(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist, "demo_pkg", "1.0.0")
    (dist / "notes.txt").write_text("ignored")
    assert find_project(None, dist) == ("demo-pkg", f"{dist}/")
    assert find_project("explicit", dist) == ("explicit", "--project")
    assert find_project(None, tmp_path / "missing")[0] == PLACEHOLDER_PROJECT


def test_library_api(index: LocalIndex, issuer: OIDCIssuer) -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": issuer.github_token_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
    }
    report = diagnose_publishing(Registry.parse(index.upload_url), env=env, mint=True, mask=False)
    assert not report.ok and report.mint is not None and report.mint.code == "invalid-publisher"
    assert report.to_json()["problems"][-1]["id"] == "mint-rejected"


def test_gitlab_job(
    index: LocalIndex, issuer: OIDCIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    index.add_gitlab_publisher(PROJECT, "octo-group/demo", ".gitlab-ci.yml", "release")
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("PYPI_ID_TOKEN", issuer.mint_gitlab("pypi", identity=GitLabIdentity(environment="release")))
    assert main(["doctor", "--to", index.upload_url, "--project", PROJECT, "--mint"]) == 0
    err = capsys.readouterr().err
    assert "CI:       GitLab CI" in err and "project_path: octo-group/demo" in err
    assert "Top-level pipeline file path: .gitlab-ci.yml" in err
    assert "provider=gitlab&namespace=octo-group&project=demo&workflow_filepath=.gitlab-ci.yml" in err
    # The id_tokens entry is missing: named, with what to add.
    monkeypatch.delenv("PYPI_ID_TOKEN")
    assert main(["doctor", "--to", index.upload_url]) == 1
    assert "PYPI_ID_TOKEN is not set" in capsys.readouterr().err


def test_insecure_index_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--to", "http://packages.example.org/legacy/"]) == 1
    assert "[insecure-index]" in capsys.readouterr().err
