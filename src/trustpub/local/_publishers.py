"""Trusted publishers of the local index and PyPI's claim matching.

A trusted publisher says "a CI job with *these* OIDC claims may upload to *these*
projects".  Minting a token finds the publisher for a verified claim set exactly as
Warehouse does (``warehouse-contract.md`` §1.7-1.8): look the publisher up by the
identifying claims, prefer the environment-specific one, then check every required
claim and fail with Warehouse's reason text, which the mint endpoint shows as
``valid token, but no corresponding publisher (<reason>)``.

Usage::

    from trustpub.local._publishers import GitHubPublisher, find_publisher

    publisher = GitHubPublisher("octo-org", "demo", "1234567", "release.yml", "release")
    found = find_publisher(
        claims, [publisher], issuer=GITHUB_ISSUER, service="github", jti_seen=seen
    )
    found.attestation_identity()   # the pypi_attestations publisher for PEP 740 checks
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Union

import pypi_attestations

from trustpub.local._issuers import ACTIVESTATE_ISSUER, GITHUB_ISSUER, GITLAB_ISSUER, GOOGLE_ISSUER

__all__ = [
    "ACTIVESTATE_ISSUER",
    "GITHUB_ISSUER",
    "GITLAB_ISSUER",
    "GOOGLE_ISSUER",
    "ISSUER_SERVICE_NAMES",
    "ActiveStatePublisher",
    "GitHubPublisher",
    "GitLabPublisher",
    "GooglePublisher",
    "InvalidPublisher",
    "Publisher",
    "ReusedToken",
    "find_publisher",
    "publisher_from_json",
    "publisher_to_json",
]

_logger = logging.getLogger(__name__)


#: Warehouse's built-in issuers and the service name used in its messages and flags.
ISSUER_SERVICE_NAMES: Mapping[str, str] = {
    GITHUB_ISSUER: "github",
    GITLAB_ISSUER: "gitlab",
    GOOGLE_ISSUER: "google",
    ACTIVESTATE_ISSUER: "activestate",
}

_WORKFLOW_FILENAME_RE = re.compile(r"([^/]+\.(yml|yaml))(?=@)")
_WORKFLOW_FILEPATH_RE = re.compile(r"(?<=\/\/)(.+[^/]\.(yml|yaml))(?=@)")


class InvalidPublisher(Exception):
    """No publisher matches the claims; ``str(exc)`` is Warehouse's reason."""


class ReusedToken(Exception):
    """The JWT's ``jti`` was already exchanged for a token."""


def _missing(claims: Mapping[str, Any], names: Sequence[str]) -> None:
    # Warehouse counts a claim as missing only when absent or null; "" is present.
    for name in names:
        if claims.get(name) is None:
            raise InvalidPublisher(f"Missing claim {name!r}")


def _check_failed(name: str, *, optional: bool = False) -> InvalidPublisher:
    kind = "optional" if optional else "required"
    return InvalidPublisher(f"Check failed for {kind} claim {name!r}")


def _check_jti(claims: Mapping[str, Any], jti_seen: Callable[[str], bool]) -> None:
    if jti_seen(str(claims["jti"])):
        raise ReusedToken("invalid token: already used")


@dataclass(frozen=True)
class GitHubPublisher:
    """A GitHub Actions workflow (``owner/name`` repository, workflow file, environment)."""

    repository_owner: str
    repository_name: str
    repository_owner_id: str
    workflow_filename: str
    #: Stored lowercased, as Warehouse does; "" means any environment.
    environment: str = ""
    projects: tuple[str, ...] = field(default=(), compare=False)

    kind: ClassVar[str] = "GitHub"
    issuer: ClassVar[str] = GITHUB_ISSUER

    def __post_init__(self) -> None:
        object.__setattr__(self, "environment", self.environment.lower())

    @property
    def repository(self) -> str:
        return f"{self.repository_owner}/{self.repository_name}"

    @property
    def id(self) -> str:
        """A stable identity for this configuration (the index's primary key)."""
        return (
            f"github:{self.repository}:{self.repository_owner_id}:"
            f"{self.workflow_filename}:{self.environment}"
        )

    def attestation_identity(self) -> pypi_attestations.GitHubPublisher:
        """The identity PEP 740 attestations must come from (environment not checked)."""
        return pypi_attestations.GitHubPublisher(
            repository=self.repository,
            workflow=self.workflow_filename,
            environment=self.environment or None,
        )

    def verify_claims(self, claims: Mapping[str, Any], jti_seen: Callable[[str], bool]) -> None:
        _missing(
            claims,
            (
                "repository",
                "repository_owner",
                "repository_owner_id",
                "job_workflow_ref",
                "jti",
                "event_name",
                "ref",
                "sha",
            ),
        )
        repository = claims["repository"]
        if not repository or str(repository).lower() != self.repository.lower():
            raise _check_failed("repository")
        if claims["repository_owner"] != self.repository_owner:
            raise _check_failed("repository_owner")
        if claims["repository_owner_id"] != self.repository_owner_id:
            raise _check_failed("repository_owner_id")
        job_workflow_ref = claims["job_workflow_ref"]
        if not job_workflow_ref:
            raise InvalidPublisher("The job_workflow_ref claim is empty")
        ref, sha = claims.get("ref"), claims.get("sha")
        if not (ref or sha):
            raise InvalidPublisher("The ref and sha claims are empty")
        base = f"{self.repository}/.github/workflows/{self.workflow_filename}"
        expected = {f"{base}@{value}" for value in (ref, sha) if value}
        if job_workflow_ref not in expected:
            raise InvalidPublisher(
                "The job_workflow_ref claim does not match, expecting one of "
                f"{sorted(expected)!r}, got {job_workflow_ref!r}"
            )
        _check_jti(claims, jti_seen)
        if claims["event_name"] == "pull_request_target":
            raise InvalidPublisher(
                "Publishing from a workflow invoked via 'pull_request_target' is not supported."
            )
        if self.environment:
            environment = claims.get("environment")
            if not environment or str(environment).lower() != self.environment:
                raise _check_failed("environment", optional=True)


@dataclass(frozen=True)
class GitLabPublisher:
    """A GitLab CI/CD pipeline (``namespace/project``, CI file path, environment)."""

    namespace: str
    project: str
    workflow_filepath: str
    #: Compared case-sensitively, unlike GitHub's.
    environment: str = ""
    issuer_url: str = GITLAB_ISSUER
    projects: tuple[str, ...] = field(default=(), compare=False)

    kind: ClassVar[str] = "GitLab"

    @property
    def issuer(self) -> str:
        return self.issuer_url

    @property
    def project_path(self) -> str:
        return f"{self.namespace}/{self.project}"

    @property
    def id(self) -> str:
        return (
            f"gitlab:{self.issuer_url}:{self.project_path}:{self.workflow_filepath}:"
            f"{self.environment}"
        )

    def attestation_identity(self) -> pypi_attestations.GitLabPublisher:
        return pypi_attestations.GitLabPublisher(
            repository=self.project_path,
            workflow_filepath=self.workflow_filepath,
            environment=self.environment or None,
        )

    def verify_claims(self, claims: Mapping[str, Any], jti_seen: Callable[[str], bool]) -> None:
        _missing(claims, ("sub", "project_path", "ci_config_ref_uri", "jti", "ref_path", "sha"))
        sub_parts = str(claims["sub"]).split(":")
        if (
            len(sub_parts) < 2
            or not all(sub_parts[:2])
            or ":".join(sub_parts[:2]).lower() != f"project_path:{self.project_path}".lower()
        ):
            raise _check_failed("sub")
        project_path = claims["project_path"]
        if not project_path or str(project_path).lower() != self.project_path.lower():
            raise _check_failed("project_path")
        ci_config_ref_uri = claims["ci_config_ref_uri"]
        if not ci_config_ref_uri:
            raise InvalidPublisher("The ci_config_ref_uri claim is empty")
        ref_path, sha = claims.get("ref_path"), claims.get("sha")
        if not (ref_path and sha):
            raise InvalidPublisher("The ref_path and sha claims are empty")
        host = self.issuer_url.split("://", 1)[-1].rstrip("/")
        base = f"{host}/{self.project_path}//{self.workflow_filepath}"
        expected = {f"{base}@{value}" for value in (ref_path, sha) if value}
        if ci_config_ref_uri not in expected:
            raise InvalidPublisher(
                "The ci_config_ref_uri claim does not match, expecting one of "
                f"{sorted(expected)!r}, got {ci_config_ref_uri!r}"
            )
        _check_jti(claims, jti_seen)
        if self.environment:
            environment = claims.get("environment")
            if not environment or environment != self.environment:
                raise _check_failed("environment", optional=True)


@dataclass(frozen=True)
class GooglePublisher:
    """A Google Cloud service account (email, optionally pinned to its ``sub``)."""

    email: str
    sub: str = ""
    projects: tuple[str, ...] = field(default=(), compare=False)

    kind: ClassVar[str] = "Google"
    issuer: ClassVar[str] = GOOGLE_ISSUER

    @property
    def id(self) -> str:
        return f"google:{self.email}:{self.sub}"

    def attestation_identity(self) -> pypi_attestations.GooglePublisher:
        return pypi_attestations.GooglePublisher(email=self.email)

    def verify_claims(self, claims: Mapping[str, Any], jti_seen: Callable[[str], bool]) -> None:
        _missing(claims, ("email", "email_verified"))
        if claims["email"] != self.email:
            raise _check_failed("email")
        if claims["email_verified"] is not True:
            raise _check_failed("email_verified")
        if self.sub and claims.get("sub") != self.sub:
            raise _check_failed("sub", optional=True)


@dataclass(frozen=True)
class ActiveStatePublisher:
    """An ActiveState Platform project (organization, project, the actor who set it up).

    PyPI accepts its tokens for publishing but never its attestations: it has no
    attestation identity (:meth:`attestation_identity` is None).
    """

    organization: str
    activestate_project_name: str
    actor_id: str
    actor: str = ""
    projects: tuple[str, ...] = field(default=(), compare=False)

    kind: ClassVar[str] = "ActiveState"
    issuer: ClassVar[str] = ACTIVESTATE_ISSUER

    @property
    def id(self) -> str:
        return f"activestate:{self.organization}:{self.activestate_project_name}:{self.actor_id}"

    def attestation_identity(self) -> None:
        return None

    def verify_claims(self, claims: Mapping[str, Any], jti_seen: Callable[[str], bool]) -> None:
        _missing(claims, ("sub", "organization", "project", "actor_id", "builder"))
        parts = str(claims["sub"]).split(":")
        if len(parts) < 4 or parts[0] != "org" or parts[2] != "project":
            raise InvalidPublisher("Invalid ActiveState sub claim")
        if (parts[1], parts[3]) != (self.organization, self.activestate_project_name):
            raise _check_failed("sub")
        if claims["organization"] != self.organization:
            raise _check_failed("organization")
        if claims["project"] != self.activestate_project_name:
            raise _check_failed("project")
        if claims["actor_id"] != self.actor_id:
            raise _check_failed("actor_id")
        if claims["builder"] != "pypi-publisher":
            raise _check_failed("builder")


Publisher = Union[GitHubPublisher, GitLabPublisher, GooglePublisher, ActiveStatePublisher]  # noqa: UP007


def _most_specific(candidates: list[Publisher], want: str | None, attribute: str) -> Publisher:
    """The candidate pinned to ``want`` (environment or sub), else the unpinned one."""
    if want:
        for candidate in candidates:
            if getattr(candidate, attribute) == want:
                return candidate
    for candidate in candidates:
        if getattr(candidate, attribute) == "":
            return candidate
    raise InvalidPublisher("Publisher with matching claims was not found")


def _lookup(
    claims: Mapping[str, Any], publishers: Sequence[Publisher], issuer: str, service: str
) -> Publisher:
    if service == "github":
        _missing(claims, ("repository", "job_workflow_ref", "repository_owner_id"))
        owner, _, name = str(claims["repository"]).partition("/")
        match = _WORKFLOW_FILENAME_RE.search(str(claims["job_workflow_ref"]))
        if match is None:
            raise InvalidPublisher("Could not job extract workflow filename from OIDC claims")
        environment = claims.get("environment")
        github = [
            p
            for p in publishers
            if isinstance(p, GitHubPublisher)
            and (p.repository_owner, p.repository_name) == (owner, name)
            and p.repository_owner_id == claims["repository_owner_id"]
            and p.workflow_filename == match.group(1)
        ]
        want = str(environment).lower() if environment else None
        return _most_specific(list(github), want, "environment")
    if service == "google":
        _missing(claims, ("email",))
        google = [
            p for p in publishers if isinstance(p, GooglePublisher) and p.email == claims["email"]
        ]
        sub = claims.get("sub")
        return _most_specific(list(google), str(sub) if sub else None, "sub")
    if service == "activestate":
        _missing(claims, ("organization", "project", "actor_id"))
        for p in publishers:
            if (
                isinstance(p, ActiveStatePublisher)
                and p.organization == claims["organization"]
                and p.activestate_project_name == claims["project"]
                and p.actor_id == claims["actor_id"]
            ):
                return p
        raise InvalidPublisher("Publisher with matching claims was not found")
    if service != "gitlab":
        raise InvalidPublisher("Publisher with matching claims was not found")
    # GitLab, on gitlab.com or an organization's self-managed instance.
    _missing(claims, ("project_path", "ci_config_ref_uri"))
    namespace, _, project = str(claims["project_path"]).rpartition("/")
    found = _WORKFLOW_FILEPATH_RE.search(str(claims["ci_config_ref_uri"]))
    if found is None:
        raise InvalidPublisher("Could not extract workflow filename from OIDC claims")
    gitlab = [
        p
        for p in publishers
        if isinstance(p, GitLabPublisher)
        and p.issuer_url == issuer
        and (p.namespace, p.project) == (namespace, project)
        and p.workflow_filepath == found.group(1)
    ]
    environment = claims.get("environment")
    return _most_specific(list(gitlab), str(environment) if environment else None, "environment")


def find_publisher(
    claims: Mapping[str, Any],
    publishers: Sequence[Publisher],
    *,
    issuer: str,
    service: str,
    jti_seen: Callable[[str], bool],
) -> Publisher:
    """The publisher these verified claims belong to, or :class:`InvalidPublisher`.

    ``issuer`` is the token's (verified) ``iss`` and ``service`` its kind
    (``github``, ``gitlab``, ``google``...); ``jti_seen`` tells whether a JWT id was
    already exchanged (GitHub and GitLab reject a replay with :class:`ReusedToken`).
    """
    publisher = _lookup(claims, publishers, issuer, service)
    publisher.verify_claims(claims, jti_seen)
    _logger.debug("claims matched publisher %s", publisher.id)
    return publisher


def publisher_to_json(publisher: Publisher) -> dict[str, Any]:
    """A JSON-ready record of a publisher configuration (for the index's state file)."""
    data = asdict(publisher)
    data["projects"] = list(publisher.projects)
    data["kind"] = publisher.kind
    return data


def publisher_from_json(data: Mapping[str, Any]) -> Publisher:
    """Inverse of :func:`publisher_to_json`."""
    fields = {k: v for k, v in data.items() if k != "kind"}
    fields["projects"] = tuple(fields.get("projects", ()))
    kind = data["kind"]
    if kind == "GitHub":
        return GitHubPublisher(**fields)
    if kind == "GitLab":
        return GitLabPublisher(**fields)
    if kind == "Google":
        return GooglePublisher(**fields)
    if kind == "ActiveState":
        return ActiveStatePublisher(**fields)
    raise ValueError(f"unknown publisher kind {kind!r}")
