"""A typed client for the Upload 2.0 API (PEP 694): sessions, staged files, atomic publish.

The legacy API makes each file public the moment it lands, so a release that fails
half-way is half-published.  PEP 694 stages every file of a release in a publishing
session, lets it be previewed, and publishes all of it at once (or discards it).
This module speaks that protocol, nothing more: discovery through the root
endpoint's content negotiation and ``meta.api-version``, publishing sessions, file
upload sessions with size and hashes, the ``http-post-bytes`` mechanism (the file
streamed from disk, retried like legacy uploads), PEP 740 attestations, polling where
the index answers ``202``, publish, cancel, extend and status.  Every error answer is
read as RFC 9457 problem details and raised as :class:`Upload2Error` with the
``title``, ``details`` and each ``errors[].message``, naming the file.

Usage::

    client = Upload2Client(transport, "https://upload.example.org/2.0/", authorization)
    if client.discover().supported:
        session = client.create_session("demo", "1.0")
        upload = client.create_file(session, "demo-1.0.tar.gz", size, {"sha256": sha})
        client.upload_bytes(upload, path, size, sha256=sha)
        client.complete_file(upload)
        client.publish(session)          # or client.cancel(session) on any failure

``authorization`` is the full ``Authorization`` header value as a
:class:`~trustpub.secrets.Secret`, or a callable returning the current one (so a
trusted-publishing token re-minted mid-release is used from the next request on:
PEP 694 authorizes every request anew, a session is not bound to one credential).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from trustpub.auth import basic_authorization
from trustpub.errors import TrustpubError
from trustpub.secrets import Secret, redact
from trustpub.text import excerpt
from trustpub.transport import Response, Transport, TransportError, safe_url
from trustpub.upload.engine import RetryPolicy

__all__ = [
    "API_VERSION",
    "MECHANISM",
    "MEDIA_TYPE",
    "Discovery",
    "FileEntry",
    "FileSession",
    "ProblemItem",
    "PublishingSession",
    "SessionGone",
    "Upload2Client",
    "Upload2Error",
    "basic_authorization",
    "problem_error",
]

_logger = logging.getLogger(__name__)

API_VERSION = "2.0"
MEDIA_TYPE = "application/vnd.pypi.upload.v2+json"
MECHANISM = "http-post-bytes"
_ACCEPT = f"{MEDIA_TYPE}, application/problem+json;q=0.9, application/json;q=0.8"
_CHUNK = 1024 * 1024
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ProblemItem:
    """One entry of a problem's ``errors`` member: what it is about, and the message."""

    source: str
    message: str


class Upload2Error(TrustpubError):
    """The index refused an Upload 2.0 request, or it could not be reached.

    Built from the RFC 9457 problem details: ``status``, ``title``, ``details`` and
    ``errors``.  ``filename`` is the file the request was about, if any; ``retryable``
    is true for transport errors, 5xx and 429.  The message never holds credentials.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        title: str = "",
        details: str = "",
        errors: Sequence[ProblemItem] = (),
        filename: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        location: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.title = title
        self.details = details
        self.errors = tuple(errors)
        self.filename = filename
        self.retryable = retryable
        self.retry_after = retry_after
        self.location = location


class SessionGone(Upload2Error):
    """A session (or file upload session) URL answered 404: it no longer exists (PEP 694 retention)."""



def _retry_after(response: Response) -> float | None:
    value = response.header("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _hint(status: int) -> str | None:
    if status == 401:
        return "the index wants credentials: an API token, or trusted publishing from CI"
    if status == 403:
        return "the token is not (or no longer) allowed to upload to this project"
    if status == 409:
        return "the index's state conflicts with this request; see the errors above"
    if status in (406, 415):
        return "the index does not speak this version of the Upload 2.0 API; use the legacy API"
    if status == 400:
        return "run `trustpub check` on the file; the index refused its metadata or contents"
    return None


def problem_error(response: Response, action: str, *, filename: str | None = None) -> Upload2Error:
    """An :class:`Upload2Error` from an error answer: the problem details when there are any.

    Everything the server wrote is shown as a one-line excerpt (control characters
    escaped, secrets redacted): it ends up on a terminal and in CI logs.
    """
    try:
        doc = json.loads(response.data) if response.data else None
    except (ValueError, RecursionError):
        doc = None
    title = details = ""
    items: list[ProblemItem] = []
    if isinstance(doc, dict):
        title = str(doc.get("title") or "")
        details = str(doc.get("details") or doc.get("detail") or "")
        for entry in doc.get("errors") or []:
            if isinstance(entry, dict) and entry.get("message"):
                items.append(ProblemItem(excerpt(redact(str(entry.get("source") or ""))), excerpt(redact(str(entry["message"])))))
    title, details = excerpt(redact(title)), excerpt(redact(details))
    if not title and not details:
        text = response.data.decode("utf-8", "replace").strip()
        details = excerpt(redact(text.splitlines()[0])) if text and not text.startswith("<") else response.reason
    message = f"{action}: HTTP {response.status}" + (f" {title}" if title else "") + (f": {details}" if details else "")
    shown = [item.message if not item.source or item.source == filename else f"{item.source}: {item.message}" for item in items]
    if shown:
        message += " (" + "; ".join(shown) + ")"
    if filename:
        message = f"{filename}: {message}"
    kind = SessionGone if response.status == 404 else Upload2Error
    return kind(
        message,
        hint=_hint(response.status),
        status=response.status,
        title=title,
        details=details,
        errors=items,
        filename=filename,
        retryable=response.status in _RETRY_STATUSES,
        retry_after=_retry_after(response),
        location=response.header("Location"),
    )


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _notices(value: object) -> tuple[str, ...]:
    return tuple(excerpt(str(n)) for n in value) if isinstance(value, list) else ()


@dataclass(frozen=True)
class Discovery:
    """What the root endpoint said: does the index speak Upload 2.0 here, and why (not)."""

    supported: bool
    url: str
    api_version: str | None
    reason: str


@dataclass(frozen=True)
class FileEntry:
    """A file of a publishing session, as the session status lists it."""

    filename: str
    status: str
    link: str
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishingSession:
    """A publishing session document (creation, status, extension and publish answers)."""

    url: str
    upload_url: str
    publish_url: str
    extend_url: str | None
    stage_url: str | None
    session_token: str | None
    status: str
    expires_at: datetime | None
    mechanisms: tuple[str, ...]
    files: Mapping[str, FileEntry] = field(default_factory=dict)
    notices: tuple[str, ...] = ()

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> PublishingSession:
        links = doc.get("links") if isinstance(doc.get("links"), dict) else None
        if links is None or not all(isinstance(links.get(k), str) for k in ("session", "upload", "publish")):
            raise Upload2Error(
                "the index answered a publishing session without its links (session, upload, publish)",
                hint="the root endpoint may not be a PEP 694 index; use the legacy upload API",
            )
        files: dict[str, FileEntry] = {}
        raw_files = doc.get("files")
        for filename, entry in (raw_files.items() if isinstance(raw_files, dict) else []):
            if isinstance(entry, dict):
                files[str(filename)] = FileEntry(
                    str(filename), str(entry.get("status", "")), str(entry.get("link", "")), _notices(entry.get("notices"))
                )
        mechanisms = doc.get("mechanisms")
        token = doc.get("session-token")
        return cls(
            url=links["session"],
            upload_url=links["upload"],
            publish_url=links["publish"],
            extend_url=links.get("extend") if isinstance(links.get("extend"), str) else None,
            stage_url=links.get("stage") if isinstance(links.get("stage"), str) else None,
            session_token=token if isinstance(token, str) else None,
            status=str(doc.get("status", "")),
            expires_at=_timestamp(doc.get("expires-at")),
            mechanisms=tuple(str(m) for m in mechanisms) if isinstance(mechanisms, list) else (),
            files=files,
            notices=_notices(doc.get("notices")),
        )


@dataclass(frozen=True)
class FileSession:
    """A file upload session document."""

    filename: str
    url: str
    complete_url: str
    extend_url: str | None
    status: str
    expires_at: datetime | None
    mechanism: str
    file_url: str | None
    attestations_url: str | None
    notices: tuple[str, ...] = ()
    retry_after: float | None = None

    @classmethod
    def from_document(cls, filename: str, doc: Mapping[str, Any], retry_after: float | None = None) -> FileSession:
        links = doc.get("links") if isinstance(doc.get("links"), dict) else None
        mechanism = doc.get("mechanism") if isinstance(doc.get("mechanism"), dict) else {}
        if links is None or not isinstance(links.get("file-upload-session"), str) or not isinstance(links.get("complete"), str):
            raise Upload2Error(f"{filename}: the index answered a file upload session without its links")
        assert isinstance(mechanism, dict)
        return cls(
            filename=filename,
            url=links["file-upload-session"],
            complete_url=links["complete"],
            extend_url=links.get("extend") if isinstance(links.get("extend"), str) else None,
            status=str(doc.get("status", "")),
            expires_at=_timestamp(doc.get("expires-at")),
            mechanism=str(mechanism.get("identifier", "")),
            file_url=mechanism.get("file_url") if isinstance(mechanism.get("file_url"), str) else None,
            attestations_url=(
                mechanism.get("attestations_url") if isinstance(mechanism.get("attestations_url"), str) else None
            ),
            notices=_notices(doc.get("notices")),
            retry_after=retry_after,
        )


Authorization = Secret | Callable[[], Secret]


class Upload2Client:
    """The PEP 694 protocol over one :class:`~trustpub.transport.Transport`.

    Thread-safe (the transport's pool is): files may be uploaded in parallel.
    ``retry`` applies to transport errors, 5xx and 429 on every request (the
    protocol's requests are safe to repeat: the index answers a repeated completion or
    publish as the first, and a repeated session creation with the session's URL);
    ``poll_timeout`` bounds how long a ``202`` is polled.
    """

    def __init__(
        self,
        transport: Transport,
        root_url: str,
        authorization: Authorization,
        *,
        retry: RetryPolicy | None = None,
        poll_timeout: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float | None = None,
    ) -> None:
        self.transport = transport
        self.root_url = root_url if root_url.endswith("/") else root_url + "/"
        self._authorization = authorization
        self.retry = retry if retry is not None else RetryPolicy()
        self.poll_timeout = poll_timeout
        self._sleep = sleep
        self.timeout = timeout

    # -- plumbing -------------------------------------------------------------------

    def _auth(self) -> Secret:
        value = self._authorization
        return value if isinstance(value, Secret) else value()

    def _request(
        self,
        method: str,
        url: str,
        action: str,
        *,
        payload: Mapping[str, Any] | None = None,
        filename: str | None = None,
        ok: Sequence[int] = (200, 201, 202, 204),
        body: Callable[[], Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """One protocol request, retried on transport errors, 5xx and 429; errors raised as problems."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            send = {"Accept": _ACCEPT, **dict(headers or {})}
            data: Any = None
            if payload is not None:
                send["Content-Type"] = MEDIA_TYPE
                data = json.dumps({"meta": {"api-version": API_VERSION}, **payload}).encode()
            elif body is not None:
                data = body()
            try:
                response = self.transport.request(
                    method, url, headers=send, authorization=self._auth(), body=data,
                    timeout=self.timeout, max_redirects=0,
                )
            except TransportError as exc:
                cause: BaseException | None = exc
                while cause is not None and not isinstance(cause, Upload2Error):
                    cause = cause.__context__
                if isinstance(cause, Upload2Error):
                    raise cause from None  # the file changed while it streamed: never retried
                error = Upload2Error(
                    f"{filename + ': ' if filename else ''}{action}: {redact(exc.message)}",
                    hint=exc.hint, filename=filename, retryable=True,
                )
            else:
                if response.status in ok:
                    return response
                error = problem_error(response, action, filename=filename)
            elapsed = time.monotonic() - started
            if not error.retryable or attempt >= self.retry.attempts or elapsed >= self.retry.total:
                raise error
            pause = self.retry.delay(attempt, error.retry_after)
            _logger.info("%s failed (%s); retrying in %.1f s", action, error.message, pause)
            self._sleep(pause)

    def _document(self, response: Response, action: str, filename: str | None = None) -> dict[str, Any]:
        """The JSON body of a success answer, with its media type and API version checked."""
        content_type = (response.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type not in (MEDIA_TYPE, "application/json", "application/vnd.pypi.upload.latest+json"):
            raise Upload2Error(
                f"{action}: {safe_url(response.url)} answered {content_type or 'no content type'}, not {MEDIA_TYPE}",
                hint="the URL is not an Upload 2.0 endpoint; use the legacy upload API", filename=filename,
            )
        try:
            doc = json.loads(response.data)
        except (ValueError, RecursionError):
            doc = None
        if not isinstance(doc, dict):
            raise Upload2Error(f"{action}: the index answered a body that is not a JSON object", filename=filename)
        version = doc.get("meta", {}).get("api-version") if isinstance(doc.get("meta"), dict) else None
        if not isinstance(version, str) or version.split(".")[0] != "2":
            raise Upload2Error(
                f"{action}: the index answered API version {version!r}; trustpub speaks {API_VERSION}",
                hint="use the legacy upload API with this index", filename=filename,
            )
        return doc

    # -- discovery ----------------------------------------------------------------

    def discover(self) -> Discovery:
        """Ask the root endpoint (no credentials) whether it speaks Upload 2.0.

        Content negotiation: the answer must be the v2 media type with a 2.x
        ``meta.api-version``.  A 404, 406 or anything else means "use the legacy API";
        a 405 means a root that only takes ``POST``, which the first request settles.
        """
        url = self.root_url
        try:
            response = self.transport.request("GET", url, headers={"Accept": MEDIA_TYPE}, timeout=self.timeout,
                                              max_redirects=0)
        except TransportError as exc:
            return Discovery(False, url, None, f"the root endpoint could not be reached: {exc.message}")
        if response.status == 405:
            return Discovery(True, url, None, "the root endpoint takes POST only")
        if response.status != 200:
            return Discovery(False, url, None, f"the root endpoint answered HTTP {response.status}")
        try:
            doc = self._document(response, "discovery")
        except Upload2Error as exc:
            return Discovery(False, url, None, exc.message)
        version = str(doc["meta"]["api-version"])
        return Discovery(True, url, version, f"the index speaks Upload API {version}")

    # -- publishing sessions --------------------------------------------------------

    def create_session(self, name: str, version: str) -> PublishingSession:
        """Create the session for ``name`` ``version``, or join the one already open (409 + Location)."""
        response = self._request("POST", self.root_url, f"creating a publishing session for {name} {version}",
                                 payload={"name": name, "version": version}, ok=(201, 409))
        if response.status == 409:
            location = response.header("Location")
            if not location:
                raise problem_error(response, f"creating a publishing session for {name} {version}")
            _logger.info("a session for %s %s is already open; joining it", name, version)
            return self.status(location)
        return PublishingSession.from_document(self._document(response, "creating a publishing session"))

    def status(self, session_url: str) -> PublishingSession:
        """The session's current status (:class:`SessionGone` once it no longer exists)."""
        response = self._request("GET", session_url, "reading the session status", ok=(200,))
        return PublishingSession.from_document(self._document(response, "reading the session status"))

    def extend(self, session: PublishingSession, seconds: int) -> PublishingSession:
        """Ask for ``seconds`` more; the answer's ``expires_at`` is what the index granted."""
        if session.extend_url is None:
            raise Upload2Error("the index does not extend sessions", hint="publish before the session expires")
        response = self._request("POST", session.extend_url, "extending the session", payload={"extend-for": seconds},
                                 ok=(200,))
        return PublishingSession.from_document(self._document(response, "extending the session"))

    def cancel(self, session: PublishingSession | str) -> None:
        """Discard the stage: nothing of it becomes public.  An already gone session is fine."""
        url = session if isinstance(session, str) else session.url
        try:
            self._request("DELETE", url, "canceling the session", ok=(200, 204))
        except SessionGone:
            return

    def publish(self, session: PublishingSession) -> PublishingSession:
        """Publish every file of the session at once; poll when the index answers 202."""
        response = self._request("POST", session.publish_url, "publishing the session", payload={}, ok=(200, 201, 202))
        state = PublishingSession.from_document(self._document(response, "publishing the session"))
        deadline = time.monotonic() + self.poll_timeout
        wait = _retry_after(response)
        while state.status == "processing":
            if time.monotonic() >= deadline:
                raise Upload2Error(
                    f"the index was still processing the publish after {self.poll_timeout:g} s",
                    hint="run `trustpub publish --session ID` later to see how it ended",
                )
            self._sleep(min(max(wait if wait is not None else 1.0, 0.05), 30.0))
            response = self._request("GET", state.url, "reading the session status", ok=(200,))
            wait = _retry_after(response)
            state = PublishingSession.from_document(self._document(response, "reading the session status"))
        if state.status != "published":
            reasons = list(state.notices) + [
                f"{entry.filename}: {notice}" for entry in state.files.values() for notice in entry.notices
            ]
            raise Upload2Error(
                f"publishing the session failed (status {state.status})"
                + (": " + "; ".join(reasons) if reasons else ""),
                hint="fix or delete the named files and publish again, or cancel the session",
            )
        return state

    # -- file upload sessions -------------------------------------------------------

    def create_file(
        self, session: PublishingSession, filename: str, size: int, hashes: Mapping[str, str]
    ) -> FileSession:
        """Start the upload of ``filename``; an upload of it already pending in the session is resumed."""
        action = "starting the file upload"
        payload = {"filename": filename, "size": size, "hashes": dict(hashes), "mechanism": MECHANISM}
        try:
            response = self._request("POST", session.upload_url, action, payload=payload, filename=filename,
                                     ok=(200, 201, 202))
        except Upload2Error as exc:
            if exc.status != 409:
                raise
            entry = self.status(session.url).files.get(filename)
            if entry is None or entry.status != "pending" or not entry.link:
                raise
            _logger.info("%s: resuming the pending file upload session", filename)
            return self.file_status(filename, entry.link)
        return FileSession.from_document(filename, self._document(response, action, filename), _retry_after(response))

    def file_status(self, filename: str, url: str) -> FileSession:
        response = self._request("GET", url, "reading the file upload status", filename=filename, ok=(200,))
        doc = self._document(response, "reading the file upload status", filename)
        return FileSession.from_document(filename, doc, _retry_after(response))

    def extend_file(self, upload: FileSession, seconds: int) -> FileSession:
        if upload.extend_url is None:
            raise Upload2Error(f"{upload.filename}: the index does not extend file upload sessions")
        response = self._request("POST", upload.extend_url, "extending the file upload", filename=upload.filename,
                                 payload={"extend-for": seconds}, ok=(200,))
        return FileSession.from_document(upload.filename, self._document(response, "extending", upload.filename))

    def cancel_file(self, upload: FileSession) -> None:
        """Cancel (or delete) the file; an already gone file upload session is fine."""
        try:
            self._request("DELETE", upload.url, "canceling the file upload", filename=upload.filename, ok=(200, 204))
        except SessionGone:
            return

    def upload_bytes(
        self,
        upload: FileSession,
        path: Path,
        size: int,
        *,
        sha256: str | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        """``http-post-bytes``: stream the file, retried like a legacy upload.

        With ``sha256`` the bytes are hashed as they go and the last chunk is held
        back when they differ (the file changed after it was checked): the index then
        sees a short body and keeps nothing.
        """
        if upload.mechanism != MECHANISM or upload.file_url is None:
            raise Upload2Error(f"{upload.filename}: the index offered the {upload.mechanism!r} mechanism, not {MECHANISM}")

        def stream() -> Iterator[bytes]:
            digest = hashlib.sha256()
            with open(path, "rb") as fp:
                pending = fp.read(_CHUNK)
                while pending:
                    following = fp.read(_CHUNK)
                    digest.update(pending)
                    if not following and sha256 is not None and digest.hexdigest() != sha256:
                        raise Upload2Error(
                            f"{upload.filename} changed on disk after it was checked; the upload was aborted",
                            hint="rebuild and re-run; never modify dist/ while a release is running",
                            filename=upload.filename,
                        )
                    yield pending
                    if on_bytes is not None:
                        on_bytes(len(pending))
                    pending = following

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        self._request("POST", upload.file_url, "uploading the file", filename=upload.filename, body=stream,
                      headers=headers, ok=(200, 201, 202, 204))

    def upload_attestations(self, upload: FileSession, attestations: Sequence[str]) -> None:
        """Send the file's PEP 740 attestations (each one JSON text, as written on disk)."""
        if upload.attestations_url is None:
            raise Upload2Error(f"{upload.filename}: the index takes no attestations in Upload 2.0 sessions",
                               hint="publish without attestations (--no-attestations) or with the legacy API")
        try:
            documents = [json.loads(text) for text in attestations]
        except ValueError as exc:
            raise Upload2Error(f"{upload.filename}: an attestation is not JSON ({exc})") from None
        body = json.dumps(documents).encode()
        self._request("POST", upload.attestations_url, "uploading the attestations", filename=upload.filename,
                      body=lambda: body, headers={"Content-Type": "application/json"}, ok=(200, 201, 202, 204))

    def complete_file(self, upload: FileSession) -> FileSession:
        """Complete the file upload; poll while the index processes it.  A refused file raises."""
        action = "completing the file upload"
        response = self._request("POST", upload.complete_url, action, filename=upload.filename, payload={},
                                 ok=(200, 201, 202))
        state = FileSession.from_document(upload.filename, self._document(response, action, upload.filename),
                                          _retry_after(response))
        deadline = time.monotonic() + self.poll_timeout
        while state.status == "processing":
            if time.monotonic() >= deadline:
                raise Upload2Error(f"{upload.filename}: still processing after {self.poll_timeout:g} s",
                                   filename=upload.filename)
            wait = state.retry_after if state.retry_after is not None else 1.0
            self._sleep(min(max(wait, 0.05), 30.0))
            state = self.file_status(upload.filename, state.url)
        if state.status != "completed":
            reasons = "; ".join(state.notices) or f"status {state.status}"
            raise Upload2Error(f"{upload.filename}: the index refused the file: {reasons}",
                               hint=_hint(400), filename=upload.filename)
        return state
