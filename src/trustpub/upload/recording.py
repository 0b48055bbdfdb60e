"""The recording uploader: sends nothing, remembers every call (dry-run and tests)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from trustpub.upload._types import UploadRequest, UploadResult

__all__ = ["RecordingUploader"]


@dataclass
class RecordingUploader:
    """Records each :class:`UploadRequest` and answers ``skipped``; thread-safe."""

    calls: list[UploadRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def upload(self, request: UploadRequest) -> UploadResult:
        with self._lock:
            self.calls.append(request)
        return UploadResult(request.filename, "skipped", None, "dry run: nothing was sent")
