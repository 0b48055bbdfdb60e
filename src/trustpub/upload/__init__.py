"""Uploading: the :class:`Uploader` protocol, its three implementations, and the engine.

- :class:`~trustpub.upload.native.NativeUploader`: trustpub's own streaming HTTP uploader (default);
- :class:`~trustpub.upload.uv.UvUploader`: shells out to ``uv publish``;
- :class:`~trustpub.upload.recording.RecordingUploader`: records calls (dry-run, tests);
- :class:`~trustpub.upload.engine.UploadEngine`: parallel, retried, idempotent runs over a release.

Submodules are imported on use, so importing :mod:`trustpub.upload` stays cheap.
"""

from trustpub.upload._types import Outcome, Uploader, UploadRejected, UploadRequest, UploadResult

__all__ = ["Outcome", "UploadRejected", "UploadRequest", "UploadResult", "Uploader"]
