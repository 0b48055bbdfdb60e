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

from trustpub.commands._paths import given_or_dist
from trustpub.text import printable

__all__ = ["run"]

_logger = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    from trustpub import api
    from trustpub.attest import PUBLISH_V1, SLSA_PROVENANCE_V1
    from trustpub.operations import VerifyRequest

    paths = given_or_dist(args.paths, "the distributions to verify")
    verdict = api.verify(
        VerifyRequest(
            paths=tuple(Path(p) for p in paths),
            publisher=args.publisher,
            sigstore=args.sigstore,
            offline=bool(args.offline),
            attestations=tuple(Path(p) for p in (args.attestation or [])),
            provenance=Path(args.provenance) if args.provenance else None,
            attestations_dir=Path(args.attestations_dir) if args.attestations_dir else None,
        )
    )
    err = sys.stderr
    if not args.quiet:
        for note in verdict.notes:
            print(f"trustpub verify: note: {note}", file=err)
    ok = verdict.ok
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2, sort_keys=True))
    for result in verdict.files:
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
                failure += f" (was it signed on another Sigstore instance than {verdict.trust}?)"
            print(printable(f"{result.filename}: not verified: {failure}"), file=err)
    if not args.quiet:
        summary = "all verified" if ok else f"{sum(not r.ok for r in verdict.files)} of {len(verdict.files)} NOT verified"
        print(f"trustpub verify: {summary} against {verdict.trust} for {args.publisher}", file=err)
    return 0 if ok else 1
