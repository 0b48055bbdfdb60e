"""Sign a release's PEP 740 attestations, check each one as PyPI will, write them.

::

    trust = load_trust_config("production")
    attester = Attester(trust, lambda: provider.fetch("sigstore").value.reveal(),
                        publisher=publisher_from_claims(claims), slsa=True)
    files = attester.attest(dists)                       # [AttestedFile, ...]
    where = default_provenance_dir()                     # the state folder: not dist/, not the project
    bundle_path = attester.release_provenance(dists, out_dir=where)

What it does, and why:

* **Reuse before signing.** An attestation file already beside a dist (or in
  ``attestations_dir``) is verified for that exact file and the publisher; if it
  passes it is kept, so a re-run (or TestPyPI then PyPI) signs nothing new. One that
  fails (another digest, another identity, another trust root, unreadable) is
  replaced. Existing files never abort a run.
* **Predict before signing.** The first OIDC token's claims say what the certificate
  will name; if the index's publisher policy cannot accept that (a reusable workflow,
  another repository), the run stops before writing anything to a transparency log.
* **One certificate per release**, renewed before it expires (:mod:`._signing`).
* **Verify right after signing**, with :func:`trustpub.pep740.verify_attestation`
  (PyPI's rules) against the publisher: sigstore-python does not check Rekor's answer
  when signing, so this is where a bad log entry, a wrong identity or a wrong trust
  root shows up, before any upload. Only verified attestations are written.
* **Parallel**: signing waits on Rekor, so files are signed and verified on a few
  threads sharing the one signer and one verifier.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from trustpub.attest._files import (
    Kind,
    attestation_path,
    load_attestation,
    log_position,
    release_provenance_name,
    write_atomic,
)
from trustpub.attest._identity import describe_publisher, predict_rejection
from trustpub.attest._signing import DEFAULT_REFRESH_MARGIN, SignerPool, SigningError
from trustpub.attest._statements import (
    PUBLISH_V1,
    SLSA_PROVENANCE_V1,
    CIContext,
    Subject,
    encode_statement,
    file_slsa_statement,
    publish_statement,
    release_statement,
)
from trustpub.attest._trust import TrustTarget
from trustpub.errors import TrustpubError
from trustpub.oidc import decode_claims

if TYPE_CHECKING:
    from pypi_attestations import Attestation, Publisher
    from sigstore.verify import Verifier

__all__ = ["AttestationFailed", "AttestedFile", "Attester", "DistLike", "unsigned_statements"]

_logger = logging.getLogger(__name__)

#: Signing threads: each mostly waits on Rekor (a round trip per file on a real
#: network), so more threads than cores pays; they share one signer and one verifier.
DEFAULT_JOBS = 8

_PREDICATE: dict[Kind, str] = {"publish": PUBLISH_V1, "slsa": SLSA_PROVENANCE_V1}


class AttestationFailed(TrustpubError):
    """An attestation could not be made, or PyPI would refuse the one that was made."""


class DistLike(Protocol):
    """What attesting needs of a distribution (``trustpub.dists.Distribution`` has it)."""

    @property
    def path(self) -> Path: ...

    @property
    def filename(self) -> str: ...

    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True)
class AttestedFile:
    """The attestations of one distribution file, ready to upload.

    ``paths`` are the attestation files in upload order (publish, then SLSA);
    ``log_index`` and ``integrated_time`` are the Rekor entry of the publish
    attestation; ``reused`` is True when every file already existed and verified.
    """

    filename: str
    sha256: str
    paths: tuple[Path, ...]
    log_index: int | None
    integrated_time: int | None
    reused: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "sha256": self.sha256,
            "attestations": [str(p) for p in self.paths],
            "log_index": self.log_index,
            "integrated_time": self.integrated_time,
            "reused": self.reused,
        }


@dataclass(frozen=True)
class _Job:
    dist: DistLike
    kind: Kind
    path: Path


def unsigned_statements(
    dists: Sequence[DistLike],
    *,
    slsa: bool = False,
    release: bool = True,
    ci_context: Mapping[str, str] | CIContext | None = None,
    builder_id: str | None = None,
    finished_on: float | None = None,
) -> list[bytes]:
    """The statements a real run would sign, as bytes, without any network (dry run).

    Order: per file (sorted by filename) the publish statement, then the SLSA one if
    ``slsa``; the release provenance last if ``release``. ``ci_context`` is read as in
    :class:`Attester` (there is no token here, so CI variables are all a dry run knows);
    without it the SLSA predicates carry only the builder id fallback.
    """
    context = _context(ci_context)
    out: list[bytes] = []
    for dist in sorted(dists, key=lambda d: d.filename):
        out.append(encode_statement(publish_statement(dist.filename, dist.sha256)))
        if slsa:
            out.append(encode_statement(file_slsa_statement(dist.filename, dist.sha256, context, builder_id=builder_id)))
    if release and dists:
        subjects = [Subject(d.filename, d.sha256) for d in dists]
        when = time.time() if finished_on is None else finished_on
        out.append(encode_statement(release_statement(subjects, context, finished_on=when, builder_id=builder_id)))
    return out


def _context(value: Mapping[str, str] | CIContext | None) -> CIContext:
    if isinstance(value, CIContext):
        return value
    return CIContext.resolve(value)


class Attester:
    """Makes the attestations of one release (see the module docstring).

    ``token_source`` returns a fresh raw OIDC JWT with audience ``sigstore`` (called
    once per signing certificate). ``publisher`` is the identity the index will
    check (:func:`~trustpub.attest.publisher_from_claims`). ``attestations_dir``
    keeps the files out of the dist folder. ``ci_context`` adds to what the SLSA
    predicates say: keys named like :class:`CIContext` fields override, CI variables
    (``GITHUB_*``, GitLab's ``CI_*``; passing ``os.environ`` is fine) fill what the
    signing token's claims do not say. ``clock`` decides certificate
    renewal; ``jobs`` is the number of signing threads.
    """

    def __init__(
        self,
        trust: TrustTarget,
        token_source: Callable[[], str],
        *,
        publisher: Publisher,
        slsa: bool = False,
        attestations_dir: Path | None = None,
        builder_id: str | None = None,
        ci_context: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        jobs: int | None = None,
    ) -> None:
        self.trust = trust
        self.publisher = publisher
        self.slsa = slsa
        self.attestations_dir = attestations_dir
        self.builder_id = builder_id
        self._token_source = token_source
        self._ci_given = ci_context
        self._ci_context: CIContext | None = None
        self._clock = clock
        self._refresh_margin = refresh_margin
        self._jobs = jobs
        self._pool: SignerPool | None = None
        self._pool_lock = threading.Lock()
        self._verifier: Verifier | None = None
        self._claims: dict[str, Any] = {}

    # -- public ------------------------------------------------------------------

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return ("publish", "slsa") if self.slsa else ("publish",)

    @property
    def certificates(self) -> int:
        """Signing certificates obtained so far (one per Fulcio request)."""
        return self._pool.certificates if self._pool else 0

    def directory_for(self, dist: DistLike) -> Path:
        return self.attestations_dir if self.attestations_dir is not None else Path(dist.path).parent

    def attest(self, dists: Sequence[DistLike]) -> list[AttestedFile]:
        """Reuse what verifies, sign and verify the rest, write the files.

        Raises :class:`AttestationFailed` naming the file and the reason when an
        attestation cannot be made or would be refused by the index.
        """
        seen: set[str] = set()
        for dist in dists:
            if dist.filename in seen:
                raise AttestationFailed(f"{dist.filename}: given twice", hint="pass each distribution once")
            seen.add(dist.filename)
        verifier = self._get_verifier()
        reused: dict[tuple[str, Kind], Attestation] = {}
        jobs: list[_Job] = []
        # Checking existing files is pure CPU (verification): threads would only contend.
        for dist, kind, path, attestation in (self._check_existing((d, k)) for d in dists for k in self.kinds):
            if attestation is not None:
                reused[(dist.filename, kind)] = attestation
            else:
                jobs.append(_Job(dist, kind, path))
        _logger.debug("attest: %d reused, %d to sign", len(reused), len(jobs))
        made: dict[tuple[str, Kind], Attestation] = {}
        if jobs:
            context = self._ci()
            # Creating a file is a syscall that waits on the disk (and lets other threads
            # run): one writer thread takes that off the signing path.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="trustpub-write") as writer:
                writes: list[tuple[_Job, Future[None]]] = []

                def sign(job: _Job) -> Attestation:
                    attestation = self._sign_one(job, context, verifier)
                    data = attestation.model_dump_json().encode()
                    writes.append((job, writer.submit(write_atomic, job.path, data)))
                    return attestation

                signed = self._map(sign, jobs)
            for job, written in writes:
                error = written.exception()
                if error is not None:
                    reason = getattr(error, "strerror", None) or error
                    raise AttestationFailed(
                        f"{job.dist.filename}: cannot write {job.path}: {reason}",
                        hint="check that the folder is writable (or pass --attestations-dir)",
                    )
            for job, attestation in zip(jobs, signed, strict=True):
                made[(job.dist.filename, job.kind)] = attestation
        results: list[AttestedFile] = []
        for dist in dists:
            directory = self.directory_for(dist)
            paths = tuple(attestation_path(directory, dist.filename, kind) for kind in self.kinds)
            publish = made.get((dist.filename, "publish")) or reused[(dist.filename, "publish")]
            index, integrated = log_position(publish)
            results.append(
                AttestedFile(
                    filename=dist.filename,
                    sha256=dist.sha256,
                    paths=paths,
                    log_index=index,
                    integrated_time=integrated,
                    reused=all((dist.filename, kind) in reused for kind in self.kinds),
                )
            )
        return results

    def release_provenance(self, dists: Sequence[DistLike], *, out_dir: Path, indexes: Sequence[str] = ()) -> Path:
        """Sign the release provenance (all files, one statement), verify it, write the bundle.

        Returns the path of ``<name>-<version>.provenance.sigstore.json`` in ``out_dir``.
        :func:`~trustpub.attest.default_provenance_dir` gives the usual ``out_dir``: a
        dist folder is the wrong place (``twine upload dist/*`` refuses unknown files), and
        so is the project (the next sdist would pack it).
        """
        from sigstore.dsse import Statement

        if not dists:
            raise AttestationFailed("no distributions to cover in the release provenance")
        context = self._ci()
        subjects = [Subject(d.filename, d.sha256) for d in dists]
        try:
            statement = release_statement(subjects, context, finished_on=self._clock(), builder_id=self.builder_id,
                                          indexes=indexes)
        except ValueError as exc:
            raise AttestationFailed(f"release provenance: {exc}") from None
        payload = encode_statement(statement)
        target = out_dir / release_provenance_name(d.filename for d in dists)
        try:
            bundle = self._signers().sign(Statement(payload))
        except SigningError as exc:
            raise AttestationFailed(f"{target.name}: {exc.message}", hint=exc.hint) from None
        self._check_bundle(bundle, payload, target.name)
        write_atomic(target, bundle.to_json().encode())
        _logger.debug("release provenance for %d files: %s", len(dists), target)
        return target

    # -- steps -------------------------------------------------------------------

    def _get_verifier(self) -> Verifier:
        if self._verifier is None:
            self._verifier = self.trust.verifier()
        return self._verifier

    def _map(self, func: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[func(i) for i in items]`` on a few threads; the first error wins, in order."""
        workers = self._jobs or DEFAULT_JOBS
        if len(items) < 2 or workers < 2:
            return [func(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="trustpub-attest") as pool:
            futures: list[Future[Any]] = [pool.submit(func, item) for item in items]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f in done and f.exception() is not None]
            if failed:
                for future in futures:
                    future.cancel()
                error = failed[0].exception()
                assert error is not None
                raise error
            return [f.result() for f in futures]

    def _check_existing(self, item: tuple[DistLike, Kind]) -> tuple[DistLike, Kind, Path, Attestation | None]:
        from trustpub.pep740 import AttestationRejected, verify_attestation

        dist, kind = item
        path = attestation_path(self.directory_for(dist), dist.filename, kind)
        if not path.exists():
            return dist, kind, path, None
        try:
            attestation = load_attestation(path)
            predicate_type = verify_attestation(
                attestation,
                filename=dist.filename,
                sha256=dist.sha256,
                publisher=self.publisher,
                verifier=self._get_verifier(),
            )
        except (ValueError, AttestationRejected) as exc:
            _logger.info("%s: stale %s attestation %s, replacing it (%s)", dist.filename, kind, path, exc)
            return dist, kind, path, None
        if predicate_type != _PREDICATE[kind]:
            _logger.info("%s: %s holds a %s attestation, replacing it", dist.filename, path, predicate_type)
            return dist, kind, path, None
        _logger.debug("%s: reusing %s", dist.filename, path)
        return dist, kind, path, attestation

    def _signers(self) -> SignerPool:
        """The release's signer pool; created (and the identity checked) on first use."""
        with self._pool_lock:
            if self._pool is not None:
                return self._pool
            first = self._token_source()
            try:
                claims = decode_claims(first)
            except TrustpubError as exc:
                raise AttestationFailed(f"the OIDC token for Sigstore is unusable: {exc.message}", hint=exc.hint) from None
            reason = predict_rejection(claims, self.publisher)
            if reason is not None:
                raise AttestationFailed(
                    f"attestations signed by this job would be refused by the index: {reason}",
                    hint=f"the index checks attestations against {describe_publisher(self.publisher)}; "
                    "publish from that workflow (not a reusable one), or upload without attestations",
                )
            handed_out = [False]

            def tokens() -> str:
                # The token already fetched serves the first certificate.
                if not handed_out[0]:
                    handed_out[0] = True
                    return first
                return self._token_source()

            context = self.trust.signing_context()
            self._pool = SignerPool(context, tokens, clock=self._clock, refresh_margin=self._refresh_margin)
            self._claims = claims
            return self._pool

    def _ci(self) -> CIContext:
        if self._ci_context is None:
            self._signers()
            self._ci_context = CIContext.resolve(self._ci_given, self._claims)
        return self._ci_context

    def _statement(self, job: _Job, context: CIContext) -> bytes:
        if job.kind == "publish":
            return encode_statement(publish_statement(job.dist.filename, job.dist.sha256))
        return encode_statement(file_slsa_statement(job.dist.filename, job.dist.sha256, context, builder_id=self.builder_id))

    def _sign_one(self, job: _Job, context: CIContext, verifier: Verifier) -> Attestation:
        from pypi_attestations import Attestation
        from sigstore.dsse import Statement

        from trustpub.pep740 import AttestationRejected, verify_attestation

        filename = job.dist.filename
        try:
            payload = self._statement(job, context)
        except ValueError as exc:
            raise AttestationFailed(f"{filename}: {exc}") from None
        try:
            bundle = self._signers().sign(Statement(payload))
        except SigningError as exc:
            raise AttestationFailed(f"{filename}: {exc.message}", hint=exc.hint) from None
        try:
            attestation = Attestation.from_bundle(bundle)
        except Exception as exc:
            raise AttestationFailed(f"{filename}: the signed bundle is not a PEP 740 attestation: {exc}") from None
        try:
            verify_attestation(
                attestation, filename=filename, sha256=job.dist.sha256, publisher=self.publisher, verifier=verifier
            )
        except AttestationRejected as exc:
            raise AttestationFailed(
                f"{filename}: the new {job.kind} attestation would be refused by the index: {exc.reason}",
                hint="nothing was written or uploaded; check --sigstore (the trust root must match the instance "
                "that signed) and the publisher",
            ) from None
        _logger.debug("%s: signed and verified %s (%s)", filename, job.path.name, job.kind)
        return attestation

    def _check_bundle(self, bundle: Any, payload: bytes, name: str) -> None:
        """Verify the release provenance bundle under the publisher's policy, like an attestation."""
        try:
            payload_type, verified = self._get_verifier().verify_dsse(bundle, self.publisher._as_policy())
        except Exception as exc:
            raise AttestationFailed(
                f"{name}: the signed release provenance does not verify: {exc}",
                hint="check --sigstore: the trust root must match the instance that signed",
            ) from None
        if payload_type != "application/vnd.in-toto+json" or verified != payload:
            raise AttestationFailed(f"{name}: the signed release provenance does not carry the statement that was signed")
