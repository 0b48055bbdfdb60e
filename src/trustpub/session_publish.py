"""A release through an Upload 2.0 (PEP 694) publishing session.

:func:`through_session` stages the files still to upload in one session and publishes
it (or keeps the stage, ``--stage-only``); :func:`finish_stage` publishes or cancels a
stage an earlier run left (``trustpub publish --session ID``). The PEP 694 client
(:mod:`trustpub.upload.session`, :mod:`trustpub.upload.upload2`) is imported only
here and only when called: the legacy path never pays for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from trustpub.collaborators import credential_source, describe_source
from trustpub.errors import ConfigurationError, TrustpubError
from trustpub.journal import Journal
from trustpub.outcomes import FileOutcome
from trustpub.publish_result import PublishedFile, PublishFailed, PublishResult
from trustpub.request import PublishRequest
from trustpub.state import resolve_state_dir
from trustpub.upload import UploadResult

if TYPE_CHECKING:
    from trustpub.attest import AttestedFile
    from trustpub.credentials import CredentialSource
    from trustpub.dists import Distribution
    from trustpub.transport import Transport

__all__ = ["finish_stage", "through_session"]


def finish_stage(
    request: PublishRequest, started: float, *, transport: Transport | None, say: Callable[[str], None],
) -> PublishResult:
    """``trustpub publish --session ID``: publish (or ``--cancel``) a stage an earlier run left."""
    from trustpub.transport import Transport
    from trustpub.upload.session import (
        choose_upload_api,
        find_stage,
        finish_session,
        session_client,
    )

    assert request.session is not None
    registry = request.registry
    transport = transport or Transport(timeout=request.timeout)
    root = choose_upload_api(request.upload_api, registry, transport, say=say)
    if root is None:
        raise ConfigurationError(f"--session: {registry} does not speak Upload 2.0",
                                 hint="give --upload-api URL of the index that holds the stage")
    stage = find_stage(resolve_state_dir(request.state_dir), request.session, root)
    result = PublishResult(registry, stage.project, stage.version, [], upload_api="upload-2.0",
                           session_url=stage.session_url)
    source = credential_source(request, registry, transport)
    result.credentials = describe_source(source)
    client = session_client(transport, root, source, request)
    try:
        session = finish_session(client, stage.session_url, cancel=request.cancel_session)
    except TrustpubError as exc:
        result.error = str(exc)
        result.elapsed = time.monotonic() - started
        raise PublishFailed(exc, result) from exc
    result.published = not request.cancel_session
    outcome: FileOutcome = "not-attempted" if request.cancel_session else "uploaded"
    url = registry.project_url(stage.project, stage.version)
    for name in sorted(session.files):
        result.files.append(PublishedFile(name, None, 0, stage.files.get(name, ""), outcome, url))
    say(("cancelled" if request.cancel_session else "published") + f" the session {stage.session_url}")
    result.elapsed = time.monotonic() - started
    return result


def through_session(
    request: PublishRequest, transport: Transport, upload_api: str, source: CredentialSource,
    dists: Sequence[Distribution], todo: Sequence[Distribution], attested: Mapping[str, AttestedFile],
    journal: Journal, result: PublishResult, outcomes: dict[str, UploadResult], failures: dict[str, str],
    *, say: Callable[[str], None],
) -> None:
    """The Upload 2.0 branch: stage ``todo`` in one session, publish it (:mod:`trustpub.upload.session`)."""
    from trustpub.upload.session import session_client, stage_and_publish
    from trustpub.upload.upload2 import Upload2Error

    result.upload_api = "upload-2.0"
    say(f"upload API: Upload 2.0 at {upload_api}")
    client = session_client(transport, upload_api, source, request)
    project, version = result.project, result.version
    try:
        outcome = stage_and_publish(
            client, todo, {name: tuple(a.paths) for name, a in attested.items()},
            project=project, version=version, journal=journal, jobs=request.jobs,
            stage_only=request.stage_only, keep_stage=request.keep_stage, smoke=request.smoke,
            say=say, on_staged=lambda name: say(f"staged: {name}"),
        )
    except Upload2Error as exc:
        if exc.filename:
            failures[exc.filename] = exc.message
        raise
    result.session_url = outcome.stage.session_url
    result.published = outcome.published
    for name in outcome.staged:
        outcomes[name] = UploadResult(name, "uploaded", confirmed=True)
    for dist in todo:
        if outcome.published:
            journal.record(dist.filename, "uploaded", sha256=dist.sha256)
    if outcome.published:
        say(f"published the session: all {len(outcome.staged)} staged file(s) are public")
    else:
        result.stage_url = outcome.stage.stage_url
        result.session_token = outcome.stage.session_token
