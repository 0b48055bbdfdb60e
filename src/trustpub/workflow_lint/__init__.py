"""Workflow lint: read a CI file before any job runs, and name what breaks trusted publishing.

``trustpub doctor --workflow FILE`` runs it; so can any program::

    from pathlib import Path
    from trustpub.workflow_lint import lint_workflow

    report = lint_workflow(Path(".github/workflows/release.yml"), environment="pypi")
    for finding in report.findings:
        print(finding.line, finding.severity, finding.rule, finding.message, finding.fix)
    raise SystemExit(0 if report.ok else 1)

GitHub Actions workflows and GitLab CI/CD files (``.gitlab-ci.yml``, an included
file, a CI/CD component) are told apart by where they live and what they contain.
Each :class:`Finding` has a stable rule id, the 1-based line the fix goes on, and
the fix. Errors are what PyPI would refuse (no OIDC permission, a missing or
misnamed GitLab id token, a publisher's environment or workflow file that differs,
``pull_request_target``); warnings are what makes a release easier to subvert.

The rules read only the file: ``environment`` and ``workflow_name`` are what the
trusted publisher on the index names, when the caller knows it.
"""

from __future__ import annotations

from pathlib import Path

from trustpub.workflow_lint._model import (
    ERROR,
    INFO,
    WARNING,
    Finding,
    LintReport,
    WorkflowLintError,
)

__all__ = ["ERROR", "INFO", "WARNING", "Finding", "LintReport", "WorkflowLintError", "lint_workflow"]


def lint_workflow(
    path: Path | str,
    *,
    environment: str | None = None,
    workflow_name: str | None = None,
    kind: str | None = None,
) -> LintReport:
    """Lint one CI file. Raises :class:`WorkflowLintError` when it cannot be read as one.

    ``kind`` forces ``github`` or ``gitlab``; by default a file under
    ``.github/workflows/`` (or with ``on:`` and ``jobs:``) is GitHub's, anything
    with GitLab's keys or ``script:`` jobs is GitLab's.
    """
    from trustpub.workflow_lint._github import lint_github
    from trustpub.workflow_lint._gitlab import lint_gitlab, looks_like_gitlab
    from trustpub.workflow_lint._nodes import compose_file, is_mapping

    path = Path(path)
    if kind not in (None, "github", "gitlab"):
        raise WorkflowLintError(f"unknown workflow kind {kind!r}", hint="use github or gitlab")
    docs = compose_file(path)
    if not docs or not all(is_mapping(d) for d in docs):
        raise WorkflowLintError(
            f"{path}: not a CI workflow (the file is {'empty' if not docs else 'YAML, but not a mapping of keys'})",
            hint="give the path of a GitHub Actions workflow or of a .gitlab-ci.yml",
        )
    if kind is None:
        in_workflows_dir = path.parent.name == "workflows" and path.parent.parent.name == ".github"
        kind = "github" if in_workflows_dir or not looks_like_gitlab(docs[-1]) else "gitlab"
    if kind == "github":
        if len(docs) != 1:
            raise WorkflowLintError(f"{path}: a GitHub Actions workflow is one YAML document, this file has {len(docs)}")
        jobs, findings = lint_github(path, docs[0], environment=environment, workflow_name=workflow_name)
    else:
        jobs, findings = lint_gitlab(path, docs, environment=environment, workflow_name=workflow_name)
    return LintReport.of(path, kind, jobs, findings)
