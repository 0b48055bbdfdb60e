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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from trustpub.checks import CheckReport, check_distributions, collect_paths, inspect_many
from trustpub.dists import Distribution
from trustpub.errors import CheckFailed, ConfigurationError, TrustpubError
from trustpub.journal import Journal
from trustpub.registry import Registry
from trustpub.request import PublishRequest
from trustpub.upload._types import Uploader, UploadRequest, UploadResult
from trustpub.upload.engine import upload_order

if TYPE_CHECKING:
    from trustpub.attest import AttestedFile, Attester
    from trustpub.credentials import CredentialSource
    from trustpub.transport import Transport
    from trustpub.upload.progress import UploadProgress
    from trustpub.upload.simple import ExistingFiles

__all__ = ["Orchestrator", "PublishFailed", "PublishResult", "PublishedFile", "VerificationFailed"]

_logger = logging.getLogger(__name__)

FileOutcome = Literal["uploaded", "already-present", "skipped", "failed", "not-attempted"]


class VerificationFailed(TrustpubError):
    """After the upload, the index does not list our bytes for some file."""


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
    statements: list[bytes] = field(default_factory=list, repr=False)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(f.outcome in ("uploaded", "already-present", "skipped") for f in self.files)

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

    def publish(self, request: PublishRequest) -> PublishResult:
        started = time.monotonic()
        request.validate()
        dists = self._preflight(request)
        project, version = _release_identity(dists)
        registry = request.registry
        if request.dry_run:
            return self._dry_run(request, dists, project, version, started)

        from trustpub.transport import Transport

        transport = self._transport or Transport(maxsize=max(4, request.jobs))
        journal = Journal.for_release(request.state_dir, registry=registry.upload_url, project=project, version=version)
        journal.start_run(dry_run=False)
        result = PublishResult(registry, project, version, [], credentials=None)
        outcomes: dict[str, UploadResult] = {}
        attested: dict[str, AttestedFile] = {}
        attester: Attester | None = None
        try:
            # identity (choosing the credentials makes no network call; minting comes later)
            source = self._credentials(request, registry, transport)
            result.credentials = _describe_source(source)

            # plan: which files are already there, by hash (stops on a conflict)
            lookup = self._lookup(request, transport, source)
            from trustpub.upload.engine import UploadEngine, plan_release

            present = plan_release(dists, lookup)
            todo = [d for d in dists if d.filename not in present]
            for dist in dists:
                journal.record(dist.filename, "already-present" if dist.filename in present else "planned", sha256=dist.sha256)
            self._say(f"plan: {len(todo)} to upload, {len(present)} already on {registry}")

            use_attestations = self._attestations_wanted(request, source)

            # attest only what still has to be uploaded
            if use_attestations and todo:
                attester = self._attester(request, source)
                attested = {a.filename: a for a in attester.attest(todo)}
                for entry in attested.values():
                    if entry.log_index is not None:
                        self._say(f"attested {entry.filename} (Rekor log index {entry.log_index})")

            # mint (first token) and upload
            if todo:
                source.credentials()

            def request_for(dist: Distribution) -> UploadRequest:
                creds = source.credentials()
                att = attested.get(dist.filename)
                return UploadRequest(
                    dist.path, dist.filename, dist.sha256, dist.blake2_256, dist.size, registry.upload_url,
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
                self._make_uploader(request, transport), lookup=lookup, jobs=request.jobs, on_result=record,
                progress=self._progress,
            )
            try:
                engine.upload(dists, request_for)
            except TrustpubError as exc:
                failed = getattr(exc, "filename", None)
                for dist in dists:
                    if dist.filename not in outcomes and (failed is None or dist.filename == failed):
                        journal.record(dist.filename, "failed", sha256=dist.sha256, reason=exc.message)
                raise

            # verify: the index lists our bytes under every name
            self._verify(dists, lookup)
            if use_attestations:
                # The release provenance is written once per release: a re-run after a
                # crash between the last upload and this step writes it then.
                from trustpub.attest import default_provenance_dir, release_provenance_name

                target = default_provenance_dir([d.path for d in dists], request.attestations_dir) / (
                    release_provenance_name(d.filename for d in dists)
                )
                if attester is None and not target.exists():
                    attester = self._attester(request, source)
                if attester is not None:
                    result.provenance = self._release_provenance(request, dists, attester)
                elif target.exists():
                    result.provenance = target
            journal.finish_run("ok")
        except TrustpubError as exc:
            journal.finish_run(f"failed: {exc.message}")
            result.error = str(exc)
            result.files = self._files(registry, dists, outcomes, attested, present={}, failed=True)
            result.elapsed = time.monotonic() - started
            raise PublishFailed(exc, result) from exc
        result.files = self._files(registry, dists, outcomes, attested, present=present)
        result.elapsed = time.monotonic() - started
        return result

    # -- steps -------------------------------------------------------------------------

    def _preflight(self, request: PublishRequest) -> list[Distribution]:
        files, _skipped = collect_paths(request.paths)
        if not files:
            raise ConfigurationError(
                f"no distributions found in {', '.join(map(str, request.paths))}",
                hint="build them first (python -m build)",
            )
        dists = inspect_many(files)
        report: CheckReport = check_distributions(dists)
        if report.errors:
            for finding in report.errors:
                self._say(finding.line())
            raise CheckFailed(
                f"preflight found {len(report.errors)} problem(s) PyPI would refuse; nothing was uploaded",
                hint="fix them and rebuild (trustpub check shows the same list)",
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
        uploader = self._uploader or RecordingUploader()
        statements: list[bytes] = []
        if request.attestations is not False:
            from trustpub.attest import unsigned_statements

            statements = unsigned_statements(dists, slsa=request.slsa, builder_id=request.builder_id)
        files: list[PublishedFile] = []
        for dist in dists:
            upload = uploader.upload(
                UploadRequest(dist.path, dist.filename, dist.sha256, dist.blake2_256, dist.size,
                              registry.upload_url, "__token__", Secret(""))
            )
            files.append(
                PublishedFile(
                    dist.filename, dist.filetype, dist.size, dist.sha256, upload.outcome,
                    registry.project_url(project, version),
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
            registry, method=request.credentials, repository=request.repository, env=request.env, transport=transport
        )

    def _attestations_wanted(self, request: PublishRequest, source: CredentialSource) -> bool:
        from trustpub.credentials import CredentialKind

        trusted = source.kind is CredentialKind.TRUSTED_PUBLISHING
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
            provider = source.provider
        else:
            provider = detect_ci(request.env).require_provider()
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

    def _release_provenance(self, request: PublishRequest, dists: Sequence[Distribution], attester: Attester) -> Path:
        from trustpub.attest import default_provenance_dir

        # Beside the dist folder, not in it: twine and the official action refuse unknown files in dist/.
        out_dir = default_provenance_dir([d.path for d in dists], request.attestations_dir)
        path: Path = attester.release_provenance(dists, out_dir=out_dir)
        return path

    def _verify(self, dists: Sequence[Distribution], lookup: ExistingFiles) -> None:
        listed = lookup.files(dists[0].filename.split("-", 1)[0], refresh=True)
        wrong = [d.filename for d in dists if listed.get(d.filename, "").lower() != d.sha256]
        if wrong:
            raise VerificationFailed(
                f"after the upload the index does not list our sha256 for: {', '.join(wrong)}",
                hint="look at the project page; re-run the same command to complete the release",
            )
        self._say(f"verified: the index lists all {len(dists)} file(s) with our sha256")

    def _files(
        self, registry: Registry, dists: Sequence[Distribution], outcomes: Mapping[str, UploadResult],
        attested: Mapping[str, AttestedFile], *, present: Mapping[str, str], failed: bool = False,
    ) -> list[PublishedFile]:
        project, version = _release_identity(dists)
        files = []
        for dist in dists:
            upload = outcomes.get(dist.filename)
            outcome: FileOutcome
            if upload is not None:
                outcome = upload.outcome
            elif dist.filename in present:
                outcome = "already-present"
            else:
                outcome = "not-attempted" if failed else "failed"
            att = attested.get(dist.filename)
            files.append(
                PublishedFile(
                    dist.filename, dist.filetype, dist.size, dist.sha256, outcome,
                    registry.project_url(project, version),
                    registry.integrity_url(project, version, dist.filename) if att else None,
                    att.log_index if att else None,
                    upload.message if upload else "",
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
    from packaging.metadata import parse_email

    for dist in dists:
        if dist.metadata:
            raw, _ = parse_email(dist.metadata)
            name, version = raw.get("name"), raw.get("version")
            if isinstance(name, str) and isinstance(version, str):
                return name, version
    parts = dists[0].filename.split("-")
    return parts[0], parts[1] if len(parts) > 1 else ""


def _describe_source(source: CredentialSource) -> str:
    from trustpub.credentials import StaticCredentials
    from trustpub.mint import TokenSource

    if isinstance(source, StaticCredentials):
        return source.value.describe()
    if isinstance(source, TokenSource):
        return f"trusted publishing ({source.provider.name})"
    return str(source.kind)
