"""What the workflow lint reports: findings with a line and a fix, and the verdict.

Kept apart from the rules so the command line, the JSON document and the tests read
one shape, whichever CI the file was written for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustpub.errors import ConfigurationError

__all__ = ["ERROR", "INFO", "WARNING", "Finding", "LintReport", "WorkflowLintError"]

#: Publishing from this file will fail (or must not happen): exit status 1.
ERROR = "error"
#: It may work, but trusted publishing is weaker than it should be.
WARNING = "warning"
#: Worth knowing; never changes the exit status.
INFO = "info"

_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}


class WorkflowLintError(ConfigurationError):
    """The file cannot be linted at all: unreadable, not YAML, not a workflow."""


@dataclass(frozen=True)
class Finding:
    """One thing in the file that breaks or weakens trusted publishing.

    ``rule`` is a stable id (``id-token-missing``), ``line`` the 1-based line the
    fix goes on, ``job`` the job it concerns (None for the whole file).
    """

    rule: str
    severity: str
    line: int
    message: str
    fix: str
    job: str | None = None

    def render(self, path: str) -> list[str]:
        """``path:line: severity [rule] message`` and the fix, as compilers print them."""
        return [f"{path}:{self.line}: {self.severity} [{self.rule}] {self.message}", f"    fix: {self.fix}"]

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "line": self.line,
            "job": self.job,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class LintReport:
    """Every finding of one file, most serious first, then by line."""

    path: Path
    #: "github" (Actions workflow) or "gitlab" (``.gitlab-ci.yml`` or an included file).
    kind: str
    #: The jobs judged to publish (by what they run), in file order.
    publishing_jobs: tuple[str, ...]
    findings: tuple[Finding, ...] = field(default=())

    @classmethod
    def of(cls, path: Path, kind: str, jobs: tuple[str, ...], findings: list[Finding]) -> LintReport:
        ordered = sorted(findings, key=lambda f: (_ORDER.get(f.severity, 3), f.line, f.rule))
        return cls(path, kind, jobs, tuple(ordered))

    @property
    def ok(self) -> bool:
        """No error-level finding (warnings do not fail the lint)."""
        return not any(f.severity == ERROR for f in self.findings)

    def rules(self) -> set[str]:
        return {f.rule for f in self.findings}

    def lines(self) -> list[str]:
        """The human report, for stderr."""
        shown = str(self.path)
        kind = "GitHub Actions workflow" if self.kind == "github" else "GitLab CI/CD configuration"
        jobs = ", ".join(self.publishing_jobs) or "none found"
        out = [f"trustpub doctor: {shown} ({kind}; publishing job: {jobs})"]
        for finding in self.findings:
            out.extend(finding.render(shown))
        errors = sum(1 for f in self.findings if f.severity == ERROR)
        warnings = sum(1 for f in self.findings if f.severity == WARNING)
        if not self.findings:
            out.append("result: nothing found that breaks or weakens trusted publishing")
        else:
            verdict = "publishing from this file would NOT work" if errors else "publishing would work, but see the warnings"
            out.append(f"result: {verdict} ({errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)})")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "kind": self.kind,
            "ok": self.ok,
            "publishing_jobs": list(self.publishing_jobs),
            "findings": [f.to_json() for f in self.findings],
        }
