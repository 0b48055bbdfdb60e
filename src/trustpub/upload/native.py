"""The native uploader: one streamed multipart POST per file, re-hashed on the way out.

The body is produced lazily: the text fields first, then the file in 1 MiB reads,
then the closing boundary, with ``Content-Length`` computed up front (PyPI and the
servers in front of it want a length, not chunked encoding). Memory stays flat for any
file size. While the file streams it is hashed again; the last chunk is held back
until the digest is known, and if the bytes on disk are no longer the ones that were
checked and attested the generator raises before that chunk is sent, so the server
sees a truncated body and stores nothing.

Writes are few and large: the form fields travel with the first file chunk and the
closing boundary with the last, so a small file is one ``sendall`` after the headers
(not three small ones), and a large one is 1 MiB writes. Bytes are reported to an
optional ``progress`` callback as each chunk has gone to the socket.

    >>> uploader = NativeUploader(transport)                      # doctest: +SKIP
    >>> uploader.upload(UploadRequest(path, ..., upload_url=...))  # doctest: +SKIP
    UploadResult(filename='demo-1.0-py3-none-any.whl', outcome='uploaded', status=200)
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets as _random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from trustpub.dists import Distribution
from trustpub.errors import TrustpubError
from trustpub.secrets import Secret, redact
from trustpub.transport import Response, Transport, TransportError
from trustpub.upload._types import UploadRejected, UploadRequest, UploadResult
from trustpub.upload.form import form_fields

__all__ = ["ByteProgress", "FileChanged", "MultipartBody", "NativeUploader", "error_message"]

_logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# Chunks smaller than this carry the form head or the closing boundary in the same write.
_JOIN_BELOW = 256 * 1024

#: ``progress(filename, nbytes)``: ``nbytes`` more bytes of ``filename`` went to the socket.
ByteProgress = Callable[[str, int], None]


class FileChanged(TrustpubError):
    """The file on disk is not the one that was checked and attested; nothing was stored."""


@dataclass(frozen=True)
class MultipartBody:
    """A multipart/form-data body whose file part is streamed from disk.

    ``on_bytes``, when set, is called with the number of file bytes each time a chunk
    has been handed on (that is, when the consumer asks for the next one), so a
    progress bar never runs ahead of the socket; the form fields and boundaries are
    not counted, so the per-file total is exactly ``size``.
    """

    boundary: str
    head: bytes
    tail: bytes
    path: Path
    size: int
    sha256: str
    on_bytes: Callable[[int], None] | None = None

    @classmethod
    def build(
        cls,
        fields: Sequence[tuple[str, str]],
        path: Path,
        filename: str,
        size: int,
        sha256: str,
        *,
        on_bytes: Callable[[int], None] | None = None,
    ) -> MultipartBody:
        boundary = "trustpub-" + _random.token_hex(16)
        parts: list[bytes] = []
        for name, value in fields:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
                + value.encode("utf-8")
                + b"\r\n"
            )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{_quote(filename)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        return cls(boundary, b"".join(parts), f"\r\n--{boundary}--\r\n".encode(), path, size, sha256, on_bytes)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def length(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        """Yield the body; raise :class:`FileChanged` before the last file byte if it changed.

        The head rides with the first chunk and the tail with the last one when that
        chunk is small, so a small file is one write; large chunks are never copied
        just to glue a few hundred bytes to them.
        """
        digest = hashlib.sha256()
        sent = 0
        report = self.on_bytes
        prefix = self.head  # not sent yet
        with open(self.path, "rb") as fp:
            pending = fp.read(CHUNK)
            while pending:
                following = fp.read(CHUNK)
                digest.update(pending)
                sent += len(pending)
                last = not following
                # When ``pending`` is the last chunk, decide before it leaves.
                if last and (sent != self.size or digest.hexdigest() != self.sha256):
                    raise FileChanged(
                        f"{self.path.name} changed on disk after it was checked "
                        f"(now {sent} bytes, sha256 {digest.hexdigest()[:16]}…; expected {self.size} bytes, "
                        f"sha256 {self.sha256[:16]}…); the upload was aborted before completing",
                        hint="rebuild and re-run; never modify dist/ while a release is running",
                    )
                count = len(pending)
                small = count < _JOIN_BELOW
                if prefix:
                    if small:
                        pending = prefix + pending
                    else:
                        yield prefix
                    prefix = b""
                if last and small:
                    yield pending + self.tail
                else:
                    yield pending
                    if last:
                        yield self.tail
                if report is not None:
                    report(count)
                pending = following
        if sent != self.size:
            raise FileChanged(f"{self.path.name} changed on disk after it was checked (it is now empty)")
        if prefix:  # an empty file: nothing above was sent
            yield prefix + self.tail


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


def error_message(response: Response) -> str:
    """The index's reason, from JSON (PyPI with Accept: application/json), the reason phrase, or the body."""
    data = response.data
    if data:
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            code = doc.get("code")
            if isinstance(code, str) and code.strip():
                return code.split(" ", 1)[1] if code[:3].isdigit() and " " in code else code
            message = doc.get("message")
            if isinstance(message, str) and message.strip():
                return " ".join(message.split())
    if response.reason and response.reason.upper() not in ("BAD REQUEST", "FORBIDDEN", "OK", "CONFLICT"):
        return response.reason
    text = data.decode("utf-8", "replace").strip() if data else ""
    if text and not text.lstrip().startswith("<"):
        return " ".join(text.splitlines()[0].split())[:300]
    return response.reason or f"HTTP {response.status}"


def _hint(status: int, message: str) -> str | None:
    lowered = message.lower()
    if status in (301, 302, 307, 308, 405):
        return "the URL is not a legacy upload endpoint; for PyPI-like indexes it ends in /legacy/"
    if status == 403 or status == 401:
        if "expired" in lowered:
            return "the token expired; trusted-publishing tokens last 15 minutes (trustpub re-mints them)"
        return "the token or password is wrong, or not scoped to this project"
    if "file too large" in lowered or "project size too large" in lowered or status == 413:
        return "ask for a larger limit: https://github.com/pypi/support/issues/new?template=limit-request-file.yml"
    if "already exists" in lowered or status == 409:
        return "a different file with this name is on the index; bump the version (names can never be reused)"
    if status == 400:
        return "run `trustpub check` on the file; the index refused its metadata or contents"
    return None


class NativeUploader:
    """Uploads with trustpub's own HTTP client (streaming, connection reuse, re-hash).

    Thread-safe: the transport's connection pool is shared by parallel uploads.
    ``progress(filename, nbytes)`` is told about file bytes as they go out (from the
    uploading thread), for progress bars; see :mod:`trustpub.upload.progress`.
    """

    #: The engine may pass the already inspected ``dist`` and a per-file ``on_bytes``
    #: to :meth:`upload`, which saves re-reading every archive for its metadata.
    accepts_distribution = True

    def __init__(self, transport: Transport, *, timeout: float = 300.0, progress: ByteProgress | None = None) -> None:
        self.transport = transport
        self.timeout = timeout
        self.progress = progress

    def upload(
        self,
        request: UploadRequest,
        *,
        dist: Distribution | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> UploadResult:
        if dist is None:
            from trustpub.dists import Hashes, inspect

            dist = inspect(request.path, hashes=Hashes(request.sha256, request.blake2_256, request.size))
        attestations = [p.read_text() for p in request.attestations]
        body = MultipartBody.build(
            form_fields(dist, attestations=attestations),
            request.path,
            request.filename,
            request.size,
            request.sha256,
            on_bytes=self._byte_reporter(request.filename, on_bytes),
        )
        auth = Secret(
            "Basic " + base64.b64encode(f"{request.username}:{request.password.reveal()}".encode()).decode()
        )
        headers = {
            "Content-Type": body.content_type,
            "Content-Length": str(body.length),
            "Accept": "application/json",
        }
        _logger.debug("uploading %s (%d bytes) to %s", request.filename, request.size, request.upload_url)
        try:
            response = self.transport.request(
                "POST",
                request.upload_url,
                headers=headers,
                authorization=auth,
                body=iter(body),
                timeout=self.timeout,
                max_redirects=0,
            )
        except FileChanged:
            raise
        except TransportError as exc:
            cause = exc.__context__
            if isinstance(cause, FileChanged):
                raise cause from None
            raise UploadRejected(request.filename, redact(exc.message), retryable=True, hint=exc.hint) from None
        status = response.status
        if 200 <= status < 300:
            return UploadResult(request.filename, "uploaded", status)
        message = redact(error_message(response))
        retry_after = _retry_after(response)
        retryable = status >= 500 or status == 429
        if status in (301, 302, 307, 308):
            message = f"{message} (redirected to {response.header('Location') or '?'})"
        raise UploadRejected(
            request.filename,
            f"{status} {message}",
            status=status,
            retryable=retryable,
            retry_after=retry_after,
            hint=_hint(status, message),
        )

    def _byte_reporter(
        self, filename: str, on_bytes: Callable[[int], None] | None
    ) -> Callable[[int], None] | None:
        progress = self.progress
        if progress is None:
            return on_bytes
        if on_bytes is None:
            return lambda n: progress(filename, n)

        def both(n: int) -> None:
            progress(filename, n)
            on_bytes(n)

        return both


def _retry_after(response: Response) -> float | None:
    value = response.header("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None

