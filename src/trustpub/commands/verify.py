"""``trustpub verify``: would PyPI accept these attestations from this publisher?

For each distribution (PATHS: files or folders, default ``dist/``) it verifies the
attestations beside it (``<dist>.publish.attestation``, ``<dist>.slsa.attestation``,
``<dist>.attestation``), or the files named with ``--attestation``, or the PEP 740
provenance document PyPI serves (``--provenance FILE``), with PyPI's own rules
against ``--publisher SPEC`` on the ``--sigstore`` trust root.

``--offline`` verifies against the public production root shipped inside
sigstore-python (no network, nothing written), whatever ``TRUSTPUB_SIGSTORE`` says:
an offline verdict is meant to be reproducible on any machine, so it must not change
with a variable left over in a shell or CI job (the local world's ``env`` file sets
one). Another root is used offline only when named on the command line:
``--sigstore staging`` (the staging root shipped in sigstore-python) or
``--sigstore FILE`` (that trust config, read from disk; a file needs no network, so
``--offline`` adds nothing to it but is accepted).

One line per file on stderr; ``--json`` puts the verdicts on stdout.
Exit 0: every file verified; 1: at least one did not (the line says why); 2: usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trustpub.errors import ConfigurationError
from trustpub.text import printable

if TYPE_CHECKING:
    from trustpub.attest import TrustTarget

__all__ = ["run"]

_logger = logging.getLogger(__name__)


def _dist_files(paths: list[str]) -> list[Path]:
    import os

    from trustpub.checks import collect_paths

    if not paths:
        if not os.path.isdir("dist"):
            raise ConfigurationError("no PATHS given and there is no dist/ folder here", hint="pass the distributions to verify")
        paths = ["dist"]
    files, _skipped = collect_paths(paths)
    if not files:
        raise ConfigurationError(f"no distributions found in {', '.join(paths)}")
    return files


def _trust_target(spec: str | None, *, offline: bool, quiet: bool) -> TrustTarget:
    """The trust root to verify against: ``--sigstore``, else (online only) ``$TRUSTPUB_SIGSTORE``.

    Offline, only the command line counts (see the module docstring); a
    ``TRUSTPUB_SIGSTORE`` that would have chosen another root is named in a note, so
    nobody is left wondering why a local or staging attestation is refused.
    """
    import os

    from trustpub.attest import SIGSTORE_ENV, load_trust_config

    if not offline or (spec is not None and spec.strip()):
        return load_trust_config(spec)
    trust = load_trust_config("production")
    ignored = (os.environ.get(SIGSTORE_ENV) or "").strip()
    if ignored and ignored.lower() != "production" and not quiet:
        print(
            f"trustpub verify: note: --offline ignores {SIGSTORE_ENV} ({ignored}) and verifies against "
            "Sigstore production's root shipped in sigstore-python; pass --sigstore to choose another",
            file=sys.stderr,
        )
    return trust


def run(args: argparse.Namespace) -> int:
    from trustpub.attest import (
        PUBLISH_V1,
        SLSA_PROVENANCE_V1,
        FileVerification,
        existing_attestations,
        parse_publisher_spec,
        verify_files,
        verify_provenance,
    )
    from trustpub.dists import hash_file

    publisher = parse_publisher_spec(args.publisher)
    files = _dist_files(list(args.paths))
    explicit = [Path(p) for p in (args.attestation or [])]
    if (explicit or args.provenance) and len(files) != 1:
        raise ConfigurationError(
            f"--attestation and --provenance name the attestations of ONE distribution, but {len(files)} were given",
            hint="pass exactly one distribution with them",
        )
    for path in [*explicit, *([Path(args.provenance)] if args.provenance else [])]:
        if not path.is_file():
            raise ConfigurationError(f"{path}: no such file")
    attestations_dir = Path(args.attestations_dir) if args.attestations_dir else None

    trust = _trust_target(args.sigstore, offline=bool(args.offline), quiet=bool(args.quiet))
    verifier = trust.verifier(offline=bool(args.offline))

    results = []
    for path in files:
        sha256 = hash_file(path).sha256
        if args.provenance:
            result = verify_provenance(
                Path(args.provenance).read_bytes(), path.name, sha256, publisher, verifier, source=Path(args.provenance).name
            )
        else:
            where = attestations_dir or path.parent
            found = explicit or existing_attestations(where, path.name)
            if found:
                result = verify_files(path.name, sha256, found, publisher, verifier)
            else:
                result = FileVerification(
                    path.name,
                    sha256,
                    reason=f"no attestation found (looked for {where / path.name}.publish.attestation, "
                    ".slsa.attestation and .attestation)",
                )
        results.append(result)

    ok = all(r.ok for r in results)
    if args.json:
        document: dict[str, Any] = {
            "ok": ok,
            "sigstore": trust.name,
            "offline": bool(args.offline),
            "publisher": publisher.model_dump(),
            "files": [r.to_json() for r in results],
        }
        print(json.dumps(document, indent=2, sort_keys=True))
    err = sys.stderr
    for result in results:
        for note in result.notes:
            print(printable(f"{result.filename}: note: {note}"), file=err)
        if result.ok:
            if not args.quiet:
                labels = {PUBLISH_V1: "publish/v1", SLSA_PROVENANCE_V1: "SLSA provenance v1"}
                kinds = ", ".join(
                    f"{labels.get(c.predicate_type or '', c.predicate_type)} (log index {c.log_index})" for c in result.checks
                )
                print(printable(f"{result.filename}: verified: {kinds}"), file=err)
        else:
            failure = result.failure or ""
            if "certificate chain" in failure:
                failure += f" (was it signed on another Sigstore instance than {trust.describe()}?)"
            print(printable(f"{result.filename}: not verified: {failure}"), file=err)
    if not args.quiet:
        verdict = "all verified" if ok else f"{sum(not r.ok for r in results)} of {len(results)} NOT verified"
        print(f"trustpub verify: {verdict} against {trust.describe()} for {args.publisher}", file=err)
    return 0 if ok else 1
