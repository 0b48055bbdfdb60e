"""Reports of a release: the terminal summary, JSON, and CI-native output.

On GitHub Actions the summary also goes to ``$GITHUB_STEP_SUMMARY`` (Markdown) and
problems become ``::error::``/``::warning::`` annotations; on GitLab CI the summary
is a collapsible section of the job log. Reports are built from the
:class:`~trustpub.orchestrator.PublishResult` alone and never contain credentials.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from trustpub.orchestrator import PublishResult

__all__ = ["annotate", "render_text", "write_ci_summary"]

_SYMBOL = {"uploaded": "+", "already-present": "=", "skipped": "~", "failed": "!", "not-attempted": "-"}


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def render_text(result: PublishResult) -> str:
    """A plain-text summary: one line per file, then the totals."""
    head = "dry run: nothing was sent" if result.dry_run else f"release {result.project} {result.version} -> {result.registry}"
    lines = [head]
    width = max((len(f.filename) for f in result.files), default=10)
    for f in result.files:
        lines.append(
            f"  {_SYMBOL.get(f.outcome, '?')} {f.filename:<{width}}  {f.outcome:<15} {_size(f.size):>10}  sha256:{f.sha256}"
        )
        detail = f.project_url
        if f.attestation_url:
            detail += f"  provenance: {f.attestation_url}"
        if f.log_index is not None:
            detail += f"  rekor: {f.log_index}"
        lines.append(f"      {detail}")
    counts: dict[str, int] = {}
    for f in result.files:
        counts[f.outcome] = counts.get(f.outcome, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    total = sum(f.size for f in result.files)
    lines.append(f"{len(result.files)} file(s), {_size(total)}: {summary} in {result.elapsed:.2f}s")
    if result.credentials:
        lines.append(f"credentials: {result.credentials}")
    if result.provenance:
        lines.append(f"release provenance: {result.provenance}")
    if result.error:
        lines.append(f"FAILED: {result.error}")
    return "\n".join(lines)


def _markdown(result: PublishResult) -> str:
    title = "trustpub dry run" if result.dry_run else f"trustpub: {result.project} {result.version} to {result.registry}"
    rows = ["| file | outcome | size | sha256 |", "|---|---|---|---|"]
    for f in result.files:
        name = f"[{f.filename}]({f.project_url})"
        rows.append(f"| {name} | {f.outcome} | {_size(f.size)} | `{f.sha256[:16]}…` |")
    status = "failed: " + result.error if result.error else "complete"
    return "\n".join([f"### {title}", "", *rows, "", f"Release {status} in {result.elapsed:.1f}s.", ""])


def write_ci_summary(result: PublishResult, *, env: Mapping[str, str] | None = None, stream: TextIO | None = None) -> None:
    """GitHub: append Markdown to $GITHUB_STEP_SUMMARY. GitLab: a collapsible log section."""
    environ = os.environ if env is None else env
    summary_path = environ.get("GITHUB_STEP_SUMMARY")
    if environ.get("GITHUB_ACTIONS") == "true" and summary_path:
        with Path(summary_path).open("a", encoding="utf-8") as handle:
            handle.write(_markdown(result) + "\n")
    if environ.get("GITLAB_CI") and stream is not None:
        stamp = int(time.time())
        stream.write(f"\x1b[0Ksection_start:{stamp}:trustpub_summary[collapsed=false]\r\x1b[0Ktrustpub release summary\n")
        stream.write(render_text(result) + "\n")
        stream.write(f"\x1b[0Ksection_end:{stamp}:trustpub_summary\r\x1b[0K\n")


def annotate(message: str, *, level: str = "error", file: str | None = None, env: Mapping[str, str] | None = None, stream: TextIO) -> None:
    """A GitHub Actions annotation (``::error file=...::message``); nothing elsewhere."""
    environ = os.environ if env is None else env
    if environ.get("GITHUB_ACTIONS") != "true":
        return
    where = f" file={file}" if file else ""
    text = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    stream.write(f"::{level}{where}::{text}\n")
