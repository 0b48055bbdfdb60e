"""``trustpub check``: preflight only, one line per problem on stderr."""

from __future__ import annotations

import argparse
import json
import sys

from trustpub import api
from trustpub.commands._paths import given_or_dist
from trustpub.errors import ConfigurationError
from trustpub.text import printable


def _list_rules(as_json: bool) -> int:
    from trustpub.checks import all_rules

    rules = all_rules()
    if as_json:
        json.dump([{"id": r.id, "scope": r.scope, "summary": r.summary} for r in rules], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for rule in rules:
            print(f"{rule.id:<36} {rule.summary}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list_rules:
        return _list_rules(args.json)
    paths = given_or_dist(args.paths, "the files or folders to check")
    report = api.check(paths)
    if not report.files:
        raise ConfigurationError(
            f"no distributions found in {', '.join(map(str, paths))}",
            hint="build them first (python -m build) or pass the files explicitly",
        )
    err = sys.stderr
    if not args.quiet:
        for skipped in report.skipped:
            print(printable(f"{skipped}: note: skipped, not a distribution"), file=err)
    for finding in report.findings:
        if finding.severity == "warning" and args.quiet and not args.strict:
            continue
        severity = "error" if (finding.severity == "warning" and args.strict) else finding.severity
        line = finding.line() if severity == finding.severity else finding.line().replace(": warning [", ": error [", 1)
        print(line, file=err)
    ok = report.ok(strict=args.strict)
    if not args.quiet:
        n_err = len(report.errors) + (len(report.warnings) if args.strict else 0)
        n_warn = 0 if args.strict else len(report.warnings)
        verdict = "PASSED" if ok else "FAILED"
        print(
            f"{verdict}: {len(report.files)} file(s) checked, {n_err} error(s), {n_warn} warning(s)",
            file=err,
        )
    if args.json:
        json.dump(report.to_json(strict=args.strict), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0 if ok else 1
