"""The peer side of ``bench/attest``: pypi-attestations' documented library path, as one process.

pypi-attestations' own command line signs only against production or staging
Sigstore, so it cannot be pointed at the local instance; this script is its library
used the way its documentation shows, fairly: one ``SigningContext``, one
``signer()`` (so one certificate, as trustpub), ``Attestation.sign`` per file with
the file written, then ``Attestation.verify(publisher, Distribution.from_file(p))``
per file, as PyPI will. ``verify`` builds its verifier itself on every call
(``Verifier.production``); it is pointed at the local trust root the way
sigstore-offline.md §6 (b) describes, reading and parsing the trust root on each call
as ``Verifier.production(offline=True)`` reads its TUF cache.

The OIDC token comes from the job's GitHub-shaped environment (the local issuer's
``ACTIONS_ID_TOKEN_REQUEST_URL``), exactly where ``trustpub attest`` gets its own.

Usage: python bench/_peer_attest.py --trust-config FILE --out DIR FILE...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path


def github_token(audience: str) -> str:
    url = os.environ["ACTIONS_ID_TOKEN_REQUEST_URL"]
    if not url.startswith("http://127.0.0.1:"):
        raise SystemExit(f"refusing a non-loopback token URL: {url!r}")
    request = urllib.request.Request(
        f"{url}&audience={audience}", headers={"Authorization": f"bearer {os.environ['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["value"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trust-config", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()

    import pypi_attestations._impl as impl
    from pypi_attestations import Attestation, Distribution, GitHubPublisher
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext
    from sigstore.verify import Verifier

    trust_path = Path(args.trust_config)

    class LocalProduction(Verifier):
        """Approach (b): what ``Verifier.production(offline=True)`` does, on the local root."""

        @classmethod
        def production(cls, *, offline: bool = False) -> Verifier:
            parsed = ClientTrustConfig.from_json(trust_path.read_text())
            return Verifier(trusted_root=parsed.trusted_root)

        staging = production

    impl.Verifier = LocalProduction  # type: ignore[misc]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = ClientTrustConfig.from_json(trust_path.read_text())
    config.force_tlog_version = 1
    context = SigningContext.from_trust_config(config)
    with context.signer(IdentityToken(github_token("sigstore")), cache=True) as signer:
        for path in args.files:
            attestation = Attestation.sign(signer, Distribution.from_file(path))
            (out / f"{path.name}.publish.attestation").write_text(attestation.model_dump_json())
    publisher = GitHubPublisher(repository="octo-org/demo", workflow="release.yml")
    for path in args.files:
        attestation = Attestation.model_validate_json((out / f"{path.name}.publish.attestation").read_bytes())
        attestation.verify(publisher, Distribution.from_file(path), offline=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
