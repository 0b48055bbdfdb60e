"""Preflight: every rule PyPI applies on upload that a client can check, before any byte leaves.

Each rule is one small function over an already-inspected distribution (or over the
whole release) with a stable id, PyPI's wording where it has one, and a hint saying
what to do. Rules live in :mod:`.filenames`, :mod:`.metadata`, :mod:`.archives` and
:mod:`.release`; they register themselves in :data:`RULES`, so ``trustpub check --json``
and the README's rule table come from the code::

    >>> from trustpub.checks import check_paths
    >>> report = check_paths(["dist/"])          # doctest: +SKIP
    >>> [f.rule for f in report.errors]          # doctest: +SKIP
    ['wheel-platform-tag']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from trustpub.checks._model import FileContext, Finding, Severity
from trustpub.discovery import (
    CollectedPaths,
    NotRegularFiles,
    collect_entries,
    collect_paths,
)
from trustpub.dists import Distribution, inspect_many

__all__ = [
    "RULES",
    "CheckReport",
    "CollectedPaths",
    "FileContext",
    "FileReport",
    "Finding",
    "NotRegularFiles",
    "Rule",
    "Severity",
    "all_rules",
    "check_distributions",
    "check_paths",
    "collect_entries",
    "collect_paths",
    "inspect_many",
]

# Discovery (collect_entries, collect_paths, NotRegularFiles) lives in trustpub.discovery;
# the names stay importable from here for callers that check what they collect.

FileRuleFunc = Callable[[FileContext], Iterable[Finding]]
ReleaseRuleFunc = Callable[[Sequence[FileContext]], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """A registered preflight rule: its id, what it checks, and the function."""

    id: str
    scope: Literal["file", "release"]
    summary: str
    func: Callable[..., Iterable[Finding]]


RULES: dict[str, Rule] = {}


def file_rule(rule_id: str, summary: str) -> Callable[[FileRuleFunc], FileRuleFunc]:
    """Register a per-file rule. Its findings are stamped with ``rule_id``."""

    def register(func: FileRuleFunc) -> FileRuleFunc:
        RULES[rule_id] = Rule(rule_id, "file", summary, func)
        return func

    return register


def release_rule(rule_id: str, summary: str) -> Callable[[ReleaseRuleFunc], ReleaseRuleFunc]:
    """Register a rule over all files of the release together."""

    def register(func: ReleaseRuleFunc) -> ReleaseRuleFunc:
        RULES[rule_id] = Rule(rule_id, "release", summary, func)
        return func

    return register


@dataclass
class FileReport:
    """The verdict on one file, as ``check --json`` prints it."""

    dist: Distribution
    name: str | None
    version: str | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def to_json(self) -> dict[str, object]:
        return {
            "filename": self.dist.filename,
            "path": str(self.dist.path),
            "name": self.name,
            "version": self.version,
            "filetype": self.dist.filetype,
            "size": self.dist.size,
            "sha256": self.dist.sha256,
            "blake2_256": self.dist.blake2_256,
            "errors": [f.to_json() for f in self.errors],
            "warnings": [f.to_json() for f in self.warnings],
        }


@dataclass
class CheckReport:
    """Per-file reports, release-level findings, and skipped (non-distribution) files."""

    files: list[FileReport]
    release: list[Finding] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.files for f in r.findings] + self.release

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def ok(self, *, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)

    def to_json(self, *, strict: bool = False) -> dict[str, object]:
        return {
            "ok": self.ok(strict=strict),
            "strict": strict,
            "files": [r.to_json() for r in self.files],
            "release": {
                "errors": [f.to_json() for f in self.release if f.severity == "error"],
                "warnings": [f.to_json() for f in self.release if f.severity == "warning"],
            },
            "skipped": [str(p) for p in self.skipped],
        }


def _load_rules() -> None:
    # Importing the rule modules registers their rules; done once, on first use.
    from trustpub.checks import archives, filenames, metadata, release  # noqa: F401


def all_rules() -> list[Rule]:
    """Every rule, registered in order (for ``trustpub check --list-rules``)."""
    _load_rules()
    return list(RULES.values())


def check_distributions(dists: Sequence[Distribution]) -> CheckReport:
    """Run every rule on already-inspected distributions."""
    _load_rules()
    contexts = [FileContext(d) for d in dists]
    reports: list[FileReport] = []
    for ctx in contexts:
        findings: list[Finding] = []
        for rule in RULES.values():
            # An entry that is not a file has one problem; every other rule would guess.
            if rule.scope == "file" and (ctx.dist.not_regular is None or rule.id == "file-regular"):
                findings.extend(f.stamped(rule.id, ctx.dist.filename) for f in rule.func(ctx))
        reports.append(FileReport(ctx.dist, ctx.project_name, ctx.version_string, findings))
    release: list[Finding] = []
    for rule in RULES.values():
        if rule.scope == "release":
            release.extend(f.stamped(rule.id, f.filename) for f in rule.func(contexts))
    # A release-level finding about one file belongs in that file's report too.
    by_name = {r.dist.filename: r for r in reports}
    kept: list[Finding] = []
    for finding in release:
        if finding.filename in by_name:
            by_name[finding.filename].findings.append(finding)
        else:
            kept.append(finding)
    return CheckReport(reports, kept)


def check_paths(paths: Sequence[str | Path]) -> CheckReport:
    """Inspect and check every distribution under ``paths`` (files or folders)."""
    from trustpub.dists import not_a_file

    collected = collect_entries(paths)
    dists = inspect_many(collected.files) + [not_a_file(path, what) for path, what in collected.not_regular]
    report = check_distributions(dists)
    report.skipped = list(collected.skipped)
    return report
