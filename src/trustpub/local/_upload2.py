"""The Upload 2.0 API (PEP 694) of the local index, beside the legacy one.

One publishing session per project version stages files that nobody else can see,
lets them be previewed (and installed by pip) through an unguessable stage index, and
publishes all of them at once, or discards them.  The session uses the index's own
storage and upload rules (:mod:`trustpub.local._staging`), and the index lock: a
publish is atomic with respect to every other upload, legacy ones included.

URLs, under the root endpoint :data:`ROOT` (``http://127.0.0.1:PORT/2.0/``):

=====================================================  ==============================
``POST /2.0/``                                         create a publishing session
``GET /2.0/``                                          discovery (``meta.api-version``)
``GET|DELETE /2.0/sessions/<sid>``                     status, cancel
``POST /2.0/sessions/<sid>/publish`` / ``extend``      publish, extend
``POST /2.0/sessions/<sid>/files``                     create a file upload session
``GET|DELETE /2.0/sessions/<sid>/files/<fid>``         file status, cancel or delete
``POST .../files/<fid>/complete`` / ``extend``         complete, extend
``POST .../files/<fid>/content``                       ``http-post-bytes``: the file
``POST .../files/<fid>/attestations``                  PEP 740 attestations (JSON array)
``GET /2.0/stage/<token>/simple/...``                  the stage preview (a simple index)
=====================================================  ==============================

Every session request is authenticated (``Authorization: Basic __token__:pypi-...``
or ``Bearer pypi-...``; 401 with ``WWW-Authenticate`` without one) and authorized
against the project at the time of the request (403), never bound to the credentials
that created the session.  The stage URL is a capability: no credentials needed.

Test knobs: :attr:`Upload2.processing_polls` (completion and publish answer ``202``
and stay ``processing`` for that many status reads), :attr:`Upload2.retry_after`,
:attr:`Upload2.clock` (expiry without sleeping), :meth:`Upload2.fail_next` and
:meth:`Upload2.reset_next` (5xx and connection resets per action), and
:attr:`Upload2.delay` (a slow index).  Sessions live in memory; staged bytes in the
index's spool folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from trustpub.local import _staging
from trustpub.local._http import AbortConnection, HTTPError, LocalServer, Request, Response
from trustpub.local._problems import MEDIA_TYPE, OFFERS, Problem, document
from trustpub.local._responses import UploadError, acceptable_offers
from trustpub.local._simple import simple_index, simple_page
from trustpub.local._storage import FileRecord, ProjectRecord

if TYPE_CHECKING:
    from trustpub.local.index import LocalIndex, _Identity

__all__ = ["MECHANISM", "ROOT", "Upload2"]

_logger = logging.getLogger(__name__)

#: The root endpoint's path on the index.
ROOT = "/2.0/"
#: The one required file upload mechanism.
MECHANISM = "http-post-bytes"
_MAX_JSON = 1024 * 1024
_MAX_ATTESTATIONS = 1024 * 1024
_CHUNK = 1024 * 1024
_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_WWW_AUTHENTICATE = 'Basic realm="trustpub local index", Bearer realm="trustpub local index"'
#: Hash names that prove nothing on their own (PEP 694 wants a secure one).
_INSECURE = frozenset({"md5", "sha1"})
_SECURE = frozenset(hashlib.algorithms_guaranteed) - _INSECURE - {"shake_128", "shake_256"}
_EDITABLE = ("open", "error")
ACTIONS = ("create", "file", "bytes", "attestations", "complete", "publish", "cancel", "extend", "status")


@dataclass
class _File:
    """One file upload session (mutable server state, guarded by the index lock)."""

    fid: str
    filename: str
    size: int
    hashes: dict[str, str]
    expires: float
    status: str = "pending"
    received: _staging.Received | None = None
    attestations: str | None = None
    attestation_identity: _Identity | None = None
    completing_identity: _Identity | None = None
    staged: _staging.StagedFile | None = None
    notices: list[str] = field(default_factory=list)
    polls_left: int = 0
    #: A completion is running the checks right now: the file's bytes may not change.
    checking: bool = False


@dataclass
class _Session:
    """One publishing session (mutable server state, guarded by the index lock)."""

    sid: str
    token: str
    name: str
    version: str
    created: float
    expires: float
    folder: Path
    new_project: bool
    status: str = "open"
    files: dict[str, str] = field(default_factory=dict)  # filename -> fid in the mapping
    uploads: dict[str, _File] = field(default_factory=dict)  # fid -> every file session
    notices: list[str] = field(default_factory=list)
    polls_left: int = 0

    @property
    def normalized(self) -> str:
        return canonicalize_name(self.name)


def _rfc3339(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(timestamp)))


def _api_version_ok(value: object) -> bool:
    if not isinstance(value, str):
        return False
    major, _, minor = value.partition(".")
    return major == "2" and minor.isdigit()


class Upload2:
    """The PEP 694 endpoints of one :class:`~trustpub.local.index.LocalIndex`."""

    def __init__(self, index: LocalIndex) -> None:
        self._index = index
        #: Seconds a new session (and file upload session) lives.
        self.session_lifetime = 3600
        #: Longest a session may live in all, extensions included (a week, as the PEP suggests).
        self.max_session_lifetime = 7 * 24 * 3600
        #: When > 0: completion and publish answer 202 and stay ``processing`` for this many status reads.
        self.processing_polls = 0
        #: The ``Retry-After`` (seconds) of answers a client should poll after.
        self.retry_after = 1
        #: Seconds to wait before answering each ``http-post-bytes`` request (slow index).
        self.delay = 0.0
        #: The clock sessions expire by (tests move it instead of sleeping).
        self.clock = time.time
        self._sessions: dict[str, _Session] = {}
        self._by_token: dict[str, str] = {}
        self._reserved_names: dict[str, str] = {}  # normalized name -> sid
        self._publishing: dict[str, str] = {}  # filename -> sid holding it during a publish
        self._faults: dict[str, list[tuple[int | None, int | None]]] = {}
        self._faults_lock = threading.Lock()

    # -- wiring ------------------------------------------------------------------

    def register(self, server: LocalServer) -> None:
        """Serve every URL under :data:`ROOT` (this module dispatches, so every error is a problem)."""
        for method in ("GET", "POST", "DELETE", "PUT", "PATCH"):
            server.route(method, ROOT, self.handle, prefix=True, stream=method == "POST")

    @property
    def url(self) -> str:
        """The root endpoint URL."""
        return self._index.url + ROOT

    def fail_next(self, n: int, status: int = 503, *, action: str = "bytes", retry_after: int | None = None) -> None:
        """Answer the next ``n`` requests of ``action`` (see :data:`ACTIONS`) with ``status``."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        with self._faults_lock:
            self._faults.setdefault(action, []).extend([(status, retry_after)] * n)

    def reset_next(self, n: int, *, action: str = "bytes") -> None:
        """Drop the connection of the next ``n`` requests of ``action`` (halfway through a file)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        with self._faults_lock:
            self._faults.setdefault(action, []).extend([(None, None)] * n)

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    def _fault(self, action: str, request: Request) -> Response | None:
        with self._faults_lock:
            queue = self._faults.get(action)
            if not queue:
                return None
            status, retry_after = queue.pop(0)
        stream = request.stream
        if status is None:
            if stream is not None:
                length = int(request.header("Content-Length") or 0)
                stream.read(max(1, length // 2))
            _logger.debug("fault knob: resetting a %s request", action)
            raise AbortConnection(f"reset_next({action})")
        if stream is not None:
            stream.drain()
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        _logger.debug("fault knob: failing a %s request with %d", action, status)
        return Problem(status, "Fault injected", f"the local index was told to fail this {action} request",
                       headers=headers).response()

    # -- legacy API hook -----------------------------------------------------------

    def check_legacy_upload(self, name: str, filename: str, *, creating: bool) -> None:
        """Refuse a legacy upload that would take a reserved name or filename (index lock held).

        A first release staged in a session holds its project name, and a publish in
        progress holds its filenames, whichever API the competing upload uses.
        """
        holder = self._reserved_names.get(canonicalize_name(name))
        if creating and holder is not None:
            raise UploadError(
                409,
                f"The name {name!r} is reserved by a staged release that is not published yet.",
            )
        if filename in self._publishing:
            raise UploadError(409, f"{filename} is being published by an Upload 2.0 session.")

    # -- dispatch --------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            return self._dispatch(request)
        except Problem as problem:
            return problem.response()
        except UploadError as exc:
            return Problem(exc.status, "Upload refused", exc.message).response()
        except HTTPError as exc:
            return Problem(exc.status, "Bad request", exc.message).response()

    def _dispatch(self, request: Request) -> Response:
        parts = request.path[len(ROOT):].split("/")
        method = "GET" if request.method == "HEAD" else request.method
        if parts[0] == "stage" and len(parts) >= 3:
            if method != "GET":
                raise Problem(405, "Method not allowed", "the stage preview is read-only", headers={"Allow": "GET"})
            return self._stage(request, unquote(parts[1]), parts[2:])
        self._negotiate(request)
        if parts == [""]:
            if method == "GET":
                return document({"mechanisms": [MECHANISM]}, headers={"Vary": "Accept"})
            if method == "POST":
                return self._guarded("create", request, self._create)
            raise _not_allowed(method, "GET, POST")
        if parts[0] != "sessions" or len(parts) < 2:
            raise Problem(404, "Not found", f"no Upload 2.0 resource at {request.path}")
        sid, rest = parts[1], parts[2:]
        routes: dict[tuple[str, ...], dict[str, tuple[str, Any]]] = {
            (): {"GET": ("status", self._status), "DELETE": ("cancel", self._cancel)},
            ("publish",): {"POST": ("publish", self._publish)},
            ("extend",): {"POST": ("extend", self._extend)},
            ("files",): {"POST": ("file", self._create_file)},
        }
        if len(rest) >= 2 and rest[0] == "files":
            fid, tail = rest[1], tuple(rest[2:])
            file_routes: dict[tuple[str, ...], dict[str, tuple[str, Any]]] = {
                (): {"GET": ("status", self._file_status), "DELETE": ("cancel", self._cancel_file)},
                ("complete",): {"POST": ("complete", self._complete)},
                ("extend",): {"POST": ("extend", self._extend_file)},
                ("content",): {"POST": ("bytes", self._bytes)},
                ("attestations",): {"POST": ("attestations", self._attestations)},
            }
            methods = file_routes.get(tail)
            if methods is None:
                raise Problem(404, "Not found", f"no Upload 2.0 resource at {request.path}")
            if method not in methods:
                raise _not_allowed(method, ", ".join(methods))
            action, handler = methods[method]
            return self._guarded(action, request, lambda r: handler(r, sid, fid))
        methods = routes.get(tuple(rest))
        if methods is None:
            raise Problem(404, "Not found", f"no Upload 2.0 resource at {request.path}")
        if method not in methods:
            raise _not_allowed(method, ", ".join(methods))
        action, handler = methods[method]
        return self._guarded(action, request, lambda r: handler(r, sid))

    def _guarded(self, action: str, request: Request, handler: Any) -> Response:
        injected = self._fault(action, request)
        if injected is not None:
            return injected
        response: Response = handler(request)
        return response

    def _negotiate(self, request: Request) -> None:
        if not acceptable_offers(request.header("Accept"), OFFERS):
            raise Problem(
                406,
                "Not acceptable",
                f"this index answers the Upload 2.0 API as {MEDIA_TYPE} only",
                errors=[("Accept", f"accept {MEDIA_TYPE}")],
            )

    # -- requests ---------------------------------------------------------------------

    @staticmethod
    def _read(request: Request, limit: int) -> bytes:
        stream = request.stream
        if stream is None:
            return request.body
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise Problem(413, "Request too large", f"a request body may hold at most {limit} bytes")
        return data

    def _json(self, request: Request) -> dict[str, Any]:
        """The JSON body of a session request, with its media type and API version checked."""
        content_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != MEDIA_TYPE:
            raise Problem(
                415,
                "Unsupported media type",
                f"send the request body as {MEDIA_TYPE}, not {content_type or 'nothing'}",
                errors=[("Content-Type", f"expected {MEDIA_TYPE}")],
            )
        raw = self._read(request, _MAX_JSON)
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = None
        if not isinstance(body, dict):
            raise Problem(400, "Invalid request", "the request body must be a JSON object",
                          errors=[("body", "not a JSON object")])
        meta = body.get("meta")
        version = meta.get("api-version") if isinstance(meta, dict) else None
        if not _api_version_ok(version):
            raise Problem(
                400,
                "Unsupported API version",
                f"meta.api-version must be a 2.x version matching {MEDIA_TYPE}, not {version!r}",
                errors=[("meta.api-version", "expected '2.0'")],
            )
        return body

    def _principal(self, request: Request) -> _Identity:
        try:
            identity = self._index._identity(request.header("Authorization"))
        except UploadError as exc:
            raise Problem(401, "Unauthorized", exc.message, headers={"WWW-Authenticate": _WWW_AUTHENTICATE}) from None
        if identity is None:
            raise Problem(
                401,
                "Unauthorized",
                "Invalid or non-existent authentication information: send an API token or a trusted-publishing token.",
                headers={"WWW-Authenticate": _WWW_AUTHENTICATE},
            )
        return identity

    def _authorize(self, identity: _Identity, name: str, *, mutating: bool = True) -> None:
        """PEP 694: the principal may upload to the project now (checked on every request)."""
        index = self._index
        if mutating and index.read_only:
            raise Problem(403, "Forbidden", "Read-only mode: Uploads are temporarily disabled.")
        if mutating and index.disallow_new_uploads:
            raise Problem(403, "Forbidden", "New uploads are temporarily disabled.")
        with index._lock:
            project = index._store.project(name)
        if project is None:
            if identity.is_oidc:
                raise Problem(
                    403,
                    "Forbidden",
                    "Non-user identities cannot create new projects. Ask an owner to create the project "
                    "(or a pending publisher) first.",
                )
            project = ProjectRecord(name=name, created=0.0)
        try:
            index._check_permission(identity, project)
        except UploadError as exc:
            raise Problem(403, "Forbidden", exc.message, errors=[("Authorization", exc.message)]) from None

    def _session(self, request: Request, sid: str, *, mutating: bool = True) -> tuple[_Session, _Identity]:
        identity = self._principal(request)
        with self._index._lock:
            session = self._sessions.get(sid)
            if session is not None:
                self._expire(session)
        if session is None:
            raise Problem(404, "Not found", "no such publishing session (it may have expired)")
        self._authorize(identity, session.name, mutating=mutating)
        return session, identity

    # -- documents -----------------------------------------------------------------

    def _session_url(self, session: _Session) -> str:
        return f"{self.url}sessions/{session.sid}"

    def _file_url(self, session: _Session, upload: _File) -> str:
        return f"{self._session_url(session)}/files/{upload.fid}"

    def stage_url(self, session: _Session) -> str:
        """The stage's simple index (for ``pip --index-url``): computed from the session token."""
        return f"{self.url}stage/{session.token}/simple/"

    def _session_doc(self, session: _Session) -> dict[str, Any]:
        base = self._session_url(session)
        files: dict[str, Any] = {}
        for filename, fid in sorted(session.files.items()):
            upload = session.uploads[fid]
            files[filename] = {"status": upload.status, "link": self._file_url(session, upload), "notices": list(upload.notices)}
        return {
            "links": {
                "stage": self.stage_url(session),
                "upload": base + "/files",
                "session": base,
                "publish": base + "/publish",
                "extend": base + "/extend",
            },
            "mechanisms": [MECHANISM],
            "session-token": session.token,
            "expires-at": _rfc3339(session.expires),
            "status": session.status,
            "files": files,
            "notices": list(session.notices),
        }

    def _file_doc(self, session: _Session, upload: _File) -> dict[str, Any]:
        base = self._file_url(session, upload)
        mechanism: dict[str, str] = {"identifier": MECHANISM, "file_url": base + "/content"}
        if not self._index.disallow_pep740:
            mechanism["attestations_url"] = base + "/attestations"
        return {
            "links": {"file-upload-session": base, "complete": base + "/complete", "extend": base + "/extend"},
            "status": upload.status,
            "expires-at": _rfc3339(upload.expires),
            "mechanism": mechanism,
            "notices": list(upload.notices),
        }

    def _session_answer(self, session: _Session, status: int = 200) -> Response:
        headers = {"Location": self._session_url(session)}
        if session.status == "processing":
            headers["Retry-After"] = str(self.retry_after)
        return document(self._session_doc(session), status, headers)

    def _file_answer(self, session: _Session, upload: _File, status: int = 200) -> Response:
        headers = {"Location": self._file_url(session, upload), "Retry-After": str(self.retry_after)}
        return document(self._file_doc(session, upload), status, headers)

    # -- state ---------------------------------------------------------------------

    def _expire(self, session: _Session) -> None:
        """Cancel a session whose time is up (index lock held)."""
        now = self.clock()
        if session.status in _EDITABLE and now >= session.expires:
            self._discard(session, "canceled", "the session expired before it was published")
            return
        for fid in list(session.files.values()):
            upload = session.uploads[fid]
            if upload.status == "pending" and now >= upload.expires:
                upload.status = "canceled"
                upload.notices.append("the file upload session expired")
                self._drop_file(session, upload)

    def _discard(self, session: _Session, status: str, notice: str | None = None) -> None:
        session.status = status
        if notice:
            session.notices.append(notice)
        for upload in session.uploads.values():
            if upload.status != "canceled" and status == "canceled":
                upload.status = "canceled"
        if status == "canceled":
            session.files.clear()
        self._by_token.pop(session.token, None)
        if self._reserved_names.get(session.normalized) == session.sid:
            del self._reserved_names[session.normalized]
        for filename in [f for f, sid in self._publishing.items() if sid == session.sid]:
            del self._publishing[filename]
        shutil.rmtree(session.folder, ignore_errors=True)

    def _drop_file(self, session: _Session, upload: _File) -> None:
        if session.files.get(upload.filename) == upload.fid:
            del session.files[upload.filename]
        shutil.rmtree(session.folder / upload.fid, ignore_errors=True)

    def _completed(self, session: _Session) -> list[_staging.StagedFile]:
        staged = [session.uploads[fid].staged for fid in session.files.values()]
        return [s for s in staged if s is not None]

    # -- publishing sessions -------------------------------------------------------

    def _create(self, request: Request) -> Response:
        identity = self._principal(request)
        body = self._json(request)
        name, version = body.get("name"), body.get("version")
        errors = []
        if not isinstance(name, str) or not _NAME_RE.match(name):
            errors.append(("name", f"{name!r} is not a valid project name"))
        if not isinstance(version, str):
            errors.append(("version", f"{version!r} is not a version string"))
        else:
            try:
                parsed = Version(version)
            except InvalidVersion:
                errors.append(("version", f"{version!r} is not a valid version"))
            else:
                if parsed.local:
                    errors.append(("version", f"The use of local versions in {version!r} is not allowed."))
        if errors:
            raise Problem(400, "Invalid publishing session", "; ".join(m for _, m in errors), errors=errors)
        assert isinstance(name, str) and isinstance(version, str)
        self._authorize(identity, name)
        index = self._index
        with index._lock:
            canonical = canonicalize_version(version)
            for session in self._sessions.values():
                self._expire(session)
                if (
                    session.normalized == canonicalize_name(name)
                    and canonicalize_version(session.version) == canonical
                    and session.status not in ("published", "canceled")
                ):
                    raise Problem(
                        409,
                        "Session exists",
                        f"a publishing session for {name} {version} is already {session.status}; use it",
                        headers={"Location": self._session_url(session)},
                    )
            new_project = index._store.project(name) is None
            if new_project:
                holder = self._reserved_names.get(canonicalize_name(name))
                if holder is not None:
                    raise Problem(
                        409,
                        "Name reserved",
                        f"the name {name!r} is reserved by another staged first release",
                    )
                index._new_project(name)  # the name rules (standard library, confusable names)
            sid = secrets.token_urlsafe(18)
            token = secrets.token_urlsafe(32)
            now = self.clock()
            folder = Path(tempfile.mkdtemp(prefix=f"upload2-{sid[:6]}-", dir=index._store.tmp_dir))
            session = _Session(
                sid=sid,
                token=token,
                name=name,
                version=version,
                created=now,
                expires=now + self.session_lifetime,
                folder=folder,
                new_project=new_project,
            )
            self._sessions[sid] = session
            self._by_token[token] = sid
            if new_project:
                self._reserved_names[session.normalized] = sid
        _logger.debug("Upload 2.0 session %s… for %s %s", sid[:6], name, version)
        return self._session_answer(session, 201)

    def _status(self, request: Request, sid: str) -> Response:
        session, _ = self._session(request, sid, mutating=False)
        with self._index._lock:
            if session.status == "processing":
                session.polls_left -= 1
                if session.polls_left <= 0:
                    self._finish_publish(session)
            return self._session_answer(session)

    def _cancel(self, request: Request, sid: str) -> Response:
        session, _ = self._session(request, sid)
        with self._index._lock:
            if session.status == "processing":
                raise Problem(409, "Publishing in progress", "a publish is being processed; wait for it to resolve")
            if session.status == "published":
                raise Problem(409, "Already published", "a published session cannot be canceled")
            if session.status != "canceled":
                self._discard(session, "canceled", "canceled by the client")
        _logger.debug("Upload 2.0 session %s… canceled", sid[:6])
        return Response(204, b"", MEDIA_TYPE)

    def _extend(self, request: Request, sid: str) -> Response:
        session, _ = self._session(request, sid)
        seconds = self._extend_for(self._json(request))
        with self._index._lock:
            if session.status not in _EDITABLE:
                raise Problem(409, "Session closed", f"a {session.status} session cannot be extended")
            limit = session.created + self.max_session_lifetime
            session.expires = max(session.expires, min(self.clock() + seconds, limit))
            for upload in session.uploads.values():
                if upload.status == "pending":
                    upload.expires = max(upload.expires, min(self.clock() + seconds, session.expires))
            return self._session_answer(session)

    @staticmethod
    def _extend_for(body: dict[str, Any]) -> int:
        seconds = body.get("extend-for")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
            raise Problem(400, "Invalid extension", "extend-for must be a number of seconds",
                          errors=[("extend-for", f"{seconds!r} is not a non-negative integer")])
        return seconds

    def _publish(self, request: Request, sid: str) -> Response:
        session, _ = self._session(request, sid)
        self._json(request)
        index = self._index
        with index._lock:
            if session.status == "published":
                return self._session_answer(session, 201)  # a retried publish: same answer
            if session.status == "processing":
                return self._session_answer(session, 202)
            if session.status == "canceled":
                raise Problem(409, "Session canceled", "a canceled session cannot be published")
            waiting = [
                (filename, session.uploads[fid].status)
                for filename, fid in sorted(session.files.items())
                if session.uploads[fid].status != "completed"
            ]
            if waiting:
                raise Problem(
                    409,
                    "Files not completed",
                    "every file must be completed before the session is published",
                    errors=[(filename, f"status is {status}") for filename, status in waiting],
                )
            staged = self._completed(session)
            found = _staging.conflicts(
                index, session.name, session.version, staged, reserved=self._publishing, session_id=sid
            )
            if found:
                raise Problem(
                    409 if any(status == 409 for _, status, _ in found) else 400,
                    "Publish refused",
                    f"{len(found)} file(s) cannot be published; the session is unchanged",
                    errors=[(filename, message) for filename, _, message in found],
                )
            if self.processing_polls > 0:
                for item in staged:
                    self._publishing[item.filename] = sid
                session.status = "processing"
                session.polls_left = self.processing_polls
                return self._session_answer(session, 202)
            self._commit(session, staged)
            return self._session_answer(session, 201)

    def _finish_publish(self, session: _Session) -> None:
        """Resolve a deferred publish (index lock held): published, or error with the reason."""
        index = self._index
        for filename in [f for f, sid in self._publishing.items() if sid == session.sid]:
            del self._publishing[filename]
        staged = self._completed(session)
        found = _staging.conflicts(index, session.name, session.version, staged, reserved=self._publishing,
                                   session_id=session.sid)
        if found:
            session.status = "error"
            session.notices.append(f"publishing failed: {len(found)} file(s) conflict with the index")
            for filename, _, message in found:
                fid = session.files.get(filename)
                if fid is not None:
                    session.uploads[fid].notices.append(message)
            return
        self._commit(session, staged)

    def _commit(self, session: _Session, staged: list[_staging.StagedFile]) -> None:
        try:
            _staging.commit(self._index, session.name, session.version, staged)
        except UploadError as exc:
            if session.status == "processing":
                session.status = "error"
                session.notices.append(f"publishing failed: {exc.message}")
                return
            raise
        self._discard(session, "published")
        _logger.debug("Upload 2.0 session %s… published %d file(s)", session.sid[:6], len(staged))

    # -- file upload sessions --------------------------------------------------------

    def _create_file(self, request: Request, sid: str) -> Response:
        session, _ = self._session(request, sid)
        body = self._json(request)
        filename, size, hashes, mechanism = (body.get(k) for k in ("filename", "size", "hashes", "mechanism"))
        source = filename if isinstance(filename, str) else "filename"
        self._check_filename(session, filename)
        assert isinstance(filename, str)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise Problem(400, "Invalid file upload session", f"size must be the file's size in bytes, not {size!r}",
                          errors=[(source, "invalid size")])
        checked = self._check_hashes(source, hashes)
        if mechanism != MECHANISM:
            raise Problem(422, "Unsupported mechanism", f"this index supports the {MECHANISM} mechanism only",
                          errors=[(source, f"mechanism {mechanism!r} is not supported")])
        index = self._index
        if size > index.max_file_size:
            raise Problem(
                400,
                "File too large",
                f"{filename}: File too large. Limit for project {session.name!r} is "
                f"{index.max_file_size // (1024 * 1024)} MB.",
                errors=[(filename, "size exceeds the file size limit")],
            )
        with index._lock:
            if session.status not in _EDITABLE:
                raise Problem(409, "Session closed", f"files cannot be added to a {session.status} session")
            problem = _staging.name_conflict(
                index, filename, None, reserved=self._publishing, session_id=sid
            )
            if problem is not None:
                raise Problem(409, "File exists", f"{filename} cannot be uploaded to this release",
                              errors=[(filename, problem)])
            previous = session.files.get(filename)
            if previous is not None:
                old = session.uploads[previous]
                if old.status in ("pending", "processing"):
                    raise Problem(409, "Upload in progress",
                                  f"{filename} is still {old.status}; cancel that file upload session first",
                                  errors=[(filename, f"status is {old.status}")])
                old.status = "canceled"
                self._drop_file(session, old)
            fid = secrets.token_urlsafe(18)
            upload = _File(fid=fid, filename=filename, size=size, hashes=checked,
                           expires=min(self.clock() + self.session_lifetime, session.expires))
            session.uploads[fid] = upload
            session.files[filename] = fid
            return self._file_answer(session, upload, 202)

    def _check_filename(self, session: _Session, filename: object) -> None:
        if not isinstance(filename, str) or "/" in filename or "\\" in filename:
            raise Problem(400, "Invalid filename", f"{filename!r} is not a distribution file name",
                          errors=[("filename", "not a file name")])
        filetype = _staging.filetype_of(filename)
        try:
            if filetype == "bdist_wheel":
                name, version, _, _ = parse_wheel_filename(filename)
            elif filetype == "sdist":
                name, version = parse_sdist_filename(filename)
            else:
                raise Problem(
                    400,
                    "Invalid filename",
                    f"{filename}: use the wheel (.whl) or source distribution (.tar.gz) file name convention",
                    errors=[(filename, "unknown file name convention")],
                    kind="invalid-filename",
                )
        except (InvalidWheelFilename, InvalidSdistFilename) as exc:
            raise Problem(400, "Invalid filename", f"{filename}: {exc}", errors=[(filename, str(exc))],
                          kind="invalid-filename") from None
        if name != session.normalized or version != Version(session.version):
            raise Problem(
                400,
                "File does not belong to this session",
                f"{filename} is not a file of {session.name} {session.version}",
                errors=[(filename, f"name/version in the filename: {name} {version}")],
            )

    @staticmethod
    def _check_hashes(source: str, hashes: object) -> dict[str, str]:
        if not isinstance(hashes, dict) or not hashes:
            raise Problem(400, "Invalid hashes", "hashes must map hash names to hex digests",
                          errors=[(source, "no hashes")])
        checked: dict[str, str] = {}
        for algorithm, value in hashes.items():
            try:
                expected_length = hashlib.new(algorithm).digest_size * 2
            except (ValueError, TypeError):
                raise Problem(400, "Invalid hashes", f"{algorithm!r} is not a hash hashlib knows",
                              errors=[(source, f"unknown hash {algorithm!r}")]) from None
            if algorithm.startswith("shake_") or not isinstance(value, str) or len(value) != expected_length \
                    or not all(c in "0123456789abcdefABCDEF" for c in value):
                raise Problem(400, "Invalid hashes", f"{algorithm}: {value!r} is not a hex digest of that hash",
                              errors=[(source, f"invalid {algorithm} digest")])
            checked[algorithm] = value.lower()
        if not set(checked) & _SECURE:
            raise Problem(400, "Invalid hashes", "include at least one secure hash, such as sha256",
                          errors=[(source, "no secure hash")])
        return checked

    def _upload_of(self, session: _Session, fid: str) -> _File:
        upload = session.uploads.get(fid)
        if upload is None or session.status == "canceled":
            raise Problem(404, "Not found", "no such file upload session")
        return upload

    def _file_status(self, request: Request, sid: str, fid: str) -> Response:
        session, _ = self._session(request, sid, mutating=False)
        with self._index._lock:
            upload = self._upload_of(session, fid)
            if upload.status == "processing":
                upload.polls_left -= 1
                if upload.polls_left <= 0:
                    self._finish_file(session, upload)
            return self._file_answer(session, upload)

    def _cancel_file(self, request: Request, sid: str, fid: str) -> Response:
        session, _ = self._session(request, sid)
        with self._index._lock:
            upload = self._upload_of(session, fid)
            if upload.status == "processing" or upload.checking:
                raise Problem(409, "Processing", f"{upload.filename} is being processed; wait for it to resolve",
                              errors=[(upload.filename, "status is processing")])
            if session.status not in _EDITABLE:
                raise Problem(409, "Session closed", f"files of a {session.status} session cannot be changed")
            if upload.status != "canceled":
                upload.status = "canceled"
                self._drop_file(session, upload)
        return Response(204, b"", MEDIA_TYPE)

    def _extend_file(self, request: Request, sid: str, fid: str) -> Response:
        session, _ = self._session(request, sid)
        seconds = self._extend_for(self._json(request))
        with self._index._lock:
            upload = self._upload_of(session, fid)
            if upload.status == "pending":
                upload.expires = max(upload.expires, min(self.clock() + seconds, session.expires))
            return self._file_answer(session, upload)

    def _pending(self, session: _Session, fid: str) -> _File:
        upload = self._upload_of(session, fid)
        if session.status not in _EDITABLE or upload.status != "pending" or upload.checking:
            state = "being completed" if upload.checking else upload.status
            raise Problem(409, "Not accepting data", f"{upload.filename} is {state}, not pending",
                          errors=[(upload.filename, f"status is {state}")])
        return upload

    def _bytes(self, request: Request, sid: str, fid: str) -> Response:
        session, _ = self._session(request, sid)
        with self._index._lock:
            upload = self._pending(session, fid)
        content_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/octet-stream":
            raise Problem(415, "Unsupported media type", "send the file as application/octet-stream",
                          errors=[(upload.filename, f"Content-Type {content_type or 'missing'}")])
        length = request.header("Content-Length")
        if length is not None and length.isdigit() and int(length) > upload.size:
            raise Problem(413, "Too many bytes", f"{upload.filename} was declared as {upload.size} bytes",
                          errors=[(upload.filename, f"{length} bytes sent")])
        received = self._receive(request, session, upload)
        if self.delay:
            time.sleep(self.delay)
        with self._index._lock:
            if upload.status != "pending" or session.status not in _EDITABLE:
                received.path.unlink(missing_ok=True)
                raise Problem(409, "Not accepting data", f"{upload.filename} was {upload.status} meanwhile")
            upload.received = received
        return Response(204, b"", MEDIA_TYPE)

    def _receive(self, request: Request, session: _Session, upload: _File) -> _staging.Received:
        """Stream the body to the file's folder, hashing it; the file replaces an earlier try."""
        assert request.stream is not None
        folder = session.folder / upload.fid
        folder.mkdir(parents=True, exist_ok=True)
        digests = {name: hashlib.new(name) for name in upload.hashes}
        digests.update(sha256=hashlib.sha256(), md5=hashlib.md5(usedforsecurity=False))
        blake = hashlib.blake2b(digest_size=32)
        fd, tmp = tempfile.mkstemp(prefix=".part-", dir=folder)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = request.stream.read(_CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > upload.size:
                        raise Problem(413, "Too many bytes", f"{upload.filename} was declared as {upload.size} bytes",
                                      errors=[(upload.filename, "more bytes than declared")])
                    out.write(chunk)
                    for digest in digests.values():
                        digest.update(chunk)
                    blake.update(chunk)
            if size != upload.size:
                raise Problem(400, "Incomplete file", f"{upload.filename}: got {size} of {upload.size} bytes",
                              errors=[(upload.filename, "fewer bytes than declared")])
            target = folder / upload.filename
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        values = {name: digest.hexdigest() for name, digest in digests.items()}
        values["blake2_256"] = blake.hexdigest()
        return _staging.Received(upload.filename, target, size, values)

    def _attestations(self, request: Request, sid: str, fid: str) -> Response:
        session, identity = self._session(request, sid)
        with self._index._lock:
            upload = self._pending(session, fid)
        if self._index.disallow_pep740:
            raise Problem(404, "Not found", "attestations are disabled on this index")
        content_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            raise Problem(415, "Unsupported media type", "send attestations as application/json",
                          errors=[(upload.filename, f"Content-Type {content_type or 'missing'}")])
        raw = self._read(request, _MAX_ATTESTATIONS)
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            parsed = None
        if not isinstance(parsed, list):
            raise Problem(400, "Invalid attestations", f"{upload.filename}: the body must be a JSON array",
                          errors=[(upload.filename, "not a JSON array of attestation objects")])
        with self._index._lock:
            upload.attestations = raw.decode("utf-8")
            upload.attestation_identity = identity
        return Response(204, b"", MEDIA_TYPE)

    def _complete(self, request: Request, sid: str, fid: str) -> Response:
        session, identity = self._session(request, sid)
        self._json(request)
        with self._index._lock:
            upload = self._upload_of(session, fid)
            if upload.status == "completed":
                return self._file_answer(session, upload, 201)  # a retried completion
            if upload.status == "processing":
                return self._file_answer(session, upload, 202)
            upload = self._pending(session, fid)
            upload.completing_identity = identity
            upload.checking = True
            if self.processing_polls > 0:
                upload.status = "processing"
                upload.polls_left = self.processing_polls
                return self._file_answer(session, upload, 202)
        self._check(session, upload)
        with self._index._lock:
            if upload.status == "error":
                message = upload.notices[-1] if upload.notices else "the file was refused"
                raise Problem(400, "File refused", f"{upload.filename}: {message}",
                              errors=[(upload.filename, message)], headers={"Location": self._file_url(session, upload)})
            return self._file_answer(session, upload, 201)

    def _finish_file(self, session: _Session, upload: _File) -> None:
        self._check(session, upload)

    def _check(self, session: _Session, upload: _File) -> None:
        """Run the index's upload rules on the received file: completed, or error with the reason."""
        received = upload.received
        try:
            if received is None:
                raise UploadError(400, "no bytes were uploaded for this file (POST them to the file_url first)")
            staged = _staging.check_file(
                self._index,
                project_name=session.name,
                version=session.version,
                received=received,
                declared=upload.hashes,
                attestations=upload.attestations,
                identity=upload.attestation_identity,
            )
            with self._index._lock:
                found = _staging.conflicts(self._index, session.name, session.version,
                                           [*(s for s in self._completed(session) if s.filename != upload.filename),
                                            staged])
                mine = [message for filename, _, message in found if filename == upload.filename]
                if mine:
                    raise UploadError(409, mine[0])
        except UploadError as exc:
            with self._index._lock:
                upload.checking = False
                if upload.status in ("pending", "processing"):
                    upload.status = "error"
                    upload.notices.append(exc.message)
            _logger.debug("Upload 2.0 file %s refused: %s", upload.filename, exc.message)
            return
        with self._index._lock:
            upload.checking = False
            if upload.status in ("pending", "processing"):
                upload.staged = staged
                upload.status = "completed"

    # -- stage preview ---------------------------------------------------------------

    def _stage(self, request: Request, token: str, parts: list[str]) -> Response:
        with self._index._lock:
            sid = self._by_token.get(token)
            session = self._sessions.get(sid) if sid else None
            if session is not None:
                self._expire(session)
            if session is None or session.status in ("published", "canceled"):
                return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
            base = f"{self.url}stage/{token}"
            if parts[0] == "files":
                return self._stage_file(session, "/".join(parts[1:]))
            if parts[0] != "simple":
                return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
            records = self._stage_records(session)
            accept = request.header("Accept")
            if parts[1:] in ([], [""]):
                names = {p.name for p in self._index._store.projects.values() if p.releases}
                if records:
                    names.add(self._display_name(session))
                return simple_index(sorted(names), accept=accept)
            name = unquote(parts[1])
            if canonicalize_name(name) != name or len(parts) < 3:
                return Response(301, b"", "text/plain", {"Location": f"{base}/simple/{canonicalize_name(name)}/"})
            store = self._index._store
            project = store.project(name)
            files: list[FileRecord] = store.project_files(project) if project is not None else []
            if canonicalize_name(name) == session.normalized:
                files = files + records
            if project is None and not files:
                return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
            display = project.name if project is not None else session.name
            return simple_page(display, files, base, accept=accept)

    def _display_name(self, session: _Session) -> str:
        project = self._index._store.project(session.name)
        return project.name if project is not None else session.name

    def _stage_records(self, session: _Session) -> list[FileRecord]:
        records = []
        for fid in session.files.values():
            upload = session.uploads[fid]
            if upload.staged is not None and upload.status == "completed":
                relative = f"staged/{fid}/{upload.filename}"
                records.append(_staging.preview_record(upload.staged, session.name, relative))
        return records

    def _stage_file(self, session: _Session, relative: str) -> Response:
        relative = unquote(relative)
        if relative.startswith("staged/"):
            _, fid, filename = [*relative.split("/", 2), "", ""][:3]
            upload = session.uploads.get(fid)
            metadata = filename.endswith(".metadata")
            wanted = filename[: -len(".metadata")] if metadata else filename
            if upload is None or upload.staged is None or upload.status != "completed" or upload.filename != wanted:
                return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
            if metadata:
                if upload.staged.wheel_metadata is None:
                    return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
                return Response(200, upload.staged.wheel_metadata, "text/plain; charset=utf-8")
            return Response(200, b"", "application/octet-stream", file=upload.staged.path.open("rb"))
        path = self._index._store.resolve(relative)
        if path is None or path.name.endswith(".provenance"):
            return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
        content_type = "text/plain; charset=utf-8" if path.name.endswith(".metadata") else "application/octet-stream"
        return Response(200, b"", content_type, file=path.open("rb"))


def _not_allowed(method: str, allow: str) -> Problem:
    return Problem(405, "Method not allowed", f"{method} is not allowed here", headers={"Allow": allow})
