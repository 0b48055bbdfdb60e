"""What every Upload 2.0 handler of the local index shares: sessions, faults, requests.

:class:`Upload2Core` holds the in-memory sessions and the fault knobs, reads and
authorizes session requests, renders session and file documents and expires
sessions; the endpoint groups (:mod:`._upload2`, :mod:`._upload2_files`,
:mod:`._upload2_stage`) build on it.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from typing import TYPE_CHECKING, Any

from packaging.utils import (
    canonicalize_name,
)

from trustpub.local import _staging
from trustpub.local._http import AbortConnection, Request, Response
from trustpub.local._problems import MEDIA_TYPE, Problem, document
from trustpub.local._responses import UploadError
from trustpub.local._storage import ProjectRecord
from trustpub.local._upload2_model import (
    ACTIONS,
    EDITABLE,
    MAX_JSON,
    MECHANISM,
    ROOT,
    WWW_AUTHENTICATE,
    FileUpload,
    PublishingSession,
    api_version_ok,
    rfc3339,
)
from trustpub.local._upload_auth import check_permission

if TYPE_CHECKING:
    from trustpub.local._upload_auth import Identity
    from trustpub.local.index import LocalIndex

_logger = logging.getLogger(__name__)


class Upload2Core:
    """The state and request plumbing of the Upload 2.0 API of one index."""

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
        self._sessions: dict[str, PublishingSession] = {}
        self._by_token: dict[str, str] = {}
        self._reserved_names: dict[str, str] = {}  # normalized name -> sid
        self._publishing: dict[str, str] = {}  # filename -> sid holding it during a publish
        self._faults: dict[str, list[tuple[int | None, int | None]]] = {}
        self._faults_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The root endpoint URL."""
        return self._index.url + ROOT

    def fail_next(
        self, n: int, status: int = 503, *, action: str = "bytes", retry_after: int | None = None
    ) -> None:
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
        return Problem(
            status,
            "Fault injected",
            f"the local index was told to fail this {action} request",
            headers=headers,
        ).response()

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

    # -- requests ---------------------------------------------------------------------

    @staticmethod
    def _read(request: Request, limit: int) -> bytes:
        stream = request.stream
        if stream is None:
            return request.body
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise Problem(
                413, "Request too large", f"a request body may hold at most {limit} bytes"
            )
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
        raw = self._read(request, MAX_JSON)
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = None
        if not isinstance(body, dict):
            raise Problem(
                400,
                "Invalid request",
                "the request body must be a JSON object",
                errors=[("body", "not a JSON object")],
            )
        meta = body.get("meta")
        version = meta.get("api-version") if isinstance(meta, dict) else None
        if not api_version_ok(version):
            raise Problem(
                400,
                "Unsupported API version",
                f"meta.api-version must be a 2.x version matching {MEDIA_TYPE}, not {version!r}",
                errors=[("meta.api-version", "expected '2.0'")],
            )
        return body

    def _principal(self, request: Request) -> Identity:
        try:
            identity = self._index._identity(request.header("Authorization"))
        except UploadError as exc:
            raise Problem(
                401, "Unauthorized", exc.message, headers={"WWW-Authenticate": WWW_AUTHENTICATE}
            ) from None
        if identity is None:
            raise Problem(
                401,
                "Unauthorized",
                "Invalid or non-existent authentication information: send an API token or a trusted-publishing token.",
                headers={"WWW-Authenticate": WWW_AUTHENTICATE},
            )
        return identity

    def _authorize(self, identity: Identity, name: str, *, mutating: bool = True) -> None:
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
            check_permission(identity, project)
        except UploadError as exc:
            raise Problem(
                403, "Forbidden", exc.message, errors=[("Authorization", exc.message)]
            ) from None

    def _session(
        self, request: Request, sid: str, *, mutating: bool = True
    ) -> tuple[PublishingSession, Identity]:
        identity = self._principal(request)
        with self._index._lock:
            session = self._sessions.get(sid)
            if session is not None:
                self._expire(session)
        if session is None:
            raise Problem(404, "Not found", "no such publishing session (it may have expired)")
        self._authorize(identity, session.name, mutating=mutating)
        return session, identity

    @staticmethod
    def _extend_for(body: dict[str, Any]) -> int:
        seconds = body.get("extend-for")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
            raise Problem(
                400,
                "Invalid extension",
                "extend-for must be a number of seconds",
                errors=[("extend-for", f"{seconds!r} is not a non-negative integer")],
            )
        return seconds

    # -- documents -----------------------------------------------------------------

    def _session_url(self, session: PublishingSession) -> str:
        return f"{self.url}sessions/{session.sid}"

    def _file_url(self, session: PublishingSession, upload: FileUpload) -> str:
        return f"{self._session_url(session)}/files/{upload.fid}"

    def stage_url(self, session: PublishingSession) -> str:
        """The stage's simple index (for ``pip --index-url``): computed from the session token."""
        return f"{self.url}stage/{session.token}/simple/"

    def _session_doc(self, session: PublishingSession) -> dict[str, Any]:
        base = self._session_url(session)
        files: dict[str, Any] = {}
        for filename, fid in sorted(session.files.items()):
            upload = session.uploads[fid]
            files[filename] = {
                "status": upload.status,
                "link": self._file_url(session, upload),
                "notices": list(upload.notices),
            }
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
            "expires-at": rfc3339(session.expires),
            "status": session.status,
            "files": files,
            "notices": list(session.notices),
        }

    def _file_doc(self, session: PublishingSession, upload: FileUpload) -> dict[str, Any]:
        base = self._file_url(session, upload)
        mechanism: dict[str, str] = {"identifier": MECHANISM, "file_url": base + "/content"}
        if not self._index.disallow_pep740:
            mechanism["attestations_url"] = base + "/attestations"
        return {
            "links": {
                "file-upload-session": base,
                "complete": base + "/complete",
                "extend": base + "/extend",
            },
            "status": upload.status,
            "expires-at": rfc3339(upload.expires),
            "mechanism": mechanism,
            "notices": list(upload.notices),
        }

    def _session_answer(self, session: PublishingSession, status: int = 200) -> Response:
        headers = {"Location": self._session_url(session)}
        if session.status == "processing":
            headers["Retry-After"] = str(self.retry_after)
        return document(self._session_doc(session), status, headers)

    def _file_answer(
        self, session: PublishingSession, upload: FileUpload, status: int = 200
    ) -> Response:
        headers = {
            "Location": self._file_url(session, upload),
            "Retry-After": str(self.retry_after),
        }
        return document(self._file_doc(session, upload), status, headers)

    # -- state ---------------------------------------------------------------------

    def _expire(self, session: PublishingSession) -> None:
        """Cancel a session whose time is up (index lock held)."""
        now = self.clock()
        if session.status in EDITABLE and now >= session.expires:
            self._discard(session, "canceled", "the session expired before it was published")
            return
        for fid in list(session.files.values()):
            upload = session.uploads[fid]
            if upload.status == "pending" and now >= upload.expires:
                upload.status = "canceled"
                upload.notices.append("the file upload session expired")
                self._drop_file(session, upload)

    def _discard(self, session: PublishingSession, status: str, notice: str | None = None) -> None:
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

    def _drop_file(self, session: PublishingSession, upload: FileUpload) -> None:
        if session.files.get(upload.filename) == upload.fid:
            del session.files[upload.filename]
        shutil.rmtree(session.folder / upload.fid, ignore_errors=True)

    def _completed(self, session: PublishingSession) -> list[_staging.StagedFile]:
        staged = [session.uploads[fid].staged for fid in session.files.values()]
        return [s for s in staged if s is not None]
