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
import os
import sys
from pathlib import Path
from typing import Any

from trustpub.errors import ConfigurationError
from trustpub.text import printable

__all__ = ["run"]

_logger = logging.getLogger(__name__)

SIGSTORE_AUDIENCE = "sigstore"


def run(args: argparse.Namespace) -> int:
    from trustpub.attest import (
        Attester,
        default_provenance_dir,
        describe_publisher,
        load_trust_config,
        parse_publisher_spec,
        publisher_from_claims,
    )
    from trustpub.checks import collect_paths, inspect_many
    from trustpub.oidc import detect_ci

    paths = list(args.paths)
    if not paths:
        if not os.path.isdir("dist"):
            raise ConfigurationError("no PATHS given and there is no dist/ folder here", hint="pass the distributions to attest")
        paths = ["dist"]
    files, _skipped = collect_paths(paths)
    dists = inspect_many(files)
    if not dists:
        raise ConfigurationError(f"no distributions found in {', '.join(paths)}")
    unknown = [d.filename for d in dists if d.filetype is None]
    if unknown:
        raise ConfigurationError(
            f"not a wheel or sdist: {', '.join(unknown)}", hint="PEP 740 attestations cover .whl and .tar.gz files"
        )
    trust = load_trust_config(args.sigstore)

    provider = detect_ci().require_provider()
    first = provider.fetch(SIGSTORE_AUDIENCE)
    publisher = parse_publisher_spec(args.publisher) if args.publisher else publisher_from_claims(first.claims)
    tokens = [first.value.reveal()]

    def token_source() -> str:
        # The token fetched for the claims serves the first certificate.
        if tokens:
            return tokens.pop()
        return provider.fetch(SIGSTORE_AUDIENCE).value.reveal()

    attestations_dir = Path(args.attestations_dir) if args.attestations_dir else None
    attester = Attester(
        trust,
        token_source,
        publisher=publisher,
        slsa=bool(args.slsa),
        attestations_dir=attestations_dir,
        builder_id=args.builder_id,
    )
    results = attester.attest(dists)
    out_dir = default_provenance_dir(attestations_dir)
    provenance = attester.release_provenance(dists, out_dir=out_dir)

    if args.json:
        document: dict[str, Any] = {
            "ok": True,
            "sigstore": trust.name,
            "publisher": publisher.model_dump(),
            "certificates": attester.certificates,
            "files": [r.to_json() for r in results],
            "release_provenance": str(provenance),
        }
        print(json.dumps(document, indent=2, sort_keys=True))
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
            f"verified for {describe_publisher(publisher)} on {trust.describe()}",
            file=err,
        )
    return 0
