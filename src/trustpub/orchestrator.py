"""The publish chain: validate, preflight, plan, identity, attest, mint, upload, verify, report.

Nothing is uploaded when anything before the upload fails, and the order is chosen
so that the cheap, local, certain steps come first: a preflight failure costs no
network call, a conflicting file on the index costs no signature, and a signature
that the index would refuse is caught before its file is sent. This module is the chain;
the steps it calls live apart: :mod:`trustpub.publish_result` (what it returns),
:mod:`trustpub.collaborators` (credentials, index reader, uploader, attester),
:mod:`trustpub.dry_run` and :mod:`trustpub.session_publish` (Upload 2.0)::

    >>> result = Orchestrator().publish(PublishRequest(paths=(Path("dist"),), registry=Registry.parse("pypi")))  # doctest: +SKIP
    >>> [f.outcome for f in result.files]                                                                       # doctest: +SKIP
    ['uploaded', 'uploaded', 'uploaded']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from trustpub.checks import CheckReport, check_distributions, collect_paths, inspect_many
from trustpub.collaborators import (
    credential_source,
    describe_source,
    index_lookup,
    make_attester,
    make_uploader,
    wants_attestations,
)
from trustpub.dists import Distribution
from trustpub.errors import CheckFailed, ConfigurationError, TrustpubError
from trustpub.journal import Journal
from trustpub.publish_result import (
    PreviousRun,
    PublishedFile,
    PublishFailed,
    PublishResult,
    previous_run,
    published_files,
    release_identity,
)
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
            from trustpub.session_publish import finish_stage

            return finish_stage(request, started, transport=self._transport, say=self._say)
        dists = list(prepared.dists) if prepared is not None else self._preflight(request)
        project, version = release_identity(dists)
        registry = request.registry
        if request.dry_run:
            from trustpub.dry_run import dry_run

            return dry_run(request, dists, project, version, started, uploader=self._uploader, say=self._say)

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
            source = prepared.source if prepared is not None else credential_source(request, registry, transport)
            result.credentials = describe_source(source)

            # plan: which files are already there, by hash (stops on a conflict)
            lookup = index_lookup(request, transport, source)
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

            use_attestations = prepared.attestations if prepared is not None else wants_attestations(request, source)
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
                attester = make_attester(request, source)
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
                from trustpub.session_publish import through_session

                through_session(request, transport, upload_api, source, dists, todo, attested, journal,
                                result, outcomes, failures, say=self._say)
                if request.stage_only:
                    journal.finish_run("staged")
                    result.files = [
                        replace(f, outcome="staged") if f.filename in outcomes else f
                        for f in published_files(registry, dists, outcomes, attested, present=present)
                    ]
                    result.elapsed = time.monotonic() - started
                    return result
            uploader = make_uploader(request, transport, self._uploader)
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
                    attester = make_attester(request, source)
                if attester is not None:
                    result.provenance = attester.release_provenance(dists, out_dir=out_dir)
                elif target.exists():
                    result.provenance = target
            journal.finish_run("ok")
        except TrustpubError as exc:
            journal.finish_run(f"failed: {exc.message}")
            result.error = str(exc)
            result.files = published_files(registry, dists, outcomes, attested, present=present, failed=True, failures=failures)
            result.elapsed = time.monotonic() - started
            raise PublishFailed(exc, result) from exc
        result.files = published_files(registry, dists, outcomes, attested, present=present)
        result.elapsed = time.monotonic() - started
        return result

    # -- steps a multi-index release runs once, up front (trustpub.multi) -------------

    def preflight(self, request: PublishRequest) -> list[Distribution]:
        """Inspect and check the files (raises :class:`CheckFailed`); upload order."""
        return self._preflight(request)

    def credentials_for(self, request: PublishRequest, transport: Transport) -> CredentialSource:
        """The credential source for ``request.registry`` (no network call yet)."""
        return credential_source(request, request.registry, transport)

    def lookup_for(self, request: PublishRequest, transport: Transport, source: CredentialSource) -> ExistingFiles:
        """The reader of what ``request.registry`` already holds."""
        return index_lookup(request, transport, source)

    def attestations_wanted(self, request: PublishRequest, source: CredentialSource) -> bool:
        """Whether this index gets attestations with these credentials (may raise)."""
        return wants_attestations(request, source)

    def attester_for(self, request: PublishRequest, source: CredentialSource) -> Attester:
        """The release's signer for the CI identity behind ``source``."""
        return make_attester(request, source)

    # -- steps -------------------------------------------------------------------------

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

    def _verify(
        self, dists: Sequence[Distribution], lookup: ExistingFiles, outcomes: Mapping[str, UploadResult],
        present: Mapping[str, str],
    ) -> None:
        """Every file is on the index with our sha256 (:func:`trustpub.upload.verify.verify_uploaded`)."""
        self._say(verify_uploaded(dists, lookup, outcomes, present))
