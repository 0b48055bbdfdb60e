"""What ``trustpub publish`` prints while a release runs and when it stops, to one index or several.

:func:`progress_printer` shows the progress lines; :func:`report_stop` shows why the
release stopped (the error, its annotation, the refusal summary when nothing was
processed) and hands back the partial result the error carries.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from trustpub.errors import TrustpubError
from trustpub.text import printable

__all__ = ["progress_printer", "report_stop"]


def progress_printer(quiet: bool) -> Callable[[str], None]:
    """The ``say`` of a release: each line on stderr, none with ``quiet``."""

    def say(line: str) -> None:
        if not quiet:
            # Lines quote filenames and servers: escaped, so none can steer the log.
            print(printable(line), file=sys.stderr, flush=True)

    return say


def report_stop(exc: TrustpubError, *, quiet: bool, json_output: bool, env: Mapping[str, str]) -> tuple[Any, int]:
    """Show why the release stopped; returns (the result ``exc`` carries, or ``None``; the exit code)."""
    from trustpub.report import annotate, write_refusal_summary
    from trustpub.text import printable_lines

    result = getattr(exc, "result", None)
    findings = getattr(exc, "findings", ())
    if quiet:  # -q still shows the errors (say() showed them otherwise)
        for finding in findings:
            print(finding.line(), file=sys.stderr)
    print(f"trustpub: error: {printable_lines(exc.with_docs_link())}", file=sys.stderr)
    annotate(exc.message, env=env, stream=sys.stdout if not json_output else sys.stderr)
    if result is None:
        write_refusal_summary(str(exc), findings, env=env)
    return result, exc.exit_code
