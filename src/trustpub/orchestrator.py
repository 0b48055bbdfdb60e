"""The publish chain: validate, preflight, plan, identity, attest, mint, upload, verify, report.

Nothing is uploaded when anything before the upload fails, and the order is chosen
so that the cheap, local, certain steps come first: a preflight failure costs no
network call, a conflicting file on the index costs no signature, and a signature
that the index would refuse is caught before its file is sent::

    >>> result = Orchestrator().publish(PublishRequest(paths=(Path("dist"),), registry=Registry.parse("pypi")))  # doctest: +SKIP
    >>> [f.outcome for f in result.files]                                                                       # doctest: +SKIP
    ['uploaded', 'uploaded', 'uploaded']
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trustpub.auth import TOKEN_USERNAME
from trustpub.checks import CheckReport, check_distributions, collect_paths, inspect_many
from trustpub.dists import Distribution
from trustpub.errors import CheckFailed, ConfigurationError, TrustpubError
from trustpub.journal import Journal
from trustpub.outcomes import SUCCESSFUL, FileOutcome
from trustpub.registry import Registry
from trustpub.request import PublishRequest
from trustpub.state import resolve_state_dir
from trustpub.upload import Uploader, UploadRequest, UploadResult
from trustpub.upload.engine import upload_order
from trustpub.upload.verify import VerificationFailed, verify_uploaded

if TYPE_CHECKING:
    from trustpub.attest import AttestedFile, Attester
    from trustpub.credentials import CredentialSource
    from trustpub.prepared import PreparedTarget
    from trustpub.transport import Transport
    from trustpub.upload.progress import UploadProgress
    from trustpub.upload.simple import ExistingFiles

__all__ = [
    "Orchestrator", "PreviousRun", "PublishFailed", "PublishResult", "PublishedFile", "VerificationFailed", "previous_run",
]

_logger = logging.getLogger(__name__)



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


Progress = Callable[[str], None]


class Orchestrator:
    """Wires the steps together. Every collaborator can be injected (tests, rehearse).

    ``uploader`` replaces the one ``request.uploader`` names; ``transport`` is shared
    by every network step (one connection pool); ``say`` receives progress lines;
    ``progress`` shows the uploads (bars on a terminal, lines in CI logs).
    """

    def __init__(
        self,
        *,
        transport: Transport | None = None,
        uploader: Uploader | None = None,
        say: Progress | None = None,
        on_result: Callable[[UploadResult], None] | None = None,
        progress: UploadProgress | None = None,
    ) -> None:
        self._transport = transport
        self._uploader = uploader
        self._say = say or (lambda line: None)
        self._on_result = on_result
        #: An :class:`~trustpub.upload.progress.UploadProgress` display; with one, the
        #: per-file upload lines come from it instead of ``say``.
        self._progress = progress

    # -- the chain -------------------------------------------------------------------

    def publish(self, request: PublishRequest, *, prepared: PreparedTarget | None = None) -> PublishResult:
        """Publish one release to ``request.registry``.

        ``prepared`` (from :mod:`trustpub.multi`) carries steps already done for every
        index of a multi-index release: preflight, credentials, attestations.
        """
        started = time.monotonic()
        request.validate()
        if request.session is not None:
            return self._finish_stage(request, started)
        dists = list(prepared.dists) if prepared is not None else self._preflight(request)
        project, version = _release_identity(dists)
        registry = request.registry
        if request.dry_run:
            return self._dry_run(request, dists, project, version, started)

        from trustpub.transport import Transport

        transport = self._transport or Transport(timeout=request.timeout, maxsize=max(4, request.jobs))
        # Journal and release provenance live in the per-user state folder, never in the
        # project, where the next sdist would pack them (trustpub.state).
        state_dir = resolve_state_dir(request.state_dir)
        journal = Journal.for_release(state_dir, registry=registry.upload_url, project=project, version=version)
        journal.start_run(dry_run=False)
        self._say(f"journal: {journal.path}")
        result = PublishResult(registry, project, version, [], credentials=None, journal=journal.path)
        previous = previous_run(journal, dists)
        if previous is not None:
            # Read back before this run records anything: what the last run left.
            result.previous_run = previous
            self._say(previous.line())
        outcomes: dict[str, UploadResult] = {}
        failures: dict[str, str] = {}
        present: dict[str, str] = {}
        attested: dict[str, AttestedFile] = {}
        attester: Attester | None = None
        try:
            # identity (choosing the credentials makes no network call; minting comes later)
            source = prepared.source if prepared is not None else self._credentials(request, registry, transport)
            result.credentials = _describe_source(source)

            # plan: which files are already there, by hash (stops on a conflict)
            lookup = self._lookup(request, transport, source)
            from trustpub.upload.engine import UploadEngine, plan_release

            present = plan_release(dists, lookup)
            todo = [d for d in dists if d.filename not in present]
            # One write for the whole plan. A file not on the index is hashed while it
            # streams: its sha256 is recorded with its upload, not here.
            journal.record_many(
                (d.filename, "already-present" if d.filename in present else "planned", d.digests.known()[0] or "")
                for d in dists
            )
            self._say(f"plan: {len(todo)} to upload, {len(present)} already on {registry}")

            use_attestations = prepared.attestations if prepared is not None else self._attestations_wanted(request, source)
            # Upload 2.0 only when asked for (--upload-api): nothing new goes to PyPI.
            upload_api = None
            if todo and request.upload_api not in (None, "legacy"):
                # The PEP 694 client is loaded only when asked for: the legacy path never pays for it.
                from trustpub.upload.session import choose_upload_api

                upload_api = choose_upload_api(request.upload_api, registry, transport, say=self._say)
            if upload_api is None and (request.stage_only or request.smoke or request.keep_stage):
                raise ConfigurationError(
                    "--stage-only, --keep-stage and --smoke need an index that speaks Upload 2.0",
                    hint="this index answered as legacy-only; drop those options",
                )

            # attest only what still has to be uploaded
            if prepared is not None and use_attestations:
                # Signed once for every index (trustpub.multi): the same bundles everywhere.
                attested = {d.filename: prepared.attested[d.filename] for d in todo if d.filename in prepared.attested}
            elif use_attestations and todo:
                attester = self._attester(request, source)
                # Attestations name the sha256, so these files are hashed first, in parallel.
                from trustpub.dists import ensure_hashes

                ensure_hashes(todo, blake2=False)
                attested = {a.filename: a for a in attester.attest(todo)}
                for entry in attested.values():
                    if entry.log_index is not None:
                        self._say(f"attested {entry.filename} (Rekor log index {entry.log_index})")

            # mint (first token) and upload
            if todo:
                source.credentials()

            if upload_api is not None:
                self._through_session(request, transport, upload_api, source, dists, todo, attested, journal,
                                      result, outcomes, failures)
                if request.stage_only:
                    journal.finish_run("staged")
                    result.files = [
                        replace(f, outcome="staged") if f.filename in outcomes else f
                        for f in self._files(registry, dists, outcomes, attested, present=present)
                    ]
                    result.elapsed = time.monotonic() - started
                    return result
            uploader = self._make_uploader(request, transport)
            if upload_api is None and todo and not getattr(uploader, "accepts_distribution", False):
                # Only the native uploader hashes while it streams; others get the digests first.
                from trustpub.dists import ensure_hashes

                ensure_hashes(todo, blake2=False)

            def request_for(dist: Distribution) -> UploadRequest:
                creds = source.credentials()
                att = attested.get(dist.filename)
                sha256, blake2_256 = dist.digests.known()
                return UploadRequest(
                    dist.path, dist.filename, sha256, blake2_256, dist.size, registry.upload_url,
                    creds.username, creds.password, tuple(att.paths) if att else (),
                )

            def record(filename: str, upload: UploadResult) -> None:
                outcomes[filename] = upload
                sha = next(d.sha256 for d in dists if d.filename == filename)
                state = upload.outcome if upload.outcome != "skipped" else "skipped"
                journal.record(filename, state, sha256=sha)
                if self._progress is None:
                    self._say(f"{upload.outcome}: {filename}")
                if self._on_result:
                    self._on_result(upload)

            engine = UploadEngine(
                uploader, lookup=lookup, jobs=request.jobs, on_result=record,
                progress=self._progress,
            )
            try:
                if upload_api is None:
                    engine.upload(dists, request_for)
            except TrustpubError:
                # Only files that were really tried are "failed"; the rest stay "planned"
                # in the journal and show as not-attempted.
                failures.update(engine.failures)
                for dist in dists:
                    if dist.filename not in outcomes and dist.filename in failures:
                        journal.record(dist.filename, "failed", sha256=dist.digests.known()[0] or "", reason=failures[dist.filename])
                raise

            # verify: the index lists our bytes under every name
            try:
                self._verify(dists, lookup, outcomes, present)
            except VerificationFailed as exc:
                for name in exc.filenames:
                    failures[name] = "the index answered as if stored, but does not list these bytes"
                    outcomes.pop(name, None)
                raise
            if use_attestations and prepared is None:
                # The release provenance is written once per release: a re-run after a
                # crash between the last upload and this step writes it then.
                from trustpub.attest import default_provenance_dir, release_provenance_name

                out_dir = default_provenance_dir(request.attestations_dir, state_dir=state_dir, registry=registry.upload_url)
                target = out_dir / release_provenance_name(d.filename for d in dists)
                if attester is None and not target.exists():
                    attester = self._attester(request, source)
                if attester is not None:
                    result.provenance = attester.release_provenance(dists, out_dir=out_dir)
                elif target.exists():
                    result.provenance = target
            journal.finish_run("ok")
        except TrustpubError as exc:
            journal.finish_run(f"failed: {exc.message}")
            result.error = str(exc)
            result.files = self._files(registry, dists, outcomes, attested, present=present, failed=True, failures=failures)
            result.elapsed = time.monotonic() - started
            raise PublishFailed(exc, result) from exc
        result.files = self._files(registry, dists, outcomes, attested, present=present)
        result.elapsed = time.monotonic() - started
        return result

    # -- steps a multi-index release runs once, up front (trustpub.multi) -------------

    def preflight(self, request: PublishRequest) -> list[Distribution]:
        """Inspect and check the files (raises :class:`CheckFailed`); upload order."""
        return self._preflight(request)

    def credentials_for(self, request: PublishRequest, transport: Transport) -> CredentialSource:
        """The credential source for ``request.registry`` (no network call yet)."""
        return self._credentials(request, request.registry, transport)

    def lookup_for(self, request: PublishRequest, transport: Transport, source: CredentialSource) -> ExistingFiles:
        """The reader of what ``request.registry`` already holds."""
        return self._lookup(request, transport, source)

    def attestations_wanted(self, request: PublishRequest, source: CredentialSource) -> bool:
        """Whether this index gets attestations with these credentials (may raise)."""
        return self._attestations_wanted(request, source)

    def attester_for(self, request: PublishRequest, source: CredentialSource) -> Attester:
        """The release's signer for the CI identity behind ``source``."""
        return self._attester(request, source)

    # -- steps -------------------------------------------------------------------------

    def _finish_stage(self, request: PublishRequest, started: float) -> PublishResult:
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
        transport = self._transport or Transport(timeout=request.timeout)
        root = choose_upload_api(request.upload_api, registry, transport, say=self._say)
        if root is None:
            raise ConfigurationError(f"--session: {registry} does not speak Upload 2.0",
                                     hint="give --upload-api URL of the index that holds the stage")
        stage = find_stage(resolve_state_dir(request.state_dir), request.session, root)
        result = PublishResult(registry, stage.project, stage.version, [], upload_api="upload-2.0",
                               session_url=stage.session_url)
        source = self._credentials(request, registry, transport)
        result.credentials = _describe_source(source)
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
        self._say(("cancelled" if request.cancel_session else "published") + f" the session {stage.session_url}")
        result.elapsed = time.monotonic() - started
        return result

    def _through_session(
        self, request: PublishRequest, transport: Transport, upload_api: str, source: CredentialSource,
        dists: Sequence[Distribution], todo: Sequence[Distribution], attested: Mapping[str, AttestedFile],
        journal: Journal, result: PublishResult, outcomes: dict[str, UploadResult], failures: dict[str, str],
    ) -> None:
        """The Upload 2.0 branch: stage ``todo`` in one session, publish it (:mod:`trustpub.upload.session`)."""
        from trustpub.upload.session import session_client, stage_and_publish
        from trustpub.upload.upload2 import Upload2Error

        result.upload_api = "upload-2.0"
        self._say(f"upload API: Upload 2.0 at {upload_api}")
        client = session_client(transport, upload_api, source, request)
        project, version = result.project, result.version
        try:
            outcome = stage_and_publish(
                client, todo, {name: tuple(a.paths) for name, a in attested.items()},
                project=project, version=version, journal=journal, jobs=request.jobs,
                stage_only=request.stage_only, keep_stage=request.keep_stage, smoke=request.smoke,
                say=self._say, on_staged=lambda name: self._say(f"staged: {name}"),
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
            self._say(f"published the session: all {len(outcome.staged)} staged file(s) are public")
        else:
            result.stage_url = outcome.stage.stage_url
            result.session_token = outcome.stage.session_token

    def _preflight(self, request: PublishRequest) -> list[Distribution]:
        files, _skipped = collect_paths(request.paths)
        if not files:
            raise ConfigurationError(
                f"no distributions found in {', '.join(map(str, request.paths))}",
                hint="build them first (python -m build)",
            )
        # Not hashed here: a file the index does not have is hashed while it streams.
        dists = inspect_many(files, hashes=False)
        if request.targets is not None:
            # A declared release: the files are its, with the declared sha256 (hashed here, once).
            from trustpub.artifacts import check_declared

            check_declared(request.distribution or "", request.version or "", request.targets, dists)
        report: CheckReport = check_distributions(dists)
        if report.errors:
            for finding in report.errors:
                self._say(finding.line())
            raise CheckFailed(
                f"preflight found {len(report.errors)} problem(s) PyPI would refuse; nothing was uploaded",
                hint="fix them and rebuild (trustpub check shows the same list)",
                findings=report.errors,
            )
        for finding in report.warnings:
            self._say(finding.line())
        return upload_order(dists)

    def _dry_run(
        self, request: PublishRequest, dists: list[Distribution], project: str, version: str, started: float
    ) -> PublishResult:
        from trustpub.secrets import Secret
        from trustpub.upload.recording import RecordingUploader

        registry = request.registry
        # Sends nothing; answers each file with the URL the index would give it.
        uploader = self._uploader or RecordingUploader(url_for=lambda _: registry.project_url(project, version))
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
            self._say(f"would upload {dist.filename} ({dist.size} bytes, sha256 {dist.sha256})")
        return PublishResult(registry, project, version, files, dry_run=True, elapsed=time.monotonic() - started,
                             credentials="none (dry run)", statements=statements)

    def _lookup(self, request: PublishRequest, transport: Transport, source: CredentialSource) -> ExistingFiles:
        """The simple-API reader; a private index's own password or token goes with it.

        Only static credentials, and only to the upload host: a trusted-publishing
        token is minted later and is for uploads only.
        """
        from urllib.parse import urlsplit

        from trustpub.credentials import StaticCredentials
        from trustpub.upload.simple import SimpleIndex

        root = request.simple_url or request.registry.simple_root()
        authorization = None
        if isinstance(source, StaticCredentials) and urlsplit(root).netloc == urlsplit(request.registry.upload_url).netloc:
            authorization = source.credentials().authorization()
        return SimpleIndex(transport, root, authorization=authorization)

    def _make_uploader(self, request: PublishRequest, transport: Transport) -> Uploader:
        if self._uploader is not None:
            return self._uploader
        if request.uploader == "uv":
            from trustpub.upload.uv import UvUploader

            return UvUploader(request.uv_binary)
        from trustpub.upload.native import NativeUploader

        return NativeUploader(transport)

    def _credentials(self, request: PublishRequest, registry: Registry, transport: Transport) -> CredentialSource:
        from trustpub.credentials import resolve_credentials

        return resolve_credentials(
            registry, method=request.credentials, repository=request.repository, env=request.env, transport=transport,
            url_userinfo=request.url_credentials, url_source=request.url_credentials_source,
            keyring_provider=request.keyring_provider, provider=request.identity,
        )

    def _attestations_wanted(self, request: PublishRequest, source: CredentialSource) -> bool:
        from trustpub.credentials import CredentialKind

        trusted = source.kind is CredentialKind.TRUSTED_PUBLISHING
        if trusted and request.attestations is not False:
            # ActiveState, self-managed GitLab: PyPI refuses their attestations (trustpub.attestability).
            from trustpub.attestability import unattestable

            refusal = unattestable(getattr(source, "provider", None))
            if refusal is not None:
                if request.attestations:
                    raise refusal.error()
                _logger.warning("%s", refusal.notice())
                return False
        if request.attestations is None:
            return trusted
        if request.attestations and not trusted and request.registry.kind.value in ("pypi", "testpypi"):
            raise ConfigurationError(
                "--attestations needs trusted publishing: PyPI refuses attestations uploaded with an API token",
                hint="publish from CI with trusted publishing, or pass --no-attestations",
            )
        return bool(request.attestations)

    def _attester(self, request: PublishRequest, source: CredentialSource) -> Attester:
        """One signer per release, for the CI identity behind the credentials.

        The publisher the index will check is derived from the signing token's own
        claims, so a reusable workflow or a wrong repository stops here, before
        anything is written to the transparency log.
        """
        from trustpub.attest import Attester, load_trust_config, publisher_from_claims
        from trustpub.mint import TokenSource
        from trustpub.oidc import OIDCProvider, detect_ci

        provider: OIDCProvider
        if isinstance(source, TokenSource):
            # Every token the release needs, checked in one go before anything is signed.
            source.preflight(also=("sigstore",))
            provider = source.provider
        else:
            provider = request.identity or detect_ci(request.env).require_provider()
        env = os.environ if request.env is None else request.env
        trust = load_trust_config(request.sigstore, env=env)
        first = provider.fetch("sigstore")
        publisher = publisher_from_claims(first.claims)
        tokens = [first.value.reveal()]

        def token_source() -> str:
            if tokens:
                return tokens.pop()
            return str(provider.fetch("sigstore").value.reveal())

        return Attester(
            trust, token_source, publisher=publisher, slsa=request.slsa,
            attestations_dir=request.attestations_dir, builder_id=request.builder_id, ci_context=dict(env),
        )

    def _verify(
        self, dists: Sequence[Distribution], lookup: ExistingFiles, outcomes: Mapping[str, UploadResult],
        present: Mapping[str, str],
    ) -> None:
        """Every file is on the index with our sha256 (:func:`trustpub.upload.verify.verify_uploaded`)."""
        self._say(verify_uploaded(dists, lookup, outcomes, present))

    def _files(
        self, registry: Registry, dists: Sequence[Distribution], outcomes: Mapping[str, UploadResult],
        attested: Mapping[str, AttestedFile], *, present: Mapping[str, str], failed: bool = False,
        failures: Mapping[str, str] | None = None,
    ) -> list[PublishedFile]:
        project, version = _release_identity(dists)
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


class PublishFailed(TrustpubError):
    """The release stopped; ``cause`` says why and ``result`` what did land before it did.

    Keeps the cause's message, hint and exit code, so the CLI reports it unchanged.
    """

    def __init__(self, cause: TrustpubError, result: PublishResult) -> None:
        super().__init__(cause.message, hint=cause.hint)
        self.cause = cause
        self.result = result
        self.exit_code = cause.exit_code


def _release_identity(dists: Sequence[Distribution]) -> tuple[str, str]:
    from trustpub.release import Release  # the one place name and version are read

    release = Release.of(dists)
    return release.name, release.version


def _describe_source(source: CredentialSource) -> str:
    from trustpub.credentials import StaticCredentials

    if isinstance(source, StaticCredentials):
        return source.value.describe()
    from trustpub.mint import TokenSource  # not before: a token release never needs mint or oidc

    if isinstance(source, TokenSource):
        return f"trusted publishing ({source.provider.name})"
    return str(source.kind)
