"""Shared fixtures for the trusted-publishing tests: a local issuer and an index that trusts it.

Registered as a plugin in ``tests/conftest.py``; a test module may override any of
them with its own fixture of the same name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from trustpub.local.index import LocalIndex
from trustpub.local.issuer import GITHUB_ISSUER, GITLAB_ISSUER, GitHubIdentity, OIDCIssuer

#: Environment variables a CI runner sets; tests hide the ones of the machine running them.
CI_PREFIXES = ("GITHUB_", "ACTIONS_", "GITLAB", "BUILDKITE", "CIRCLECI", "TRUSTPUB_", "GOOGLE_")


def clear_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test process may itself run in CI: hide that."""
    for name in list(os.environ):
        if name.startswith(CI_PREFIXES) or name.endswith("_ID_TOKEN"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def issuer() -> Iterator[OIDCIssuer]:
    with OIDCIssuer() as running:
        yield running


@pytest.fixture
def trusting_index(issuer: OIDCIssuer, tmp_path: Path) -> Iterator[LocalIndex]:
    """A fresh index that verifies GitHub- and GitLab-shaped tokens of ``issuer``; identity reset."""
    issuer.github = GitHubIdentity()
    jwks = {GITHUB_ISSUER: issuer.jwks_url, GITLAB_ISSUER: issuer.jwks_url}
    with LocalIndex(tmp_path / "index", jwks_urls=jwks) as running:
        yield running
