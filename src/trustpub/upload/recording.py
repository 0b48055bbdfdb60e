"""The recording uploader: sends nothing, remembers every call (dry-run and tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from trustpub.upload._types import UploadRequest, UploadResult

__all__ = ["RecordingUploader", "project_url_of"]


def project_url_of(request: UploadRequest) -> str | None:
    """The project page the index would give this file: ``<web>/project/<name>/<version>/``.

    Derived from the upload URL and the filename alone (no request), the way the
    index shapes it; None when the filename is not a wheel's or an sdist's.
    """
    from trustpub.registry import Registry
    from trustpub.release import parse_filename

    parsed = parse_filename(request.filename)
    if parsed is None or not request.upload_url:
        return None
    return Registry.lookup(request.upload_url).project_url(parsed.name, parsed.version)


@dataclass
class RecordingUploader:
    """Records each :class:`UploadRequest` and answers ``skipped`` with the URL the index would give; thread-safe.

    ``url_for`` says that URL (the orchestrator passes the release's project page, as
    the metadata spells the name); by default it is derived from the request
    (:func:`project_url_of`).
    """

    calls: list[UploadRequest] = field(default_factory=list)
    url_for: Callable[[UploadRequest], str | None] = field(default=project_url_of, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def upload(self, request: UploadRequest) -> UploadResult:
        with self._lock:
            self.calls.append(request)
        return UploadResult(request.filename, "skipped", None, "dry run: nothing was sent", url=self.url_for(request))
