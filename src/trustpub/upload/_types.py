"""The values every uploader takes and returns, and the one error they raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from trustpub.errors import TrustpubError
from trustpub.outcomes import UploadOutcome
from trustpub.secrets import Secret

__all__ = ["Outcome", "UploadRejected", "UploadRequest", "UploadResult", "Uploader"]

Outcome = UploadOutcome


@dataclass(frozen=True)
class UploadRequest:
    """One file to send, with the digests it was checked and attested with.

    The uploader must send exactly these bytes: the native one re-hashes while it
    streams and aborts when the file on disk no longer matches ``sha256``. A digest
    is ``None`` when nothing needed it before the upload; the native uploader then
    computes it while streaming (and checks the file is the inspected one).
    """

    path: Path
    filename: str
    sha256: str | None
    blake2_256: str | None
    size: int
    upload_url: str
    username: str
    password: Secret = field(repr=False)
    attestations: tuple[Path, ...] = ()


@dataclass(frozen=True)
class UploadResult:
    """What happened to one file."""

    filename: str
    outcome: Outcome
    status: int | None = None
    message: str = ""
    #: The index itself confirmed our sha256 for this file: it answered 2xx to a form
    #: carrying the digest of exactly the bytes sent, or listed it after a failure.
    #: The publish chain's verify step asks the index again only about other files.
    confirmed: bool = False
    #: Where the index shows the file's release, when the uploader knows it (the dry
    #: run's :class:`~trustpub.upload.recording.RecordingUploader` does).
    url: str | None = None


class UploadRejected(TrustpubError):
    """The index refused a file, or the transfer failed.

    ``retryable`` is true for failures worth another try (transport errors, 5xx, 429);
    a 4xx answer is final.
    """

    def __init__(
        self,
        filename: str,
        message: str,
        *,
        status: int | None = None,
        hint: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{filename}: {message}", hint=hint)
        self.filename = filename
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class Uploader(Protocol):
    """Sends one file to an index. Implementations must be safe to call from several threads."""

    def upload(self, request: UploadRequest) -> UploadResult: ...
