"""``--dry-run``: the release as it would go, with nothing sent, signed or minted.

Each file goes to a :class:`~trustpub.upload.recording.RecordingUploader` (unless the
caller injected an uploader) with an empty token; the statements that would be signed
are built unsigned from the CI's variables.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from trustpub.auth import TOKEN_USERNAME
from trustpub.dists import Distribution
from trustpub.publish_result import PublishedFile, PublishResult
from trustpub.request import PublishRequest
from trustpub.upload import Uploader, UploadRequest

__all__ = ["dry_run"]


def dry_run(
    request: PublishRequest, dists: list[Distribution], project: str, version: str, started: float, *,
    uploader: Uploader | None = None, say: Callable[[str], None],
) -> PublishResult:
    """The :class:`PublishResult` a dry run shows: what each file would become, and where."""
    from trustpub.secrets import Secret
    from trustpub.upload.recording import RecordingUploader

    registry = request.registry
    # Sends nothing; answers each file with the URL the index would give it.
    uploader = uploader or RecordingUploader(url_for=lambda _: registry.project_url(project, version))
    statements: list[bytes] = []
    if request.attestations is not False:
        from trustpub.attest import unsigned_statements

        # The CI's variables are all a dry run knows of the run (its URL is the invocation id).
        statements = unsigned_statements(dists, slsa=request.slsa, builder_id=request.builder_id,
                                         ci_context=os.environ if request.env is None else request.env)
    files: list[PublishedFile] = []
    for dist in dists:
        upload = uploader.upload(
            UploadRequest(dist.path, dist.filename, dist.sha256, dist.blake2_256, dist.size,
                          registry.upload_url, TOKEN_USERNAME, Secret(""))
        )
        files.append(
            PublishedFile(
                dist.filename, dist.filetype, dist.size, dist.sha256, upload.outcome,
                upload.url or registry.project_url(project, version),
                registry.integrity_url(project, version, dist.filename) if request.attestations is not False else None,
                message=upload.message,
            )
        )
        say(f"would upload {dist.filename} ({dist.size} bytes, sha256 {dist.sha256})")
    return PublishResult(registry, project, version, files, dry_run=True, elapsed=time.monotonic() - started,
                         credentials="none (dry run)", statements=statements)
