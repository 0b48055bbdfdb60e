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

import logging
import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from packaging.utils import (
    canonicalize_name,
    canonicalize_version,
)
from packaging.version import InvalidVersion, Version

from trustpub.local import _staging
from trustpub.local._http import HTTPError, LocalServer, Request, Response
from trustpub.local._problems import MEDIA_TYPE, OFFERS, Problem, document
from trustpub.local._responses import UploadError, acceptable_offers
from trustpub.local._upload2_core import Upload2Core
from trustpub.local._upload2_files import FileSessions
from trustpub.local._upload2_model import (
    ACTIONS,
    EDITABLE,
    MECHANISM,
    NAME_RE,
    ROOT,
    PublishingSession,
    not_allowed,
)
from trustpub.local._upload2_stage import StagePreview

if TYPE_CHECKING:
    pass

__all__ = ["ACTIONS", "MECHANISM", "ROOT", "Upload2", "Upload2Core"]

_logger = logging.getLogger(__name__)


class Upload2(FileSessions, StagePreview):
    """The PEP 694 endpoints of one :class:`~trustpub.local.index.LocalIndex`.

    The endpoint groups live in their own modules (session state and request
    plumbing in :mod:`._upload2_core`, file upload sessions in :mod:`._upload2_files`,
    the stage preview in :mod:`._upload2_stage`); this class dispatches to them and
    handles publishing sessions.
    """

    def register(self, server: LocalServer) -> None:
        """Serve every URL under :data:`ROOT` (this module dispatches, so every error is a problem)."""
        for method in ("GET", "POST", "DELETE", "PUT", "PATCH"):
            server.route(method, ROOT, self.handle, prefix=True, stream=method == "POST")

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
        parts = request.path[len(ROOT) :].split("/")
        method = "GET" if request.method == "HEAD" else request.method
        if parts[0] == "stage" and len(parts) >= 3:
            if method != "GET":
                raise Problem(
                    405,
                    "Method not allowed",
                    "the stage preview is read-only",
                    headers={"Allow": "GET"},
                )
            return self._stage(request, unquote(parts[1]), parts[2:])
        self._negotiate(request)
        if parts == [""]:
            if method == "GET":
                return document({"mechanisms": [MECHANISM]}, headers={"Vary": "Accept"})
            if method == "POST":
                return self._guarded("create", request, self._create)
            raise not_allowed(method, "GET, POST")
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
                raise not_allowed(method, ", ".join(methods))
            action, handler = methods[method]
            return self._guarded(action, request, lambda r: handler(r, sid, fid))
        methods = routes.get(tuple(rest))
        if methods is None:
            raise Problem(404, "Not found", f"no Upload 2.0 resource at {request.path}")
        if method not in methods:
            raise not_allowed(method, ", ".join(methods))
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

    # -- publishing sessions -------------------------------------------------------

    def _create(self, request: Request) -> Response:
        identity = self._principal(request)
        body = self._json(request)
        name, version = body.get("name"), body.get("version")
        errors = []
        if not isinstance(name, str) or not NAME_RE.match(name):
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
                    errors.append(
                        ("version", f"The use of local versions in {version!r} is not allowed.")
                    )
        if errors:
            raise Problem(
                400, "Invalid publishing session", "; ".join(m for _, m in errors), errors=errors
            )
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
            session = PublishingSession(
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
                raise Problem(
                    409,
                    "Publishing in progress",
                    "a publish is being processed; wait for it to resolve",
                )
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
            if session.status not in EDITABLE:
                raise Problem(
                    409, "Session closed", f"a {session.status} session cannot be extended"
                )
            limit = session.created + self.max_session_lifetime
            session.expires = max(session.expires, min(self.clock() + seconds, limit))
            for upload in session.uploads.values():
                if upload.status == "pending":
                    upload.expires = max(
                        upload.expires, min(self.clock() + seconds, session.expires)
                    )
            return self._session_answer(session)

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
            found = self._conflicts(session, staged)
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

    def _finish_publish(self, session: PublishingSession) -> None:
        """Resolve a deferred publish (index lock held): published, or error with the reason."""
        for filename in [f for f, sid in self._publishing.items() if sid == session.sid]:
            del self._publishing[filename]
        staged = self._completed(session)
        found = self._conflicts(session, staged)
        if found:
            session.status = "error"
            session.notices.append(
                f"publishing failed: {len(found)} file(s) conflict with the index"
            )
            for filename, _, message in found:
                fid = session.files.get(filename)
                if fid is not None:
                    session.uploads[fid].notices.append(message)
            return
        self._commit(session, staged)

    def _conflicts(
        self, session: PublishingSession, staged: list[_staging.StagedFile]
    ) -> list[tuple[str, int, str]]:
        """What stops ``staged`` from being published now (index lock held)."""
        return _staging.conflicts(
            self._index,
            session.name,
            session.version,
            staged,
            reserved=self._publishing,
            session_id=session.sid,
        )

    def _commit(self, session: PublishingSession, staged: list[_staging.StagedFile]) -> None:
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
