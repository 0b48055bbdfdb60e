"""Reports of a release to several indexes: one section per index, in publishing order.

Each index that was tried gets the single-index report of :mod:`trustpub.report`
(terminal text, GitHub step summary, GitLab log section); an index that was refused
or not reached gets a short section saying so. The JSON document is
:meth:`trustpub.multi.MultiPublishResult.to_json` (``schema``
:data:`trustpub.multi.REPORT_SCHEMA`). Outside text is escaped as in :mod:`trustpub.report`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

from trustpub.multi_result import MultiPublishResult, TargetOutcome
from trustpub.report import append_step_summary, render_text, write_ci_summary
from trustpub.text import markdown_text, printable

__all__ = ["render_text_many", "write_ci_summary_many"]

_STATUS = {"landed": "landed", "failed": "FAILED", "refused": "REFUSED (checked before any upload)",
           "not-attempted": "not attempted"}


def _headline(result: MultiPublishResult) -> str:
    landed = sum(t.status == "landed" for t in result.targets)
    what = f"{result.project} {result.version}".strip() or "release"
    if result.dry_run:
        return f"dry run: {what} to {len(result.targets)} indexes, nothing was sent"
    return f"{what} to {len(result.targets)} indexes: {landed} of {len(result.targets)} landed"


def _status(target: TargetOutcome) -> str:
    text = _STATUS.get(target.status, target.status)
    if target.smoke:
        text += f", smoke test {target.smoke}"
    return text


def render_text_many(result: MultiPublishResult) -> str:
    """The terminal summary: a headline, then each index's own summary, indented."""
    lines = [printable(_headline(result))]
    total = len(result.targets)
    for number, target in enumerate(result.targets, 1):
        lines.append(f"== {number}/{total} {printable(target.index.name)}: {_status(target)}")
        if target.result is not None:
            lines.extend("   " + line for line in render_text(target.result).splitlines())
        elif target.error:
            lines.append(f"   {printable(_first_line(target.error))}")
    if result.provenance:
        lines.append(f"release provenance (every index): {printable(result.provenance)}")
    if result.error:
        lines.append(f"FAILED: {printable(result.error)}")
    return "\n".join(lines)


def _markdown_head(result: MultiPublishResult) -> str:
    rows = ["| # | index | status |", "|---|---|---|"]
    for number, target in enumerate(result.targets, 1):
        rows.append(f"| {number} | {markdown_text(target.index.name)} | {markdown_text(_status(target))} |")
    tail = [f"Stopped: {markdown_text(_first_line(result.error))}", ""] if result.error else []
    return "\n".join([f"## trustpub: {markdown_text(_headline(result))}", "", *rows, "", *tail])


def _first_line(text: str) -> str:
    # The whole message was printed once already; a section needs its first line.
    return text.splitlines()[0] if text else text


def _markdown_untried(target: TargetOutcome, refused: bool) -> str:
    if target.error:
        why = markdown_text(_first_line(target.error))
    elif refused:
        why = "not started: the checks made before any upload stopped the release at another index"
    else:
        why = "not started: an earlier index failed"
    return "\n".join([f"### trustpub: {markdown_text(target.index.name)}: {markdown_text(_status(target))}", "", why, ""])


def write_ci_summary_many(
    result: MultiPublishResult, *, env: Mapping[str, str] | None = None, stream: TextIO | None = None
) -> None:
    """GitHub: the overview table, then one section per index in $GITHUB_STEP_SUMMARY; GitLab: log sections."""
    environ = os.environ if env is None else env
    append_step_summary(_markdown_head(result), env=environ)
    for target in result.targets:
        if target.result is not None:
            write_ci_summary(target.result, env=environ, stream=stream)
        else:
            append_step_summary(_markdown_untried(target, any(t.status == "refused" for t in result.targets)), env=environ)
