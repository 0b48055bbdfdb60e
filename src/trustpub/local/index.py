"""A local PyPI: trusted publishing, the legacy upload API, PEP 740, simple and integrity.

:class:`LocalIndex` serves on ``127.0.0.1`` what a publishing client meets on PyPI,
following ``warehouse-contract.md``: the OIDC audience and mint-token endpoints, the
legacy upload API with PyPI's validation order, status codes and messages (in the
reason phrase and in the Accept-negotiated body), PEP 740 attestations verified
against a local Sigstore trust root, the PEP 691 simple API (which pip can install
from) and the integrity API.  Uploads stream to disk; state lives in one folder, so
a new index on the same folder serves what an earlier one accepted.

Usage::

    from trustpub.local.index import LocalIndex
    from trustpub.local.issuer import GITHUB_ISSUER, OIDCIssuer

    with OIDCIssuer() as issuer, LocalIndex(
        tmp_path / "index", jwks_urls={GITHUB_ISSUER: issuer.jwks_url}
    ) as index:
        index.add_github_publisher("demo", "octo-org/demo", "1234567", "release.yml")
        token = index.add_api_token("demo")          # or mint one through OIDC:
        # POST {index.url}/_/oidc/mint-token {"token": issuer.mint_github("pypi")}
        # twine upload --repository-url {index.upload_url} -u __token__ -p {token} ...

Fault knobs for client tests: :meth:`fail_next_uploads`, :meth:`reset_next_uploads`,
``upload_delay`` and ``token_lifetime``; admin flags as attributes
(``disallow_oidc``, ``disallow_pep740``, ``read_only``, ...).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from packaging.metadata import Metadata
from packaging.utils import canonicalize_name, canonicalize_version

from trustpub.local import _archives, _validate
from trustpub.local._forms import FilePart, Form, FormError, FormTooLarge, parse_form
from trustpub.local._http import AbortConnection, LocalServer, LocalService, Request, Response
from trustpub.local._oidc import MintError, TokenExchange
from trustpub.local._publishers import (
    GITLAB_ISSUER,
    ISSUER_SERVICE_NAMES,
    GitHubPublisher,
    GitLabPublisher,
    GooglePublisher,
    InvalidPublisher,
    Publisher,
    ReusedToken,
    find_publisher,
)
from trustpub.local._responses import UploadError, best_offer, render_error
from trustpub.local._simple import INTEGRITY_TYPES, simple_index, simple_page
from trustpub.local._storage import (
    FileRecord,
    IndexStore,
    ProjectRecord,
    ReleaseRecord,
    TokenRecord,
    token_digest,
)
from trustpub.local._upload2 import Upload2
from trustpub.local._validate import UploadFields, help_url

if TYPE_CHECKING:
    from sigstore.verify import Verifier

__all__ = ["LocalIndex"]

_logger = logging.getLogger(__name__)

MIB = 1024 * 1024
GIB = 1024 * MIB
#: Releases older than this are closed to new files.
RELEASE_UPLOAD_WINDOW = 14 * 24 * 60 * 60

_UPLOAD_PAGE = b"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Warehouse \xc2\xb7 The Python Package Index</title>
  </head>
  <body>
    <h1>API endpoint</h1>
    <p>This URL is an API endpoint for uploading files to PyPI.</p>
    <p>For more information on uploading projects to PyPI, visit the
      <a href="https://packaging.python.org/tutorials/packaging-projects/#uploading-the-distribution-archives">Python Packaging User Guide</a>.</p>
  </body>
</html>
"""

_SIMPLE_PROJECT = re.compile(r"/simple/(?P<name>[^/]+)(?P<slash>/?)")
_INTEGRITY = re.compile(
    r"/integrity/(?P<project>[^/]+)/(?P<version>[^/]+)/(?P<filename>[^/]+)/provenance"
)
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": (
        "Content-Type, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since"
    ),
    "Access-Control-Allow-Methods": "GET",
    "Access-Control-Max-Age": "86400",
    "Access-Control-Expose-Headers": "X-PyPI-Last-Serial",
}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Pyramid's JSON renderer: json.dumps with its default separators.
    return Response(status, json.dumps(data).encode(), "application/json", dict(headers or {}))


def _not_found() -> Response:
    return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")


def _ultranormalize(name: str) -> str:
    # Warehouse's confusable-name rule: separators dropped, o->0, l/i->1.
    name = re.sub(r"[-_.]+", "", name.lower())
    return name.replace("o", "0").replace("l", "1").replace("i", "1")


@dataclasses.dataclass(frozen=True)
class _Identity:
    token: TokenRecord
    publisher: Publisher | None

    @property
    def is_oidc(self) -> bool:
        return self.token.kind == "oidc"


class LocalIndex(LocalService):
    """A PyPI-like index on ``127.0.0.1`` (see the module docstring).

    ``jwks_urls`` maps each OIDC issuer (the real ``iss`` strings the local issuer
    puts in its tokens) to the URL of its key set.  ``trust_config`` is a Sigstore
    ClientTrustConfig file whose trusted root verifies uploaded attestations.
    """

    def __init__(
        self,
        storage: Path | str,
        *,
        audience: str = "pypi",
        jwks_urls: Mapping[str, str] | None = None,
        trust_config: Path | str | None = None,
        upload_delay: float = 0.0,
    ) -> None:
        self.storage = Path(storage)
        #: What ``/_/oidc/audience`` answers and OIDC tokens must carry as ``aud``
        #: (PyPI: ``pypi``, TestPyPI: ``testpypi``).
        self.audience = audience
        self.trust_config = Path(trust_config) if trust_config is not None else None
        #: Seconds to wait before answering each upload (slow-index tests).
        self.upload_delay = upload_delay
        #: Admin flag ``disallow-oidc``: trusted publishing off.
        self.disallow_oidc = False
        #: Per-provider flags (``disallow-github-oidc``...): service names, e.g. ``{"github"}``.
        self.disallow_oidc_services: set[str] = set()
        #: Admin flag ``disable-pep740``: attestations ignored, integrity API 403.
        self.disallow_pep740 = False
        #: Admin flag ``read-only``.
        self.read_only = False
        #: Admin flag ``disallow-new-upload``.
        self.disallow_new_uploads = False
        #: Lifetime of tokens minted through trusted publishing (PyPI: 900 s).
        self.token_lifetime = 900
        #: Per-file upload limit (PyPI's default: 100 MiB).
        self.max_file_size = 100 * MIB
        #: Per-project total limit (PyPI's default: 10 GiB).
        self.max_project_size = 10 * GIB
        #: Every file this process stored, in order: a file stored twice appears twice
        #: (tests assert that a re-run never uploads a file again).
        self.stored_log: list[str] = []
        self._lock = threading.RLock()
        self._store = IndexStore(self.storage)
        self._used_jti: dict[tuple[str, str], float] = {}
        self._fail_next: list[tuple[int, int | None]] = []
        self._reset_next = 0
        self._verifier: Verifier | None = None
        self._exchange = TokenExchange(
            audience=audience,
            jwks_urls=dict(jwks_urls or {}),
            custom_issuers=self._custom_issuers,
            disallowed=self._oidc_disallowed,
        )
        server = LocalServer(name="index")
        server.route("GET", "/_/oidc/audience", self._audience)
        server.route("POST", "/_/oidc/mint-token", self._mint)
        server.route("POST", "/_/oidc/github/mint-token", self._mint)
        server.route("POST", "/legacy", self._missing_slash, stream=True)
        server.route("POST", "/legacy/", self._legacy, stream=True)
        server.route("GET", "/legacy/", self._upload_page)
        server.route("GET", "/simple/", self._simple_index)
        server.route("GET", _SIMPLE_PROJECT, self._simple_project)
        server.route("GET", "/files/", self._download, prefix=True)
        server.route("GET", _INTEGRITY, self._provenance)
        #: The Upload 2.0 API (PEP 694) on the same storage and rules: :attr:`upload2_url`.
        self.upload2 = Upload2(self)
        self.upload2.register(server)
        self._server = server

    # -- URLs (start, stop and url come from LocalService) ----------------------

    @property
    def upload_url(self) -> str:
        """The legacy upload URL, with PyPI's required trailing slash."""
        return self.url + "/legacy/"

    @property
    def upload2_url(self) -> str:
        """The Upload 2.0 (PEP 694) root endpoint."""
        return self.upload2.url

    @property
    def simple_url(self) -> str:
        """The simple index URL (for ``pip --index-url``)."""
        return self.url + "/simple/"

    # -- configuration -----------------------------------------------------------

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

    def fail_next_uploads(self, n: int, status: int = 503, *, retry_after: int | None = None) -> None:
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

    # -- helpers -----------------------------------------------------------------

    def _custom_issuers(self) -> dict[str, str]:
        with self._lock:
            return {
                p.issuer_url: "gitlab"
                for p in self._store.publishers.values()
                if isinstance(p, GitLabPublisher) and p.issuer_url not in ISSUER_SERVICE_NAMES
            }

    def _oidc_disallowed(self, service: str) -> bool:
        return self.disallow_oidc or service in self.disallow_oidc_services

    def _verifier_for_attestations(self) -> Verifier:
        if self._verifier is None:
            if self.trust_config is None:
                raise RuntimeError("no Sigstore trust root configured for this index")
            from sigstore.models import ClientTrustConfig
            from sigstore.verify import Verifier

            config = ClientTrustConfig.from_json(self.trust_config.read_text(encoding="utf-8"))
            self._verifier = Verifier(trusted_root=config.trusted_root)
        return self._verifier

    # -- OIDC --------------------------------------------------------------------

    def _audience(self, request: Request) -> Response:
        if self.disallow_oidc:
            return _json({"message": "Trusted publishing functionality not enabled"}, 403)
        return _json({"audience": self.audience})

    def _jti_seen(self, issuer: str, jti: str) -> bool:
        now = time.time()
        for key in [k for k, until in self._used_jti.items() if until < now]:
            del self._used_jti[key]
        return (issuer, jti) in self._used_jti

    def _mint(self, request: Request) -> Response:
        self._exchange.audience = self.audience  # the attribute may change at run time
        try:
            claims, issuer, service = self._exchange.verify(request.body)
            with self._lock:
                publisher = find_publisher(
                    claims,
                    list(self._store.publishers.values()),
                    issuer=issuer,
                    service=service,
                    jti_seen=lambda jti: self._jti_seen(issuer, jti),
                )
                jti = claims.get("jti")
                if jti is not None:
                    # The atomic "SET NX" of Warehouse: a lost race is a reuse.
                    if self._jti_seen(issuer, str(jti)):
                        raise ReusedToken("invalid token: already used")
                    self._used_jti[(issuer, str(jti))] = float(claims["exp"]) + 5
                not_before = int(time.time())
                expires = not_before + int(self.token_lifetime)
                token = "pypi-" + secrets.token_urlsafe(32)
                self._store.tokens[token_digest(token)] = TokenRecord(
                    digest=token_digest(token),
                    kind="oidc",
                    created=float(not_before),
                    publisher_id=publisher.id,
                    project_names=list(publisher.projects),
                    not_before=float(not_before),
                    expires=float(expires),
                )
                self._store.save()
        except MintError as exc:
            _logger.debug("mint-token refused: %s", exc.code)
            return exc.response()
        except ReusedToken:
            return MintError("invalid-reuse-token", "invalid token: already used").response()
        except InvalidPublisher as exc:
            return MintError(
                "invalid-publisher", f"valid token, but no corresponding publisher ({exc})"
            ).response()
        _logger.debug("minted a token for publisher %s (expires %d)", publisher.id, expires)
        return _json({"success": True, "token": token, "expires": expires})

    # -- legacy upload -----------------------------------------------------------

    def _missing_slash(self, request: Request) -> Response:
        return render_error(
            308,
            "An upload was attempted to /legacy but the expected upload URL is "
            "/legacy/ (with a trailing slash)",
            request.header("Accept"),
            location=self.upload_url,
        )

    def _upload_page(self, request: Request) -> Response:
        return Response(200, _UPLOAD_PAGE, "text/html; charset=UTF-8")

    def _take_fault(self) -> tuple[bool, tuple[int, int | None] | None]:
        with self._lock:
            if self._reset_next:
                self._reset_next -= 1
                return True, None
            if self._fail_next:
                return False, self._fail_next.pop(0)
        return False, None

    def _legacy(self, request: Request) -> Response:
        accept = request.header("Accept")
        reset, failure = self._take_fault()
        stream = request.stream
        assert stream is not None, "the upload route streams its body"
        if reset:
            length = int(request.header("Content-Length") or 0)
            stream.read(max(1, length // 2))
            _logger.debug("fault knob: resetting an upload connection mid-body")
            raise AbortConnection("reset_next_uploads")
        if failure is not None:
            fail_status, retry_after = failure
            while stream.read(1024 * 1024):
                pass
            _logger.debug("fault knob: failing an upload with %d", fail_status)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
            response = render_error(fail_status, "", accept, headers=headers)
        else:
            response = self._handle_upload(request, accept)
        if self.upload_delay:
            time.sleep(self.upload_delay)
        return response

    def _handle_upload(self, request: Request, accept: str | None) -> Response:
        assert request.stream is not None
        with tempfile.TemporaryDirectory(prefix="upload-", dir=self._store.tmp_dir) as spool:
            try:
                form = parse_form(
                    request.stream,
                    request.header("Content-Type"),
                    Path(spool),
                    max_file_bytes=self.max_file_size,
                )
            except FormTooLarge as exc:
                return render_error(413, str(exc), accept)
            except FormError as exc:
                return render_error(400, f"Invalid request body: {exc}", accept)
            # request.params: the query string first, then the body; last value wins.
            action = request.param(":action") or form.last(":action")
            if action in ("submit", "submit_pkg_info"):
                return render_error(
                    410,
                    "Project pre-registration is no longer required or supported, "
                    "upload your files instead.",
                    accept,
                )
            if action == "doc_upload":
                return render_error(
                    410,
                    "Uploading documentation is no longer supported, we recommend using "
                    "https://readthedocs.org/.",
                    accept,
                )
            if action != "file_upload":
                # PyPI's catch-all: the "API endpoint" page, with a 200.
                return Response(200, _UPLOAD_PAGE, "text/html; charset=UTF-8")
            try:
                return self._file_upload(form, request, accept)
            except UploadError as exc:
                _logger.debug("upload refused: %s", exc)
                return render_error(exc.status, exc.message, accept)

    def _identity(self, authorization: str | None) -> _Identity | None:
        if not authorization:
            return None
        scheme, _, credentials = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            username, sep, password = decoded.partition(":")
            if not sep:
                return None
            if username != "__token__":
                raise UploadError(
                    403,
                    "Username/Password authentication is no longer supported. Migrate to "
                    "API Tokens or Trusted Publishers instead. See "
                    "https://pypi.org/help/#apitoken and "
                    "https://pypi.org/help/#trusted-publishers",
                )
            token = password.strip()
        elif scheme in ("bearer", "token"):
            token = credentials.strip()
        else:
            return None
        if not token.startswith("pypi-"):
            return None
        with self._lock:
            record = self._store.tokens.get(token_digest(token))
            if record is None:
                return None
            publisher = (
                self._store.publishers.get(record.publisher_id) if record.publisher_id else None
            )
        return _Identity(record, publisher)

    def _file_upload(self, form: Form, request: Request, accept: str | None) -> Response:
        # 1. ensure_uploads_allowed
        if self.read_only:
            raise UploadError(403, "Read-only mode: Uploads are temporarily disabled.")
        if self.disallow_new_uploads:
            raise UploadError(
                403,
                "New uploads are temporarily disabled. "
                f"See {help_url('admin-intervention')} for more information.",
            )
        identity = self._identity(request.header("Authorization"))
        if identity is None:
            raise UploadError(
                403,
                "Invalid or non-existent authentication information. "
                f"See {help_url('invalid-auth')} for more information.",
            )
        # 2.-4. the request itself
        _validate.sanitize(form)
        _validate.check_protocol_version(form)
        _validate.check_no_file_fields(form)
        fields = _validate.validate_upload_form(form)
        meta = _validate.parse_metadata(form)
        # 5. the file
        content = form.file("content")
        if content is None:
            raise UploadError(400, "Upload payload does not have a file.")
        with self._lock:
            return self._upload_with_state(form, fields, meta, content, identity, accept)

    def _new_project(self, name: str) -> ProjectRecord:
        if canonicalize_name(name) in {canonicalize_name(m) for m in sys.stdlib_module_names}:
            raise UploadError(
                400,
                f"The name {name!r} isn't allowed (conflict with Python Standard Library "
                f"module name). See {help_url('project-name')} for more information.",
            )
        ultra = _ultranormalize(name)
        if any(_ultranormalize(p.name) == ultra for p in self._store.projects.values()):
            raise UploadError(
                400,
                f"The name {name!r} is too similar to an existing project. "
                f"See {help_url('project-name')} for more information.",
            )
        return ProjectRecord(name=name, created=time.time())

    @staticmethod
    def _check_permission(identity: _Identity, project: ProjectRecord) -> None:
        token = identity.token
        normalized = project.normalized_name
        if identity.is_oidc:
            publisher = identity.publisher
            if publisher is None or normalized not in publisher.projects:
                raise UploadError(
                    403,
                    f"Invalid API Token: OIDC scoped token is not valid for project '{project.name}'",
                )
            if normalized not in token.project_names:
                raise UploadError(
                    403,
                    f"Invalid API Token: project-scoped token is not valid for project: {project.name!r}",
                )
            now = time.time()
            if (token.not_before is not None and now < token.not_before) or (
                token.expires is not None and now >= token.expires
            ):
                raise UploadError(403, "Invalid API Token: token is expired")
        elif token.project is not None and token.project != normalized:
            raise UploadError(
                403,
                f"Invalid API Token: project-scoped token is not valid for project: {project.name!r}",
            )

    def _check_size(self, content: FilePart, project: ProjectRecord) -> None:
        total = sum(f.size for f in self._store.project_files(project))
        file_limit = self.max_file_size
        project_room = self.max_project_size - total
        # Warehouse checks both limits on every chunk, the file limit first.
        file_error = UploadError(
            400,
            f"File too large. Limit for project {project.name!r} is {file_limit // MIB} MB. "
            "See https://docs.pypi.org/project-management/storage-limits"
            "#requesting-a-file-size-limit-increase for more information.",
        )
        project_error = UploadError(
            400,
            f"Project size too large. Limit for project {project.name!r} total size is "
            f"{self.max_project_size // GIB} GB. "
            "See https://docs.pypi.org/project-management/storage-limits"
            "#requesting-a-project-size-limit-increase",
        )
        if file_limit <= project_room:
            if content.size > file_limit:
                raise file_error
            if content.size > project_room:
                raise project_error
        else:
            if content.size > project_room:
                raise project_error
            if content.size > file_limit:
                raise file_error
        if content.truncated:  # pragma: no cover - implied by the checks above
            raise file_error

    @staticmethod
    def _check_digests(fields: UploadFields, content: FilePart) -> None:
        computed = {
            "md5": content.md5,
            "sha256": content.sha256,
            "blake2_256": content.blake2_256,
        }
        sent = {
            "md5": fields.md5_digest,
            "sha256": fields.sha256_digest,
            "blake2_256": fields.blake2_256_digest,
        }
        for name, value in sent.items():
            if value and not hmac.compare_digest(value.lower(), computed[name]):
                raise UploadError(
                    400,
                    "The digest supplied does not match a digest calculated "
                    "from the uploaded file.",
                )

    def _upload_with_state(
        self,
        form: Form,
        fields: UploadFields,
        meta: Metadata,
        content: FilePart,
        identity: _Identity,
        accept: str | None,
    ) -> Response:
        now = time.time()
        # 6. project lookup (creation only for user identities)
        project = self._store.project(fields.name)
        creating_project = project is None
        # Upload 2.0 reservations: a staged first release's name, a publish's filenames.
        self.upload2.check_legacy_upload(fields.name, content.filename, creating=creating_project)
        if project is None:
            if identity.is_oidc:
                raise UploadError(
                    400,
                    "Non-user identities cannot create new projects. This was probably "
                    "caused by successfully using a pending publisher but specifying the "
                    "project name incorrectly (either in the publisher or in your "
                    "project's metadata). Please ensure that both match. "
                    "See: https://docs.pypi.org/trusted-publishers/troubleshooting/",
                )
            project = self._new_project(fields.name)
        # 7. permission
        self._check_permission(identity, project)
        # 9. description
        _validate.render_description(meta)
        # 10. release
        canonical_version = canonicalize_version(meta.version)
        release = project.releases.get(canonical_version)
        creating_release = release is None
        if release is None:
            release = ReleaseRecord(
                version=str(meta.version),
                canonical_version=canonical_version,
                created=now,
                summary=meta.summary,
                requires_python=str(meta.requires_python) if meta.requires_python else None,
            )
        # 11.-12. filename and content type
        filename = content.filename
        _validate.validate_filename(filename, fields.filetype)
        _validate.check_content_type(content)
        # 13.-14. size and digests
        self._check_size(content, project)
        self._check_digests(fields, content)
        # 15. duplicates
        existing = self._store.files.get(filename) or self._store.file_by_blake2(content.blake2_256)
        if existing is not None:
            if (
                existing.filename == filename
                and existing.sha256 == content.sha256
                and existing.blake2_256 == content.blake2_256
            ):
                _logger.debug("identical re-upload of %s: nothing to do", filename)
                return render_error(200, "", accept)
            raise UploadError(
                400,
                f"File already exists ({filename!r}, with blake2_256 hash "
                f"{content.blake2_256!r}). See {help_url('file-name-reuse')} "
                "for more information.",
            )
        # 16.-18. release rules
        if filename in self._store.deleted_filenames:
            raise UploadError(
                400,
                "This filename was previously used by a file that has since been deleted. "
                f"Use a different version. See {help_url('file-name-reuse')} for more "
                "information.",
            )
        if not creating_release and now - release.created > RELEASE_UPLOAD_WINDOW:
            raise UploadError(
                400, "Uploading new files to releases older than 14 days is not allowed."
            )
        if fields.filetype == "sdist" and any(
            self._store.files[f].packagetype == "sdist"
            for f in release.files
            if f in self._store.files
        ):
            raise UploadError(400, "Only one sdist may be uploaded per release.")
        # 19.-21. archive
        _archives.check_dist_file(content.path, filename, fields.filetype)
        wheel_metadata: bytes | None = None
        if fields.filetype == "sdist":
            _archives.check_sdist(content.path, filename, project.name, meta)
        else:
            wheel_metadata = _archives.check_wheel(content.path, filename, project.name, meta)
        # 22. attestations
        provenance = self._attestations(form, filename, content, identity)
        # 23. store
        self._commit(
            project=project,
            release=release,
            creating_project=creating_project,
            creating_release=creating_release,
            fields=fields,
            meta=meta,
            content=content,
            wheel_metadata=wheel_metadata,
            provenance=provenance,
        )
        return Response(200, b"", "text/html; charset=UTF-8")

    def _attestations(
        self, form: Form, filename: str, content: FilePart, identity: _Identity
    ) -> dict[str, Any] | None:
        if "attestations" not in form or self.disallow_pep740:
            return None
        if not identity.is_oidc or identity.publisher is None:
            raise UploadError(
                400,
                "Invalid attestations supplied during upload: "
                "Attestations are only supported when using Trusted Publishing",
            )
        from pypi_attestations import AttestationBundle, Provenance

        from trustpub.local import _pep740

        # WebOb's MultiDict returns the last value of a repeated key.
        raw = form.last("attestations") or ""
        publisher = identity.publisher.attestation_identity()
        try:
            attestations = _pep740.parse_attestations(
                raw, filename, content.sha256, publisher, self._verifier_for_attestations()
            )
        except _pep740.AttestationsRefused as exc:
            raise UploadError(400, f"Invalid attestations supplied during upload: {exc}") from None
        except RuntimeError as exc:
            raise UploadError(
                400,
                "Invalid attestations supplied during upload: "
                f"Unknown error while trying to verify included attestations: {exc}",
            ) from None
        bundle = AttestationBundle(publisher=publisher, attestations=attestations)
        document: dict[str, Any] = Provenance(attestation_bundles=[bundle]).model_dump(mode="json")
        return document

    def _commit(
        self,
        *,
        project: ProjectRecord,
        release: ReleaseRecord,
        creating_project: bool,
        creating_release: bool,
        fields: UploadFields,
        meta: Metadata,
        content: FilePart,
        wheel_metadata: bytes | None,
        provenance: dict[str, Any] | None,
    ) -> None:
        filename = content.filename
        self.stored_log.append(filename)
        relative = IndexStore.content_path(content.blake2_256, filename)
        destination = self._store.files_dir / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(content.path, destination)
        metadata_sha256 = metadata_blake2 = None
        if wheel_metadata is not None:
            Path(f"{destination}.metadata").write_bytes(wheel_metadata)
            metadata_sha256 = hashlib.sha256(wheel_metadata).hexdigest()
            metadata_blake2 = hashlib.blake2b(wheel_metadata, digest_size=32).hexdigest()
        if provenance is not None:
            Path(f"{destination}.provenance").write_text(json.dumps(provenance), encoding="utf-8")
        # PyPI renames the project when the metadata spells it differently.
        if project.name != meta.name and canonicalize_name(meta.name) == project.normalized_name:
            project.name = meta.name
        if creating_project:
            self._store.projects[project.normalized_name] = project
        if creating_release:
            project.releases[release.canonical_version] = release
        release.files.append(filename)
        self._store.files[filename] = FileRecord(
            filename=filename,
            project=project.normalized_name,
            version=release.version,
            packagetype=fields.filetype,
            python_version=fields.pyversion,
            size=content.size,
            sha256=content.sha256,
            blake2_256=content.blake2_256,
            md5=content.md5,
            path=relative,
            upload_time=time.time(),
            requires_python=release.requires_python,
            comment=fields.comment,
            metadata_sha256=metadata_sha256,
            metadata_blake2_256=metadata_blake2,
            has_provenance=provenance is not None,
        )
        self._store.save()
        _logger.debug(
            "stored %s (%d bytes%s)",
            filename,
            content.size,
            ", with provenance" if provenance else "",
        )

    # -- read side ---------------------------------------------------------------

    def _simple_index(self, request: Request) -> Response:
        with self._lock:
            names = [p.name for p in self._store.projects.values() if p.releases]
        return simple_index(names, accept=request.header("Accept"))

    def _simple_project(self, request: Request) -> Response:
        assert request.match is not None
        name = unquote(request.match.group("name"))
        normalized = canonicalize_name(name)
        if name != normalized or not request.match.group("slash"):
            return Response(
                301, b"", "text/plain", {"Location": f"{self.url}/simple/{normalized}/"}
            )
        with self._lock:
            project = self._store.project(name)
            if project is None:
                return _not_found()
            files = self._store.project_files(project)
            display = project.name
        return simple_page(display, files, self.url, accept=request.header("Accept"))

    def _download(self, request: Request) -> Response:
        relative = unquote(request.path[len("/files/") :])
        path = self._store.resolve(relative)
        if path is None:
            return _not_found()
        content_type = "application/octet-stream"
        if path.name.endswith(".provenance"):
            return _not_found()  # provenance is served by the integrity API only
        if path.name.endswith(".metadata"):
            content_type = "text/plain; charset=utf-8"
        return Response(200, b"", content_type, file=path.open("rb"))

    def _provenance(self, request: Request) -> Response:
        assert request.match is not None
        project_name = unquote(request.match.group("project"))
        version = unquote(request.match.group("version"))
        filename = unquote(request.match.group("filename"))
        with self._lock:
            project = self._store.project(project_name)
            if project is None:
                return _not_found()
            release = project.releases.get(canonicalize_version(version)) or next(
                (r for r in project.releases.values() if r.version == version), None
            )
            if release is None or filename not in release.files:
                return _not_found()
            record = self._store.files[filename]
            path = self._store.path_of(record)
        headers = {"Vary": "Accept", "Cache-Control": "max-age=600, public"}
        content_type = best_offer(request.header("Accept"), INTEGRITY_TYPES)
        if content_type is None:
            return _json({"message": "Request not acceptable"}, 406, headers)
        if self.disallow_pep740:
            return _json({"message": "Attestations temporarily disabled"}, 403, headers)
        if not record.has_provenance:
            return _json({"message": f"No provenance available for {filename}"}, 404, headers)
        body = Path(f"{path}.provenance").read_bytes()
        headers.update(_CORS_HEADERS)
        headers["Surrogate-Control"] = (
            "max-age=86400, stale-while-revalidate=300, stale-if-error=86400"
        )
        return Response(200, body, content_type, headers)
