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

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from trustpub.checks._model import FileContext, Finding, Severity
from trustpub.dists import Distribution, inspect_many
from trustpub.errors import CheckFailed

__all__ = [
    "RULES",
    "CheckReport",
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


#: File names in a dist folder that are never distributions and are skipped quietly.
_SIDECAR_SUFFIXES = (".attestation", ".asc", ".sig", ".sigstore", ".sigstore.json", ".provenance", ".intoto.jsonl", ".publish.json")


def _looks_like_distribution(path: Path) -> bool:
    from trustpub.dists import LEGACY_EXTENSIONS

    name = path.name
    if name.endswith(_SIDECAR_SUFFIXES):
        return False
    return name.endswith((".whl", ".tar.gz", ".zip", *LEGACY_EXTENSIONS))


class NotRegularFiles(CheckFailed):
    """Entries named like distributions that are not regular files (rule ``file-regular``).

    A folder, a dangling symbolic link or a FIFO named ``*.whl`` is a broken build
    output, not a file to leave out quietly: a release that silently lacks it is
    incomplete.
    """

    def __init__(self, entries: Sequence[tuple[Path, str]]) -> None:
        lines = "; ".join(f"{path}: error [file-regular] {_not_regular_message(what)}" for path, what in entries)
        super().__init__(lines, hint="remove the entry or rebuild the distributions (python -m build)")
        self.entries = tuple(entries)


def _not_regular_message(what: str) -> str:
    return f"named like a distribution but is {what}, not a regular file"


@dataclass(frozen=True)
class CollectedPaths:
    """What PATHS expand to: distribution files, skipped files, and non-regular entries."""

    files: tuple[Path, ...]
    skipped: tuple[Path, ...]
    not_regular: tuple[tuple[Path, str], ...]


def collect_entries(paths: Sequence[str | Path]) -> CollectedPaths:
    """Expand PATHS (files or folders) into files, skipped files and non-regular entries.

    A folder contributes the files directly inside it that look like distributions;
    everything else there (attestations, signatures, ``.DS_Store``) is skipped with a
    note. A file named explicitly is always checked, whatever its name, so a typo
    cannot silently drop it. An entry that looks like a distribution (or is named
    explicitly) but is not a regular file (a folder, a FIFO, a dangling link) is
    reported in ``not_regular`` with what it is; it is never opened.
    """
    from trustpub.dists import describe_entry
    from trustpub.errors import ConfigurationError

    files: list[Path] = []
    skipped: list[Path] = []
    irregular: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.iterdir()):
                what = describe_entry(child)
                if what is not None:
                    if _looks_like_distribution(child):
                        irregular.append((child, what))
                    continue
                if _looks_like_distribution(child):
                    if child.resolve() not in seen:
                        seen.add(child.resolve())
                        files.append(child)
                else:
                    skipped.append(child)
        elif path.is_file():
            if path.resolve() not in seen:
                seen.add(path.resolve())
                files.append(path)
        elif os.path.lexists(path):
            irregular.append((path, describe_entry(path) or "not a regular file"))
        else:
            raise ConfigurationError(f"{raw}: no such file or folder")
    return CollectedPaths(tuple(files), tuple(skipped), tuple(irregular))


def collect_paths(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """Expand PATHS into (distribution files, skipped files); see :func:`collect_entries`.

    Raises :class:`NotRegularFiles` (exit status 1) when an entry named like a
    distribution is not a regular file, so no caller can skip one silently.
    """
    collected = collect_entries(paths)
    if collected.not_regular:
        raise NotRegularFiles(collected.not_regular)
    return list(collected.files), list(collected.skipped)


def check_paths(paths: Sequence[str | Path]) -> CheckReport:
    """Inspect and check every distribution under ``paths`` (files or folders)."""
    from trustpub.dists import not_a_file

    collected = collect_entries(paths)
    dists = inspect_many(collected.files) + [not_a_file(path, what) for path, what in collected.not_regular]
    report = check_distributions(dists)
    report.skipped = list(collected.skipped)
    return report
