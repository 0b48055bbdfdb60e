"""Reports of a release: the terminal summary, JSON, and CI-native output.

On GitHub Actions the summary also goes to ``$GITHUB_STEP_SUMMARY`` (Markdown) and
problems become ``::error::``/``::warning::`` annotations; on GitLab CI the summary
is a collapsible section of the job log. Reports are built from the
:class:`~trustpub.publish_result.PublishResult` alone and never contain credentials.

Filenames, URLs and error messages in a report come from files and servers, so every
one goes through :mod:`trustpub.text` on its way out: the summary is a CI log and a
Markdown page, and neither may be steered by what it quotes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from trustpub.outcomes import FileOutcome
from trustpub.publish_result import PublishResult
from trustpub.text import markdown_text, markdown_url, printable

if TYPE_CHECKING:
    from trustpub.checks import Finding

__all__ = ["annotate", "append_step_summary", "render_text", "write_ci_summary", "write_refusal_summary"]

_SYMBOL: dict[FileOutcome, str] = {"uploaded": "+", "already-present": "=", "skipped": "~", "staged": "*", "failed": "!",
                                 "not-attempted": "-"}


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def render_text(result: PublishResult) -> str:
    """A plain-text summary: one line per file, then the totals (outside text escaped)."""
    head = (
        "dry run: nothing was sent"
        if result.dry_run
        else f"release {printable(result.project)} {printable(result.version)} -> {printable(result.registry)}"
    )
    lines = [head]
    names = [printable(f.filename) for f in result.files]
    width = max((len(name) for name in names), default=10)
    for f, name in zip(result.files, names, strict=True):
        lines.append(
            f"  {_SYMBOL.get(f.outcome, '?')} {name:<{width}}  {f.outcome:<15} {_size(f.size):>10}  sha256:{f.sha256}"
        )
        detail = printable(f.project_url)
        if f.attestation_url:
            detail += f"  provenance: {printable(f.attestation_url)}"
        if f.log_index is not None:
            detail += f"  rekor: {f.log_index}"
        lines.append(f"      {detail}")
        if f.outcome == "failed" and f.message:
            lines.append(f"      failed: {printable(f.message)}")
    counts: dict[str, int] = {}
    for f in result.files:
        counts[f.outcome] = counts.get(f.outcome, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    total = sum(f.size for f in result.files)
    lines.append(f"{len(result.files)} file(s), {_size(total)}: {summary} in {result.elapsed:.2f}s")
    if result.credentials:
        lines.append(f"credentials: {printable(result.credentials)}")
    if not result.dry_run:
        lines.append("upload API: " + ("Upload 2.0 (PEP 694 session)" if result.upload_api == "upload-2.0" else "legacy"))
    if result.session_url:
        state = "published" if result.published else "staged, NOT published" if result.published is False else "open"
        lines.append(f"session: {printable(result.session_url)} ({state})")
    if result.stage_url:
        lines.append(f"stage (pip --index-url): {printable(result.stage_url)}")
    if result.session_token:
        lines.append(f"session token: {printable(result.session_token)}")
    if result.provenance:
        lines.append(f"release provenance: {printable(result.provenance)}")
    if result.error:
        lines.append(f"FAILED: {printable(result.error)}")
    return "\n".join(lines)


def _markdown(result: PublishResult) -> str:
    if result.dry_run:
        title = "trustpub dry run"
    else:
        title = (
            f"trustpub: {markdown_text(result.project)} {markdown_text(result.version)} "
            f"to {markdown_text(result.registry)}"
        )
    rows = ["| file | outcome | size | sha256 |", "|---|---|---|---|"]
    for f in result.files:
        name = f"[{markdown_text(f.filename)}]({markdown_url(f.project_url)})"
        rows.append(f"| {name} | {f.outcome} | {_size(f.size)} | `{f.sha256[:16]}…` |")
    status = "failed: " + markdown_text(result.error) if result.error else "complete"
    if result.error is None and result.published is False:
        status = "staged, not published (the stage URL is in the job log)"
    api = "Upload 2.0" if result.upload_api == "upload-2.0" else "the legacy upload API"
    return "\n".join([f"### {title}", "", *rows, "", f"Release {status} in {result.elapsed:.1f}s, through {api}.", ""])


def _refusal_markdown(message: str, findings: Sequence[Finding]) -> str:
    lines = ["### trustpub: release refused, nothing was uploaded", ""]
    if findings:
        lines += ["| file | rule | problem |", "|---|---|---|"]
        for finding in findings:
            problem = finding.message + (f" ({finding.hint})" if finding.hint else "")
            lines.append(
                f"| {markdown_text(finding.filename or 'release')} | {markdown_text(finding.rule)} | {markdown_text(problem)} |"
            )
        lines.append("")
    lines += [markdown_text(message), ""]
    return "\n".join(lines)


def append_step_summary(markdown: str, *, env: Mapping[str, str] | None = None) -> None:
    """GitHub Actions: append ``markdown`` and a line break to $GITHUB_STEP_SUMMARY; elsewhere nothing."""
    environ = os.environ if env is None else env
    summary_path = environ.get("GITHUB_STEP_SUMMARY")
    if environ.get("GITHUB_ACTIONS") == "true" and summary_path:
        with Path(summary_path).open("a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")


def write_ci_summary(result: PublishResult, *, env: Mapping[str, str] | None = None, stream: TextIO | None = None) -> None:
    """GitHub: append Markdown to $GITHUB_STEP_SUMMARY. GitLab: a collapsible log section."""
    environ = os.environ if env is None else env
    append_step_summary(_markdown(result), env=environ)
    if environ.get("GITLAB_CI") and stream is not None:
        stamp = int(time.time())
        stream.write(f"\x1b[0Ksection_start:{stamp}:trustpub_summary[collapsed=false]\r\x1b[0Ktrustpub release summary\n")
        stream.write(render_text(result) + "\n")
        stream.write(f"\x1b[0Ksection_end:{stamp}:trustpub_summary\r\x1b[0K\n")


def write_refusal_summary(
    message: str, findings: Sequence[Finding] = (), *, env: Mapping[str, str] | None = None
) -> None:
    """GitHub: append why a release stopped before any file was processed (the preflight
    findings, if that is what stopped it) to $GITHUB_STEP_SUMMARY; nothing elsewhere."""
    append_step_summary(_refusal_markdown(message, findings), env=env)


def annotate(message: str, *, level: str = "error", file: str | None = None, env: Mapping[str, str] | None = None, stream: TextIO) -> None:
    """A GitHub Actions annotation (``::error file=...::message``); nothing elsewhere."""
    environ = os.environ if env is None else env
    if environ.get("GITHUB_ACTIONS") != "true":
        return
    # printable() leaves no line break in the text, so the annotation cannot end early
    # and start a command of its own; '%' still has to be escaped for the runner.
    where = f" file={_command_property(file)}" if file else ""
    text = printable(message).replace("%", "%25")
    stream.write(f"::{level}{where}::{text}\n")


def _command_property(value: str) -> str:
    """A workflow-command property value, escaped as the GitHub runner reads it."""
    return printable(value).replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
