"""Configuring a local index as its owner would: projects, publishers, tokens, faults.

What a test or ``trustpub serve`` sets up before a client runs: projects and their
trusted publishers, API tokens, deleted files and old releases, and the fault knobs
that make the next uploads fail.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name, canonicalize_version

from trustpub.local._index_state import IndexState
from trustpub.local._publishers import (
    GITLAB_ISSUER,
    ActiveStatePublisher,
    GitHubPublisher,
    GitLabPublisher,
    GooglePublisher,
    Publisher,
)
from trustpub.local._storage import (
    ProjectRecord,
    TokenRecord,
    token_digest,
)

if TYPE_CHECKING:
    pass

_logger = logging.getLogger(__name__)


class IndexAdmin(IndexState):
    """The owner's and the test's side of :class:`~trustpub.local.index.LocalIndex`."""

    def add_project(self, name: str) -> None:
        """Register a project (idempotent); trusted publishers need one to upload to."""
        with self._lock:
            if self._store.project(name) is None:
                self._store.projects[canonicalize_name(name)] = ProjectRecord(
                    name=name, created=time.time()
                )
                self._store.save()
                _logger.debug("project %s added", name)

    def _attach(self, project: str, publisher: Publisher) -> str:
        with self._lock:
            self.add_project(project)
            normalized = canonicalize_name(project)
            existing = self._store.publishers.get(publisher.id)
            projects = tuple(existing.projects) if existing else ()
            if normalized not in projects:
                projects += (normalized,)
            self._store.publishers[publisher.id] = dataclasses.replace(publisher, projects=projects)
            self._store.save()
            _logger.debug("publisher %s now serves %s", publisher.id, ", ".join(projects))
            return publisher.id

    def add_github_publisher(
        self,
        project: str,
        repository: str,
        repository_owner_id: str,
        workflow_file: str,
        environment: str | None = None,
    ) -> str:
        """Trust a GitHub Actions workflow to publish ``project``; returns the publisher id.

        ``repository`` is ``owner/name``; the same configuration added for another
        project extends the existing publisher (one token then covers both).
        """
        owner, sep, name = repository.partition("/")
        if not sep or not owner or not name:
            raise ValueError(f"repository must be 'owner/name', not {repository!r}")
        return self._attach(
            project,
            GitHubPublisher(
                owner, name, str(repository_owner_id), workflow_file, environment or ""
            ),
        )

    def add_gitlab_publisher(
        self,
        project: str,
        repository: str,
        workflow_filepath: str = ".gitlab-ci.yml",
        environment: str | None = None,
        *,
        issuer_url: str = GITLAB_ISSUER,
    ) -> str:
        """Trust a GitLab CI/CD pipeline (``namespace/project``) to publish ``project``.

        ``issuer_url`` other than gitlab.com registers a self-managed instance, as an
        organization can on PyPI.
        """
        namespace, sep, name = repository.rpartition("/")
        if not sep or not namespace or not name:
            raise ValueError(f"repository must be 'namespace/project', not {repository!r}")
        return self._attach(
            project,
            GitLabPublisher(namespace, name, workflow_filepath, environment or "", issuer_url),
        )

    def add_google_publisher(self, project: str, email: str, sub: str | None = None) -> str:
        """Trust a Google Cloud service account (optionally pinned to ``sub``)."""
        return self._attach(project, GooglePublisher(email, sub or ""))

    def add_activestate_publisher(
        self, project: str, organization: str, activestate_project: str, actor_id: str, actor: str = ""
    ) -> str:
        """Trust an ActiveState Platform project (as its actor ``actor_id``) to publish ``project``."""
        return self._attach(project, ActiveStatePublisher(organization, activestate_project, actor_id, actor))

    def add_api_token(self, project: str | None = None) -> str:
        """Create a user API token (``pypi-...``), scoped to ``project`` or account-wide.

        The account owns every project, so an account-wide token may also create
        projects.  The plaintext is returned only here; the index keeps a digest.
        """
        token = "pypi-" + secrets.token_urlsafe(32)
        with self._lock:
            if project is not None:
                self.add_project(project)
            self._store.tokens[token_digest(token)] = TokenRecord(
                digest=token_digest(token),
                kind="user",
                created=time.time(),
                project=canonicalize_name(project) if project is not None else None,
            )
            self._store.save()
        _logger.debug("API token added (scope: %s)", project or "account")
        return token

    def fail_next_uploads(
        self, n: int, status: int = 503, *, retry_after: int | None = None
    ) -> None:
        """Answer the next ``n`` upload requests with ``status`` (body read first).

        ``retry_after`` adds a ``Retry-After`` header (seconds), as a 429 or 503 from a
        CDN carries.
        """
        with self._lock:
            self._fail_next.extend([(status, retry_after)] * n)

    def reset_next_uploads(self, n: int) -> None:
        """Drop the connection of the next ``n`` upload requests halfway through the body."""
        with self._lock:
            self._reset_next += n

    def delete_file(self, filename: str) -> None:
        """Delete a file as an owner would; its name can never be used again."""
        with self._lock:
            record = self._store.files.pop(filename)
            project = self._store.projects[record.project]
            for release in project.releases.values():
                if filename in release.files:
                    release.files.remove(filename)
            self._store.deleted_filenames.add(filename)
            self._store.save()
            path = self._store.path_of(record)
            for suffix in ("", ".metadata", ".provenance"):
                Path(str(path) + suffix).unlink(missing_ok=True)

    def backdate_release(self, project: str, version: str, days: float) -> None:
        """Make a release look ``days`` old (to exercise the 14-day upload window)."""
        with self._lock:
            record = self._store.project(project)
            if record is None:
                raise KeyError(project)
            release = record.releases[canonicalize_version(version)]
            release.created -= days * 24 * 60 * 60
            self._store.save()

    def files(self, project: str) -> list[str]:
        """Filenames stored for ``project``."""
        with self._lock:
            record = self._store.project(project)
            return sorted(f.filename for f in self._store.project_files(record)) if record else []
