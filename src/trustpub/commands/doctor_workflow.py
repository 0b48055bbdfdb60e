"""``trustpub doctor --workflow FILE``: the workflow lint, rendered.

The lint itself is library code (:mod:`trustpub.workflow_lint`); this prints its
findings (stderr, ``path:line: severity [rule] message`` and the fix) or the JSON
document (stdout, with ``--json``). Exit 0: no error-level finding; 1: at least one;
2: the file cannot be read as a CI workflow.
"""

from __future__ import annotations

import argparse
import json
import sys

from trustpub.text import printable

__all__ = ["run_workflow_lint"]


def run_workflow_lint(args: argparse.Namespace) -> int:
    from trustpub.workflow_lint import lint_workflow

    report = lint_workflow(
        args.workflow,
        environment=getattr(args, "environment", None) or None,
        workflow_name=getattr(args, "workflow_name", None) or None,
    )
    if getattr(args, "json", False):
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    if not getattr(args, "quiet", False) or not report.ok:
        # The file's text (job names, refs) is outside text: every line escaped.
        print("\n".join(printable(line) for line in report.lines()), file=sys.stderr)
    return 0 if report.ok else 1
