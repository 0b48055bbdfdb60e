"""What a release reports: each file's outcome, the whole result, and what the last run left.

:class:`PublishResult` is what :class:`~trustpub.orchestrator.Orchestrator` returns (and
:class:`PublishFailed` carries when it stops part-way); the reports
(:mod:`trustpub.report`) render it. :func:`previous_run` reads the journal back at the
start of a re-run; :func:`published_files` turns the upload outcomes into the rows every
report shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trustpub.errors import TrustpubError
from trustpub.journal import Journal
from trustpub.outcomes import SUCCESSFUL, FileOutcome
from trustpub.registry import Registry

if TYPE_CHECKING:
    from trustpub.attest import AttestedFile
    from trustpub.dists import Distribution
    from trustpub.upload import UploadResult

__all__ = [
    "PreviousRun", "PublishFailed", "PublishResult", "PublishedFile", "previous_run", "published_files", "release_identity",
]


@dataclass(frozen=True)
class PreviousRun:
    """What the journal says the last run of this release left, read back at the start of a re-run.

    ``interrupted`` is a run that never recorded its end (killed, crashed, power lost);
    the counts are this release's files by their last recorded state.
    """

    started: str
    interrupted: bool
    outcome: str | None
    uploaded: int
    already_present: int
    failed: int
    not_attempted: int

    def line(self) -> str:
        how = "was interrupted" if self.interrupted else "failed" if self.failed or (self.outcome or "").startswith("failed") else "finished"
        parts = [f"{self.uploaded} uploaded"]
        if self.already_present:
            parts.append(f"{self.already_present} already present")
        if self.failed:
            parts.append(f"{self.failed} failed")
        parts.append(f"{self.not_attempted} not attempted")
        return f"previous run ({self.started}) {how}: {', '.join(parts)}; completing the release"

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started, "interrupted": self.interrupted, "outcome": self.outcome,
            "uploaded": self.uploaded, "already_present": self.already_present, "failed": self.failed,
            "not_attempted": self.not_attempted,
        }


def previous_run(journal: Journal, dists: Sequence[Distribution]) -> PreviousRun | None:
    """The last run before the current one, when it did not complete the release; else None.

    Called right after :meth:`Journal.start_run`, so the current run is the journal's
    last entry and the file states are still the ones the previous run wrote.
    """
    runs = journal.data.get("runs")
    if not isinstance(runs, list) or len(runs) < 2 or not isinstance(runs[-2], dict):
        return None
    last = runs[-2]
    outcome = last.get("outcome") if isinstance(last.get("outcome"), str) else None
    interrupted = last.get("finished") is None
    if not interrupted and outcome == "ok":
        return None
    counts = {"uploaded": 0, "already-present": 0, "failed": 0}
    not_attempted = 0
    for dist in dists:
        entry = journal.data["files"].get(dist.filename)
        state = journal.state(dist.filename)
        if state in counts and isinstance(entry, dict) and entry.get("sha256") == dist.sha256:
            counts[state] += 1
        else:
            not_attempted += 1
    return PreviousRun(
        str(last.get("started") or "?"), interrupted, outcome,
        counts["uploaded"], counts["already-present"], counts["failed"], not_attempted,
    )


@dataclass(frozen=True)
class PublishedFile:
    """One file's outcome, as every report shows it."""

    filename: str
    filetype: str | None
    size: int
    sha256: str
    outcome: FileOutcome
    project_url: str
    attestation_url: str | None = None
    log_index: int | None = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "filetype": self.filetype,
            "size": self.size,
            "sha256": self.sha256,
            "outcome": self.outcome,
            "url": self.project_url,
            "attestation_url": self.attestation_url,
            "rekor_log_index": self.log_index,
            "message": self.message,
        }


@dataclass
class PublishResult:
    """The whole release: per-file outcomes in upload order, and what was learned on the way."""

    registry: Registry
    project: str
    version: str
    files: list[PublishedFile]
    dry_run: bool = False
    elapsed: float = 0.0
    credentials: str | None = None
    provenance: Path | None = None
    journal: Path | None = None
    #: What the journal said the last run left, when it did not complete the release.
    previous_run: PreviousRun | None = None
    statements: list[bytes] = field(default_factory=list, repr=False)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    #: Which upload API carried the release: ``legacy`` or ``upload-2.0`` (PEP 694).
    upload_api: str = "legacy"
    #: Upload 2.0: the session, and (with ``--stage-only``) where the stage can be seen.
    session_url: str | None = None
    stage_url: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    published: bool | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(f.outcome in SUCCESSFUL for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "registry": str(self.registry),
            "upload_url": self.registry.upload_url,
            "project": self.project,
            "version": self.version,
            "credentials": self.credentials,
            "elapsed_seconds": round(self.elapsed, 3),
            "release_provenance": str(self.provenance) if self.provenance else None,
            "journal": str(self.journal) if self.journal else None,
            "previous_run": self.previous_run.to_json() if self.previous_run else None,
            "upload_api": self.upload_api,
            "session": None if self.session_url is None else {
                "url": self.session_url, "published": self.published,
                "stage_url": self.stage_url, "session_token": self.session_token,
            },
            "files": [f.to_json() for f in self.files],
            "warnings": self.warnings,
            "error": self.error,
        }



class PublishFailed(TrustpubError):
    """The release stopped; ``cause`` says why and ``result`` what did land before it did.

    Keeps the cause's message, hint and exit code, so the CLI reports it unchanged.
    """

    def __init__(self, cause: TrustpubError, result: PublishResult) -> None:
        super().__init__(cause.message, hint=cause.hint)
        self.cause = cause
        self.result = result
        self.exit_code = cause.exit_code


def release_identity(dists: Sequence[Distribution]) -> tuple[str, str]:
    from trustpub.release import Release  # the one place name and version are read

    release = Release.of(dists)
    return release.name, release.version



def published_files(
    registry: Registry, dists: Sequence[Distribution], outcomes: Mapping[str, UploadResult],
    attested: Mapping[str, AttestedFile], *, present: Mapping[str, str], failed: bool = False,
    failures: Mapping[str, str] | None = None,
) -> list[PublishedFile]:
    """Every file's row, in upload order: its upload's outcome, else already-present, failed or not attempted."""
    project, version = release_identity(dists)
    files = []
    for dist in dists:
        upload = outcomes.get(dist.filename)
        outcome: FileOutcome
        message = upload.message if upload else ""
        if upload is not None:
            outcome = upload.outcome
        elif dist.filename in present:
            outcome = "already-present"
        elif failures and dist.filename in failures:
            outcome, message = "failed", failures[dist.filename]
        else:
            outcome = "not-attempted" if failed else "failed"
        att = attested.get(dist.filename)
        files.append(
            PublishedFile(
                dist.filename, dist.filetype, dist.size, dist.sha256, outcome,
                registry.project_url(project, version),
                registry.integrity_url(project, version, dist.filename) if att else None,
                att.log_index if att else None,
                message,
            )
        )
    return files
