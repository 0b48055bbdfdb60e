"""The CI jobs the local issuer's tokens describe: one dataclass per provider.

Each identity holds what a real CI puts in its OIDC token and builds the claims the
way that CI does (GitHub's ``job_workflow_ref``, GitLab's ``ci_config_ref_uri``,
ActiveState's ``sub``), so tests change one field (an environment, a workflow file,
a self-managed GitLab host) and the rest follows. :class:`~trustpub.local.issuer.OIDCIssuer`
signs them.

Usage::

    from trustpub.local._identities import GitLabIdentity

    identity = GitLabIdentity(host="gitlab.example.com")   # a self-managed instance
    identity.issuer                                         # "https://gitlab.example.com"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_SHA", "ActiveStateIdentity", "GitHubIdentity", "GitLabIdentity"]


DEFAULT_SHA = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"


def _ref_type(ref: str) -> str:
    """GitHub's and GitLab's ``ref_type``: tags are ``tag``, everything else ``branch``."""
    return "tag" if ref.startswith("refs/tags/") else "branch"


def _short_ref(ref: str) -> str:
    for prefix in ("refs/tags/", "refs/heads/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


@dataclass
class GitHubIdentity:
    """The workflow run a GitHub Actions token describes.

    ``None`` in a derived field means "compute it the way GitHub does":
    ``job_workflow_ref`` and ``workflow_ref`` become
    ``{repository}/.github/workflows/{workflow_file}@{ref}``, the ``*_sha`` fields
    become ``sha`` and ``repository_owner`` the part of ``repository`` before ``/``.
    Set ``job_workflow_ref`` alone to model a reusable workflow (PyPI checks the
    callee, Sigstore certificates name the caller).
    """

    repository: str = "octo-org/demo"
    repository_owner: str | None = None
    repository_owner_id: str = "1234567"
    repository_id: str = "7654321"
    repository_visibility: str = "public"
    workflow_file: str = "release.yml"
    workflow: str = "Release"
    ref: str = "refs/tags/v1.0.0"
    sha: str = DEFAULT_SHA
    environment: str | None = "release"
    event_name: str = "push"
    job_workflow_ref: str | None = None
    job_workflow_sha: str | None = None
    workflow_ref: str | None = None
    workflow_sha: str | None = None
    run_id: str = "9876543210"
    run_number: str = "42"
    run_attempt: str = "1"
    actor: str = "octocat"
    actor_id: str = "583231"
    runner_environment: str = "github-hosted"
    ref_protected: bool = True
    head_ref: str = ""
    base_ref: str = ""

    @property
    def owner(self) -> str:
        return self.repository_owner or self.repository.split("/", 1)[0]

    @property
    def subject(self) -> str:
        """``sub`` as GitHub builds it (default subject template)."""
        if self.environment:
            return f"repo:{self.repository}:environment:{self.environment}"
        if self.event_name in ("pull_request", "pull_request_target"):
            return f"repo:{self.repository}:pull_request"
        return f"repo:{self.repository}:ref:{self.ref}"

    def claims(self) -> dict[str, Any]:
        """The run's claims, without ``iss``/``aud`` and the time claims."""
        workflow_path = f"{self.repository}/.github/workflows/{self.workflow_file}@{self.ref}"
        claims: dict[str, Any] = {
            "sub": self.subject,
            "ref": self.ref,
            "sha": self.sha,
            "repository": self.repository,
            "repository_owner": self.owner,
            "repository_owner_id": self.repository_owner_id,
            "repository_id": self.repository_id,
            "repository_visibility": self.repository_visibility,
            "actor": self.actor,
            "actor_id": self.actor_id,
            "workflow": self.workflow,
            "workflow_ref": self.workflow_ref or workflow_path,
            "workflow_sha": self.workflow_sha or self.sha,
            "job_workflow_ref": self.job_workflow_ref or workflow_path,
            "job_workflow_sha": self.job_workflow_sha or self.sha,
            "head_ref": self.head_ref,
            "base_ref": self.base_ref,
            "event_name": self.event_name,
            "ref_type": _ref_type(self.ref),
            "ref_protected": "true" if self.ref_protected else "false",
            "run_id": self.run_id,
            "run_number": self.run_number,
            "run_attempt": self.run_attempt,
            "runner_environment": self.runner_environment,
        }
        if self.environment:
            claims["environment"] = self.environment
        return claims


@dataclass
class GitLabIdentity:
    """The CI/CD job a GitLab token describes.

    ``ref_path`` is the full ref (``refs/tags/v1.0.0``); ``ref`` and ``ref_type`` are
    derived from it. ``ci_config_ref_uri`` is
    ``{host}/{project_path}//{ci_config_path}@{ref_path}`` as GitLab builds it.
    """

    project_path: str = "octo-group/demo"
    project_id: str = "4242"
    namespace_path: str | None = None
    namespace_id: str = "2121"
    ci_config_path: str = ".gitlab-ci.yml"
    ref_path: str = "refs/tags/v1.0.0"
    sha: str = DEFAULT_SHA
    ci_config_sha: str | None = None
    environment: str | None = None
    pipeline_id: str = "1100"
    pipeline_source: str = "push"
    job_id: str = "5500"
    user_id: str = "31"
    user_login: str = "octo"
    user_email: str = "octo@example.com"
    user_access_level: str = "maintainer"
    runner_id: int = 12345
    runner_environment: str = "gitlab-hosted"
    project_visibility: str = "public"
    ref_protected: bool = True
    host: str = "gitlab.com"

    @property
    def ref(self) -> str:
        return _short_ref(self.ref_path)

    @property
    def ref_type(self) -> str:
        return _ref_type(self.ref_path)

    @property
    def subject(self) -> str:
        return f"project_path:{self.project_path}:ref_type:{self.ref_type}:ref:{self.ref}"

    @property
    def issuer(self) -> str:
        """``iss`` of the instance: ``https://gitlab.com``, or a self-managed one's URL."""
        return f"https://{self.host}"

    @property
    def ci_config_ref_uri(self) -> str:
        return f"{self.host}/{self.project_path}//{self.ci_config_path}@{self.ref_path}"

    def claims(self) -> dict[str, Any]:
        """The job's claims, without ``iss``/``aud`` and the time claims."""
        claims: dict[str, Any] = {
            "sub": self.subject,
            "namespace_id": self.namespace_id,
            "namespace_path": self.namespace_path or self.project_path.rsplit("/", 1)[0],
            "project_id": self.project_id,
            "project_path": self.project_path,
            "user_id": self.user_id,
            "user_login": self.user_login,
            "user_email": self.user_email,
            "user_access_level": self.user_access_level,
            "pipeline_id": self.pipeline_id,
            "pipeline_source": self.pipeline_source,
            "job_id": self.job_id,
            "ref": self.ref,
            "ref_type": self.ref_type,
            "ref_path": self.ref_path,
            "ref_protected": "true" if self.ref_protected else "false",
            "runner_id": self.runner_id,
            "runner_environment": self.runner_environment,
            "sha": self.sha,
            "project_visibility": self.project_visibility,
            "ci_config_ref_uri": self.ci_config_ref_uri,
            "ci_config_sha": self.ci_config_sha or self.sha,
        }
        if self.environment:
            claims["environment"] = self.environment
            claims["environment_protected"] = "false"
            claims["deployment_tier"] = "production"
            claims["environment_action"] = "start"
        return claims


@dataclass
class ActiveStateIdentity:
    """The ActiveState Platform build an ActiveState token describes.

    ``sub`` is ``org:{organization}:project:{project}``; ``builder`` is what PyPI
    requires (``pypi-publisher``), and the ids are stable per instance.
    """

    organization: str = "octo-org"
    project: str = "demo"
    actor: str = "octocat"
    actor_id: str = "b8a1c3f2-5d4e-4f6a-9b7c-2e1d0f3a4b5c"
    organization_id: str = "0f4e8a2b-9c1d-4e3f-a5b6-7c8d9e0f1a2b"
    project_id: str = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    artifact_id: str = "9e8d7c6b-5a4f-4e3d-2c1b-0a9f8e7d6c5b"
    ingredient: str = "trustpub-demo"
    builder: str = "pypi-publisher"
    project_visibility: str = "public"

    @property
    def subject(self) -> str:
        return f"org:{self.organization}:project:{self.project}"

    def claims(self) -> dict[str, Any]:
        """The build's claims, without ``iss``/``aud`` and the time claims."""
        return {
            "sub": self.subject,
            "actor": self.actor,
            "actor_id": self.actor_id,
            "artifact_id": self.artifact_id,
            "builder": self.builder,
            "ingredient": self.ingredient,
            "organization": self.organization,
            "organization_id": self.organization_id,
            "project": self.project,
            "project_id": self.project_id,
            "project_path": f"{self.organization}/{self.project}",
            "project_visibility": self.project_visibility,
        }
