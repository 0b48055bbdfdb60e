"""``trustpub inspect``: show what an attestation says (nothing is verified here).

FILE is a PEP 740 attestation, a PEP 740 provenance document (PyPI's integrity API
answer) or a Sigstore bundle such as the release provenance. For each signed
statement: the subjects, the predicate type, the statement, the certificate identity
(issuer, SAN, repository, workflow, ref, sha) and the Rekor entry (log index,
integrated time). Exit 0 when every file could be read, 1 when one could not.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from trustpub.text import printable

__all__ = ["render_text", "run"]


def render_text(item: Any) -> list[str]:
    """Human lines for one :class:`~trustpub.attest.InspectedAttestation`."""
    from trustpub.attest import rfc3339

    lines = [f"{item.source}: {item.kind} (not verified; use `trustpub verify`)"]
    if item.statement_error:
        lines.append(f"  statement:      unreadable: {item.statement_error}")
    else:
        lines.append(f"  predicate type: {item.predicate_type}")
        for name, digest in item.subjects:
            lines.append(f"  subject:        {name}  sha256:{digest}")
    identity = item.identity
    if identity is not None:
        lines.append(f"  issuer:         {identity.issuer or '-'}")
        lines.append(f"  identity (SAN): {identity.san or '-'}")
        lines.append(f"  repository:     {identity.repository or '-'}")
        lines.append(f"  workflow:       {identity.workflow or '-'}")
        lines.append(f"  ref:            {identity.ref or '-'}")
        lines.append(f"  sha:            {identity.sha or '-'}")
        if identity.run_invocation_uri:
            lines.append(f"  run:            {identity.run_invocation_uri}")
        lines.append(f"  certificate:    valid {identity.not_before} .. {identity.not_after}")
    else:
        lines.append("  certificate:    unreadable")
    when = f"{rfc3339(item.integrated_time)} ({item.integrated_time})" if item.integrated_time is not None else "-"
    lines.append(f"  log entry:      index {item.log_index if item.log_index is not None else '-'}, integrated {when}")
    if item.statement is not None:
        lines.append("  statement:")
        text = json.dumps(item.statement, indent=2, sort_keys=True)
        lines.extend(f"    {line}" for line in text.splitlines())
    return lines


def run(args: argparse.Namespace) -> int:
    from trustpub import api

    report = api.inspect(list(args.files))
    if args.json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        for item in report.attestations:
            # Subjects, identities and paths are what the file says: each line escaped.
            print("\n".join(printable(line) for line in render_text(item)), file=sys.stderr)
    for name, reason in report.errors:
        print(printable(f"{name}: cannot inspect: {reason}"), file=sys.stderr)
    return 0 if report.ok else 1
