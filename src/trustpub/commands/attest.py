"""``trustpub attest``: sign PEP 740 attestations for distributions, in CI.

The identity is the CI job's (``trustpub.oidc.detect_ci``): a token with audience
``sigstore`` gets one signing certificate for the whole release. Each file gets
``<dist>.publish.attestation`` (and ``<dist>.slsa.attestation`` with ``--slsa``),
verified right after signing against the publisher the index will check; the
release gets ``<name>-<version>.provenance.sigstore.json``, written in
``--attestations-dir`` or in trustpub's state folder (never in the dist folder:
``twine upload dist/*`` refuses files it does not know; never in the project: the
next sdist would pack it; see :mod:`trustpub.state`). Files that already exist
and verify are reused, stale ones replaced. Exit 0: done; 1: refused or failed; 2: usage.
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
    from trustpub.attest import describe_publisher
    from trustpub.operations import AttestRequest

    paths = given_or_dist(args.paths, "the distributions to attest")
    done = api.attest(
        AttestRequest(
            paths=tuple(Path(p) for p in paths),
            sigstore=args.sigstore,
            publisher=args.publisher,
            slsa=bool(args.slsa),
            attestations_dir=Path(args.attestations_dir) if args.attestations_dir else None,
            builder_id=args.builder_id,
        )
    )
    results, provenance, publisher = done.files, done.release_provenance, done.publisher

    if args.json:
        print(json.dumps(done.to_json(), indent=2, sort_keys=True))
    if not args.quiet:
        err = sys.stderr
        for result in results:
            verb = "reused" if result.reused else "signed"
            names = ", ".join(p.name for p in result.paths)
            print(printable(f"{result.filename}: {verb} {names} (log index {result.log_index})"), file=err)
        print(printable(f"release provenance: {provenance}"), file=err)
        signed = sum(not r.reused for r in results)
        print(
            f"trustpub attest: {len(results)} file(s), {signed} signed, {len(results) - signed} reused, "
            f"verified for {describe_publisher(publisher)} on {done.trust}",
            file=err,
        )
    return 0
