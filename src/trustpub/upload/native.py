"""The native uploader: one streamed multipart POST per file, each byte read once.

The body is produced lazily: the text fields first, then the file in 1 MiB reads,
then the digest fields and the closing boundary, with ``Content-Length`` computed up
front (PyPI and the servers in front of it want a length, not chunked encoding).
Memory stays flat for any file size. The file is hashed as it streams: a file that
nothing needed to hash before (no attestation, name not on the index) is read exactly
once, and its sha256 goes in the form after it. The last chunk is held back until the
file is known to be the one that was checked (the same sha256 when it was hashed
before, else the same size, times and inode as inspected); if it is not, the generator
raises before that chunk is sent, so the server sees a truncated body and stores
nothing.

Writes are few and large: the form fields travel with the first file chunk and the
closing boundary with the last, so a small file is one ``sendall`` after the headers
(not three small ones), and a large one is 1 MiB writes. Bytes are reported to an
optional ``progress`` callback as each chunk has gone to the socket.

    >>> uploader = NativeUploader(transport)                      # doctest: +SKIP
    >>> uploader.upload(UploadRequest(path, ..., upload_url=...))  # doctest: +SKIP
    UploadResult(filename='demo-1.0-py3-none-any.whl', outcome='uploaded', status=200)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets as _random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from trustpub.auth import basic_authorization
from trustpub.dists import Distribution, FileStamp
from trustpub.errors import TrustpubError
from trustpub.registry import PYPI_UPLOAD_URL, TESTPYPI_UPLOAD_URL
from trustpub.secrets import redact
from trustpub.text import excerpt
from trustpub.transport import Response, Transport, TransportError, safe_url
from trustpub.upload._types import UploadRejected, UploadRequest, UploadResult
from trustpub.upload.form import digest_fields, form_fields

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
    """A multipart/form-data body whose file part is streamed from disk, digests last.

    Layout: the text fields, the ``content`` part, then the digest fields and the
    closing boundary. The digests come after the file so that a file nobody needed to
    hash before is hashed in the same read that sends it; their length is fixed (64
    hex characters), so ``Content-Length`` is still known up front.

    With ``sha256`` (the file was hashed before: an attestation names it, or the
    index had its name) the stream is re-hashed and compared. Without it, the file's
    ``stamp`` (size, times, inode as inspected) is compared with ``fstat`` of the open
    file before the last chunk. Either way a changed file raises :class:`FileChanged`
    before its last chunk leaves, so the server sees a truncated body and stores
    nothing. ``on_digest(sha256)`` hears the digest of exactly the bytes sent.

    ``on_bytes``, when set, is called with the number of file bytes each time a chunk
    has been handed on (that is, when the consumer asks for the next one), so a
    progress bar never runs ahead of the socket; the form fields and boundaries are
    not counted, so the per-file total is exactly ``size``.
    """

    boundary: str
    head: bytes
    path: Path
    size: int
    sha256: str | None = None
    blake2_256: str | None = None
    stamp: FileStamp | None = None
    on_bytes: Callable[[int], None] | None = None
    on_digest: Callable[[str], None] | None = None

    @classmethod
    def build(
        cls,
        fields: Sequence[tuple[str, str]],
        path: Path,
        filename: str,
        size: int,
        sha256: str | None,
        *,
        blake2_256: str | None = None,
        stamp: FileStamp | None = None,
        on_bytes: Callable[[int], None] | None = None,
        on_digest: Callable[[str], None] | None = None,
    ) -> MultipartBody:
        boundary = "trustpub-" + _random.token_hex(16)
        parts = [_text_part(boundary, name, value) for name, value in fields]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{_quote(filename)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        return cls(boundary, b"".join(parts), path, size, sha256, blake2_256, stamp, on_bytes, on_digest)

    def tail(self, sha256: str) -> bytes:
        """What follows the file: its digests and the closing boundary."""
        digests = b"".join(_text_part(self.boundary, n, v) for n, v in digest_fields(sha256, self.blake2_256))
        return b"\r\n" + digests + f"--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def length(self) -> int:
        return len(self.head) + self.size + len(self.tail("0" * 64))

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
                if last:  # decide before the last chunk leaves
                    self._check(fp, sent, digest.hexdigest())
                count = len(pending)
                small = count < _JOIN_BELOW
                if prefix:
                    if small:
                        pending = prefix + pending
                    else:
                        yield prefix
                    prefix = b""
                if last:
                    tail = self.tail(digest.hexdigest())
                    if self.on_digest is not None:
                        self.on_digest(digest.hexdigest())
                    if small:
                        yield pending + tail
                    else:
                        yield pending
                        yield tail
                else:
                    yield pending
                if report is not None:
                    report(count)
                pending = following
        if sent != self.size:
            raise FileChanged(f"{self.path.name} changed on disk after it was checked (it is now empty)", hint=_HINT)
        if prefix:  # an empty file: nothing above was sent
            yield prefix + self.tail(digest.hexdigest())

    def _check(self, fp: BinaryIO, sent: int, sha256: str) -> None:
        changed = sent != self.size or (self.sha256 is not None and sha256 != self.sha256)
        if not changed and self.sha256 is None and self.stamp is not None:
            changed = not self.stamp.matches(os.fstat(fp.fileno()))
        if changed:
            expected = f"sha256 {self.sha256[:16]}…" if self.sha256 else "as inspected"
            raise FileChanged(
                f"{self.path.name} changed on disk after it was checked "
                f"(now {sent} bytes, sha256 {sha256[:16]}…; expected {self.size} bytes, {expected}); "
                "the upload was aborted before completing",
                hint=_HINT,
            )


_HINT = "rebuild and re-run; never modify dist/ while a release is running"


def _text_part(boundary: str, name: str, value: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
        + value.encode("utf-8")
        + b"\r\n"
    )


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


def error_message(response: Response) -> str:
    """The index's reason, from JSON (PyPI with Accept: application/json), the reason phrase, or the body.

    Whatever the server wrote is shown as an excerpt (:data:`~trustpub.text.SHOWN_CHARS`
    characters at most, one line, control characters escaped): it ends up on a
    terminal and in CI logs, where a newline or an ESC sequence must not act.
    """
    data = response.data
    if data:
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            code = doc.get("code")
            if isinstance(code, str) and code.strip():
                return excerpt(code.split(" ", 1)[1] if code[:3].isdigit() and " " in code else code)
            message = doc.get("message")
            if isinstance(message, str) and message.strip():
                return excerpt(message)
    if response.reason and response.reason.upper() not in ("BAD REQUEST", "FORBIDDEN", "OK", "CONFLICT"):
        return excerpt(response.reason)
    text = data.decode("utf-8", "replace").strip() if data else ""
    if text and not text.lstrip().startswith("<"):
        return excerpt(text.splitlines()[0])
    return excerpt(response.reason) if response.reason else f"HTTP {response.status}"


def _hint(status: int, message: str, url: str = "") -> str | None:
    lowered = message.lower()
    if status in (301, 302, 307, 308, 405):
        return "the URL is not a legacy upload endpoint; for PyPI-like indexes it ends in /legacy/"
    if status == 404:
        return _not_found_hint(url)
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


def _not_found_hint(url: str) -> str:
    """What a 404 on an upload says about the URL: usually, that it is not the upload endpoint."""
    parts = urlsplit(url)
    host = f"{parts.scheme or 'https'}://{parts.hostname or 'host'}{f':{parts.port}' if parts.port else ''}"
    if parts.path.rstrip("/").endswith("/legacy"):
        return (
            f"the index has no upload endpoint at {safe_url(url)}; check the URL "
            f"(PyPI's is {PYPI_UPLOAD_URL}, TestPyPI's {TESTPYPI_UPLOAD_URL})"
        )
    return (
        f"nothing takes uploads at {safe_url(url)}: PyPI-style indexes take uploads at {host}/legacy/ "
        f"(devpi-server at {host}/USER/INDEX/); pass that URL to --to"
    )


class NativeUploader:
    """Uploads with trustpub's own HTTP client (streaming, connection reuse, re-hash).

    Thread-safe: the transport's connection pool is shared by parallel uploads.
    ``progress(filename, nbytes)`` is told about file bytes as they go out (from the
    uploading thread), for progress bars; see :mod:`trustpub.upload.progress`.
    """

    #: The engine may pass the already inspected ``dist`` and a per-file ``on_bytes``
    #: to :meth:`upload`, which saves re-reading every archive for its metadata.
    accepts_distribution = True

    def __init__(self, transport: Transport, *, timeout: float | None = None, progress: ByteProgress | None = None) -> None:
        self.transport = transport
        #: Seconds to wait for the index's answer after the last byte; ``None``: the
        #: transport's timeout (``--timeout``, ``$TRUSTPUB_TIMEOUT``, 60 s by default).
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

            if request.sha256 is not None and request.blake2_256 is not None:
                dist = inspect(request.path, hashes=Hashes(request.sha256, request.blake2_256, request.size))
            else:
                dist = inspect(request.path, lazy=True)
        attestations = [p.read_text() for p in request.attestations]
        known_sha, known_blake = dist.digests.known()
        expected = request.sha256 or known_sha
        digests = dist.digests

        def heard(sha256: str) -> None:
            if expected is None:
                digests.provide(sha256=sha256)

        body = MultipartBody.build(
            form_fields(dist, attestations=attestations),
            request.path,
            request.filename,
            request.size,
            expected,
            blake2_256=request.blake2_256 or known_blake,
            stamp=digests.stamp,
            on_bytes=self._byte_reporter(request.filename, on_bytes),
            on_digest=heard,
        )
        auth = basic_authorization(request.username, request.password)
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
            # PyPI stores a file and answers 200 with an EMPTY body; it refuses a digest
            # that does not match (warehouse-contract.md §2.1, §2.3). So an empty 2xx to
            # a form carrying the sha256 of exactly the bytes sent is the index's own
            # confirmation. Any other 2xx (the HTML page Warehouse serves for a request
            # its upload view never saw, something that is not an index) is not: the
            # publish chain then asks the index's listing.
            return UploadResult(request.filename, "uploaded", status, confirmed=not response.data.strip())
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
            hint=_hint(status, message, request.upload_url),
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

