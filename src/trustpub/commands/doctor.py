"""``trustpub doctor``: diagnose trusted publishing from inside the CI job.

It detects the CI, fetches an OIDC token for the index's audience, shows the decoded
claims (never the token), prints the trusted publisher to enter on the index (with a
link to the project's publishing settings, pre-filled), lists what is likely to go
wrong, and with ``--mint`` tries a real exchange and explains the index's answer.
It never uploads anything. Exit 0: publishing would work; 1: it would not; 2: usage.

The diagnosis itself is library code (:mod:`trustpub.diagnosis`); this module only
renders it.
"""

from __future__ import annotations

import argparse
import json
import sys

from trustpub.diagnosis import (
    PLACEHOLDER_PROJECT,
    DoctorReport,
    MintOutcome,
    diagnose_publishing,
    find_project,
)
from trustpub.oidc import shown_claims
from trustpub.registry import Registry
from trustpub.text import printable

__all__ = [
    "PLACEHOLDER_PROJECT",
    "DoctorReport",
    "MintOutcome",
    "diagnose_publishing",
    "find_project",
    "render_text",
    "run",
]


def render_text(report: DoctorReport) -> list[str]:
    """The human report, one line per entry (goes to stderr)."""
    target = report.index if report.index == report.upload_url else f"{report.index} ({report.upload_url})"
    lines = [f"trustpub doctor: trusted publishing to {target}"]
    lines.append(f"  CI:       {report.ci or 'none detected'}")
    if report.provider and report.provider != report.ci:
        lines.append(f"  identity: {report.provider}")
    if report.audience:
        lines.append(f"  audience: {report.audience}")
    if report.claims:
        lines.append("OIDC token claims (decoded; the token itself is never shown):")
        lines.extend(f"  {name}: {value}" for name, value in shown_claims(report.claims).items())
    if report.publisher is not None:
        lines.append(
            f"trusted publisher to enter on {report.index} for project {report.project!r} "
            f"[{report.project_source}] ({report.publisher.kind}):"
        )
        lines.extend(f"  {line}" for line in report.publisher.lines())
        lines.append(f"  spec:     {report.publisher.spec}")
        if report.settings_url:
            lines.append(f"  settings: {report.settings_url}")
    if report.problems:
        lines.append("problems:")
        for problem in report.problems:
            lines.append(f"  {problem.severity:<7} [{problem.id}] {problem.message}")
            if problem.hint:
                lines.append(f"          fix: {problem.hint}")
    if report.mint is not None:
        lines.append(f"mint: {'OK' if report.mint.ok else 'FAILED'}: {report.mint.message}")
        if report.mint.hint:
            lines.append(f"      fix: {report.mint.hint}")
        if report.mint.expires:
            lines.append(f"  expires: {report.mint.expires}")
    if report.ok:
        verdict = "publishing would work" if report.mint is not None else "looks right (add --mint to try a real exchange)"
    else:
        errors = sum(1 for p in report.problems if p.severity == "error")
        verdict = f"publishing would NOT work ({errors} error{'s' if errors != 1 else ''})"
    lines.append(f"result: {verdict}")
    return lines


def run(args: argparse.Namespace) -> int:
    if getattr(args, "workflow", None):
        # Reads a CI file before any job runs; no CI, token or index involved.
        from trustpub.commands.doctor_workflow import run_workflow_lint

        return run_workflow_lint(args)
    if getattr(args, "environment", None) or getattr(args, "workflow_name", None):
        from trustpub.errors import ConfigurationError

        raise ConfigurationError(
            "--environment and --workflow-name describe the publisher for --workflow FILE",
            hint="add --workflow .github/workflows/release.yml (or .gitlab-ci.yml), or use --publisher SPEC",
        )
    registry = Registry.parse(args.to)
    as_json = bool(getattr(args, "json", False))
    report = diagnose_publishing(
        registry,
        project=getattr(args, "project", None),
        mint=bool(getattr(args, "mint", False)),
        publisher_spec=getattr(args, "publisher", None),
        # The ::add-mask:: line would corrupt the JSON document on stdout; the
        # minted token is never printed anyway.
        mask=not as_json,
    )
    if as_json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    if not getattr(args, "quiet", False) or not report.ok:
        # Claims and the index's answers are outside text: each line escaped.
        print("\n".join(printable(line) for line in render_text(report)), file=sys.stderr)
    return 0 if report.ok else 1
