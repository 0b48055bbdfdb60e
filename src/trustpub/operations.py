"""``attest``, ``verify`` and ``inspect`` as library calls: a request dataclass in, a result dataclass out.

These are what ``trustpub attest``, ``trustpub verify`` and ``trustpub inspect`` run
(:mod:`trustpub.api` exports them); the commands only turn arguments into the
request and the result into lines and JSON. Nothing here prints, and a failure is a
:class:`~trustpub.errors.TrustpubError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trustpub.errors import ConfigurationError

if TYPE_CHECKING:
    from trustpub.attest import AttestedFile, FileVerification, InspectedAttestation, TrustTarget
    from trustpub.oidc import OIDCProvider

__all__ = [
    "AttestRequest",
    "AttestResult",
    "InspectReport",
    "VerifyRequest",
    "VerifyResult",
    "attest_release",
    "inspect_files",
    "verify_release",
]

SIGSTORE_AUDIENCE = "sigstore"


@dataclass(frozen=True)
class AttestRequest:
    """Sign PEP 740 attestations for the distributions under ``paths`` (``trustpub attest``).

    ``publisher`` is a spec (``github:OWNER/REPO/WORKFLOW[@ENV]``) the attestations are
    checked against; ``None``: the one the signing token's claims name. ``identity``
    signs (``None``: the CI's, detected from ``env``). ``attestations_dir`` ``None``
    writes them beside the dists and the release provenance in the state folder.
    """

    paths: tuple[Path, ...]
    sigstore: str | None = None
    publisher: str | None = None
    slsa: bool = False
    attestations_dir: Path | None = None
    builder_id: str | None = None
    identity: OIDCProvider | None = field(default=None, repr=False)
    env: Mapping[str, str] | None = field(default=None, repr=False)


@dataclass
class AttestResult:
    """What was signed: per file its attestations (signed or reused), and the release provenance."""

    sigstore: str
    trust: str
    publisher: Any
    certificates: int
    files: list[AttestedFile]
    release_provenance: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "sigstore": self.sigstore,
            "publisher": self.publisher.model_dump(),
            "certificates": self.certificates,
            "files": [f.to_json() for f in self.files],
            "release_provenance": str(self.release_provenance),
        }


def attest_release(request: AttestRequest) -> AttestResult:
    """Sign, verify and write the attestations of every file, and the release provenance."""
    from trustpub.attest import (
        Attester,
        default_provenance_dir,
        load_trust_config,
        parse_publisher_spec,
        publisher_from_claims,
    )
    from trustpub.discovery import collect_paths
    from trustpub.dists import inspect_many
    from trustpub.oidc import detect_ci

    files, _skipped = collect_paths(list(request.paths))
    dists = inspect_many(files)
    if not dists:
        raise ConfigurationError(f"no distributions found in {', '.join(map(str, request.paths))}")
    unknown = [d.filename for d in dists if d.filetype is None]
    if unknown:
        raise ConfigurationError(
            f"not a wheel or sdist: {', '.join(unknown)}", hint="PEP 740 attestations cover .whl and .tar.gz files"
        )
    env = os.environ if request.env is None else request.env
    trust = load_trust_config(request.sigstore, env=env)
    provider = request.identity or detect_ci(request.env).require_provider()
    first = provider.fetch(SIGSTORE_AUDIENCE)
    publisher = parse_publisher_spec(request.publisher) if request.publisher else publisher_from_claims(first.claims)
    tokens = [first.value.reveal()]

    def token_source() -> str:
        # The token fetched for the claims serves the first certificate.
        if tokens:
            return tokens.pop()
        return provider.fetch(SIGSTORE_AUDIENCE).value.reveal()

    attester = Attester(
        trust, token_source, publisher=publisher, slsa=request.slsa,
        attestations_dir=request.attestations_dir, builder_id=request.builder_id,
        ci_context=dict(env) if request.env is not None else None,
    )
    results = attester.attest(dists)
    provenance = attester.release_provenance(dists, out_dir=default_provenance_dir(request.attestations_dir))
    return AttestResult(trust.name, trust.describe(), publisher, attester.certificates, results, provenance)


@dataclass(frozen=True)
class VerifyRequest:
    """Would the index accept these files' attestations from ``publisher`` (``trustpub verify``)?

    ``attestations`` or ``provenance`` name the attestations of ONE distribution; else
    they are looked for beside each file (or in ``attestations_dir``). ``offline``:
    the production root shipped in sigstore-python unless ``sigstore`` names another.
    """

    paths: tuple[Path, ...]
    publisher: str
    sigstore: str | None = None
    offline: bool = False
    attestations: tuple[Path, ...] = ()
    provenance: Path | None = None
    attestations_dir: Path | None = None
    env: Mapping[str, str] | None = field(default=None, repr=False)


@dataclass
class VerifyResult:
    """One verdict per file; ``notes`` are remarks on the trust root chosen."""

    sigstore: str
    trust: str
    offline: bool
    publisher: Any
    files: list[FileVerification]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sigstore": self.sigstore,
            "offline": self.offline,
            "publisher": self.publisher.model_dump(),
            "files": [f.to_json() for f in self.files],
        }


def _trust_target(request: VerifyRequest) -> tuple[TrustTarget, list[str]]:
    """The root to verify against: ``sigstore``, else (online only) ``$TRUSTPUB_SIGSTORE``.

    Offline, only an explicit ``sigstore`` counts: an offline verdict must not change
    with a variable left in a shell. A ``TRUSTPUB_SIGSTORE`` that would have chosen
    another root is named in a note.
    """
    from trustpub.attest import SIGSTORE_ENV, load_trust_config

    spec = request.sigstore
    env = os.environ if request.env is None else request.env
    if not request.offline or (spec is not None and spec.strip()):
        return load_trust_config(spec, env=env), []
    ignored = (env.get(SIGSTORE_ENV) or "").strip()
    notes = []
    if ignored and ignored.lower() != "production":
        notes.append(
            f"--offline ignores {SIGSTORE_ENV} ({ignored}) and verifies against Sigstore production's root "
            "shipped in sigstore-python; pass --sigstore to choose another"
        )
    return load_trust_config("production"), notes


def verify_release(request: VerifyRequest) -> VerifyResult:
    """Verify each file's attestations as the index would (PyPI's rules, the publisher, the trust root)."""
    from trustpub.attest import (
        FileVerification,
        existing_attestations,
        parse_publisher_spec,
        verify_files,
        verify_provenance,
    )
    from trustpub.discovery import collect_paths
    from trustpub.dists import hash_file

    publisher = parse_publisher_spec(request.publisher)
    files, _skipped = collect_paths(list(request.paths))
    if not files:
        raise ConfigurationError(f"no distributions found in {', '.join(map(str, request.paths))}")
    explicit = list(request.attestations)
    if (explicit or request.provenance) and len(files) != 1:
        raise ConfigurationError(
            f"--attestation and --provenance name the attestations of ONE distribution, but {len(files)} were given",
            hint="pass exactly one distribution with them",
        )
    for path in [*explicit, *([request.provenance] if request.provenance else [])]:
        if not path.is_file():
            raise ConfigurationError(f"{path}: no such file")
    trust, notes = _trust_target(request)
    verifier = trust.verifier(offline=request.offline)
    results = []
    for path in files:
        sha256 = hash_file(path).sha256
        if request.provenance:
            result = verify_provenance(
                request.provenance.read_bytes(), path.name, sha256, publisher, verifier, source=request.provenance.name
            )
        else:
            where = request.attestations_dir or path.parent
            found = explicit or existing_attestations(where, path.name)
            if found:
                result = verify_files(path.name, sha256, found, publisher, verifier)
            else:
                result = FileVerification(
                    path.name, sha256,
                    reason=f"no attestation found (looked for {where / path.name}.publish.attestation, "
                    ".slsa.attestation and .attestation)",
                )
        results.append(result)
    return VerifyResult(trust.name, trust.describe(), request.offline, publisher, results, notes)


@dataclass
class InspectReport:
    """What the files say (nothing verified): every signed statement found, and the files that could not be read."""

    attestations: list[InspectedAttestation]
    errors: list[tuple[str, str]]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "attestations": [item.to_json() for item in self.attestations],
            "errors": [{"file": name, "reason": reason} for name, reason in self.errors],
        }


def inspect_files(paths: Sequence[str | Path]) -> InspectReport:
    """Read attestations, provenance documents or Sigstore bundles without verifying them."""
    from trustpub.attest import inspect_document

    if not paths:
        raise ConfigurationError("name at least one attestation file", hint="trustpub inspect dist/*.attestation")
    found: list[InspectedAttestation] = []
    failures: list[tuple[str, str]] = []
    for raw in paths:
        try:
            data = Path(raw).read_bytes()
        except OSError as exc:
            failures.append((str(raw), f"cannot read it: {exc.strerror}"))
            continue
        try:
            found.extend(inspect_document(data, str(raw)))
        except ValueError as exc:
            failures.append((str(raw), str(exc)))
    return InspectReport(found, failures)
