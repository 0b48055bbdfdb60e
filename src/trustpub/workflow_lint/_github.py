"""Rules for a GitHub Actions workflow file (``.github/workflows/*.yml``).

What PyPI checks (``warehouse-contract.md`` §1.7) decides what is an error: the
token needs ``id-token: write``, its ``job_workflow_ref`` names the workflow file,
an environment named by the publisher must match, ``pull_request_target`` is
refused. What makes a release easier to subvert is a warning: the permission given
to every job, no environment, fork-reachable triggers, building where the token
is, reusable workflows, actions on a movable tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trustpub.workflow_lint import _commands as commands
from trustpub.workflow_lint._model import ERROR, INFO, WARNING, Finding
from trustpub.workflow_lint._nodes import (
    get,
    is_mapping,
    is_sequence,
    items,
    key_node,
    line,
    scalar,
    text,
)

if TYPE_CHECKING:
    from yaml import Node

__all__ = ["lint_github"]

_SHA = re.compile(r"[0-9a-f]{40}")
#: GitHub's own actions: maintained by the platform the job already trusts.
_FIRST_PARTY = ("actions", "github")
_TOKEN_SECRETS = re.compile(r"\b(?:TRUSTPUB_TOKEN|TWINE_PASSWORD|PYPI_API_TOKEN|UV_PUBLISH_TOKEN|POETRY_PYPI_TOKEN_\w+)\b")
_JOB_PERMISSIONS_FIX = "add to the publishing job:  permissions: {id-token: write}  (job level, this job only)"


@dataclass(frozen=True)
class _Job:
    name: str
    key: Node
    node: Node

    def steps(self) -> list[Node]:
        steps = get(self.node, "steps")
        if steps is None or not is_sequence(steps):
            return []
        return [s for s in steps.value if is_mapping(s)]


def _triggers(doc: Node) -> list[tuple[str, Node]]:
    """(event, node where it is written) of ``on:``, in any of its three spellings."""
    on = get(doc, "on")
    if on is None:
        on = get(doc, "true")  # a YAML 1.1 reader's view of an unquoted `on`
    if on is None:
        return []
    if scalar(on) is not None:
        return [(str(scalar(on)), on)]
    if is_sequence(on):
        return [(str(scalar(child)), child) for child in on.value if scalar(child) is not None]
    return [(name, kn) for name, kn, _value in items(on)]


def _grants_id_token(permissions: Node | None) -> bool:
    if permissions is None:
        return False  # GITHUB_TOKEN's default permissions never include id-token
    value = scalar(permissions)
    if value is not None:
        return value.strip() == "write-all"
    return (scalar(get(permissions, "id-token")) or "").strip() == "write"


def _grant_line(permissions: Node) -> int:
    return line(key_node(permissions, "id-token") or permissions)


def _publishing_steps(job: _Job) -> list[Node]:
    found = []
    for step in job.steps():
        uses = scalar(get(step, "uses")) or ""
        if (uses and commands.publishing_action(uses)) or commands.publishes(scalar(get(step, "run")) or ""):
            found.append(step)
    return found


def _calls_reusable(job: _Job) -> str | None:
    uses = scalar(get(job.node, "uses"))
    return uses if uses and ".github/workflows/" in uses else None


def _uses_api_token(job: _Job, steps: list[Node]) -> bool:
    for step in steps:
        with_ = get(step, "with")
        if get(with_, "password") is not None:
            return True
    return _TOKEN_SECRETS.search(text(job.node)) is not None


def _environment(job: _Job) -> tuple[str | None, Node | None]:
    node = get(job.node, "environment")
    if node is None:
        return None, None
    if is_mapping(node):
        name = get(node, "name")
        return scalar(name), name or node
    return scalar(node), node


def _check_permissions(doc: Node, job: _Job, out: list[Finding]) -> None:
    job_permissions = get(job.node, "permissions")
    workflow_permissions = get(doc, "permissions")
    at_workflow = _grants_id_token(workflow_permissions)
    if job_permissions is not None:
        if _grants_id_token(job_permissions):
            return
        note = " (the job's own `permissions:` replaces the workflow's, which grant it)" if at_workflow else ""
        out.append(
            Finding(
                "id-token-missing",
                ERROR,
                line(key_node(job.node, "permissions")),
                f"job {job.name!r} publishes but its `permissions:` lack `id-token: write`{note}; GitHub gives it "
                "no OIDC token, so trusted publishing and attestations fail",
                "add `id-token: write` to this job's `permissions:`",
                job.name,
            )
        )
        return
    if at_workflow:
        assert workflow_permissions is not None
        out.append(
            Finding(
                "id-token-workflow-level",
                WARNING,
                _grant_line(workflow_permissions),
                "`id-token: write` is granted at workflow level, so every job of this workflow can mint a PyPI "
                f"token, not just {job.name!r}",
                f"move it to job {job.name!r}: give that job `permissions: {{id-token: write}}` and keep the "
                "workflow's `permissions:` to `contents: read`",
                job.name,
            )
        )
        return
    out.append(
        Finding(
            "id-token-missing",
            ERROR,
            line(job.key),
            f"job {job.name!r} publishes but has no `id-token: write` permission; GitHub gives it no OIDC token, so "
            "trusted publishing and attestations fail",
            _JOB_PERMISSIONS_FIX,
            job.name,
        )
    )


def _check_environment(job: _Job, wanted: str | None, out: list[Finding]) -> None:
    name, node = _environment(job)
    if name is None and node is None:
        if wanted:
            out.append(
                Finding(
                    "environment-missing",
                    ERROR,
                    line(job.key),
                    f"the trusted publisher names environment {wanted!r}, but job {job.name!r} runs in none; PyPI "
                    "refuses its token (Check failed for optional claim 'environment')",
                    f"add `environment: {wanted}` to job {job.name!r}",
                    job.name,
                )
            )
        else:
            out.append(
                Finding(
                    "no-environment",
                    WARNING,
                    line(job.key),
                    f"job {job.name!r} publishes outside a deployment environment: if your trusted publisher names "
                    "one, PyPI refuses the token; if it names none, whoever can run this workflow can publish",
                    f"add `environment: pypi` to job {job.name!r}, name it in the trusted publisher, and give it "
                    "required reviewers or a tag rule (or pass --environment NAME to check the publisher's)",
                    job.name,
                )
            )
        return
    if wanted and name is not None and "${{" not in name and name.lower() != wanted.lower():
        out.append(
            Finding(
                "environment-mismatch",
                ERROR,
                line(node),
                f"job {job.name!r} runs in environment {name!r}, but the trusted publisher names {wanted!r}; PyPI "
                "refuses the token",
                f"set `environment: {wanted}` on the job, or change the publisher's environment to {name!r}",
                job.name,
            )
        )


def _check_triggers(doc: Node, jobs: list[_Job], out: list[Finding]) -> None:
    names = ", ".join(repr(j.name) for j in jobs)
    for event, node in _triggers(doc):
        if event == "pull_request_target":
            out.append(
                Finding(
                    "pull-request-target",
                    ERROR,
                    line(node),
                    "`pull_request_target` runs with the base repository's permissions for a fork's pull request, "
                    f"and PyPI refuses trusted publishing from it ({names} would publish from it)",
                    "publish on `push` of a tag, `release: {types: [published]}` or `workflow_dispatch`; move "
                    "pull_request_target jobs to another workflow without `id-token: write`",
                )
            )
        elif event == "workflow_run" and not any("head_repository" in (scalar(get(j.node, "if")) or "") for j in jobs):
            out.append(
                Finding(
                    "workflow-run",
                    WARNING,
                    line(node),
                    "`workflow_run` runs in the base repository with its OIDC identity after a workflow that a fork's "
                    "pull request can trigger; what that run built is the fork's",
                    "publish on push of a tag or on release instead; if you keep workflow_run, add to the publishing "
                    "job `if: github.event.workflow_run.event == 'push' && "
                    "github.event.workflow_run.head_repository.full_name == github.repository`",
                )
            )


def _check_build(job: _Job, out: list[Finding]) -> None:
    for step in job.steps():
        uses = scalar(get(step, "uses")) or ""
        run = scalar(get(step, "run")) or ""
        if (uses and commands.building_action(uses)) or commands.builds(run):
            out.append(
                Finding(
                    "build-and-publish-same-job",
                    WARNING,
                    line(step),
                    f"job {job.name!r} builds and publishes: the build (backend, plugins, dependencies) runs where "
                    "the job can mint a PyPI token",
                    "build in a job without `id-token: write`, `actions/upload-artifact` the dist/ folder, and "
                    "publish in a separate job that `needs:` it and downloads the artifact",
                    job.name,
                )
            )
            return


def _check_pins(jobs: list[_Job], out: list[Finding]) -> None:
    for job in jobs:
        candidates = [(get(step, "uses"), step) for step in job.steps()]
        candidates.append((get(job.node, "uses"), job.node))
        for uses_node, _where in candidates:
            uses = scalar(uses_node)
            if not uses or uses.startswith(("./", "docker://")):
                continue
            name, _, ref = uses.partition("@")
            owner = name.split("/", 1)[0].lower()
            if owner in _FIRST_PARTY or _SHA.fullmatch(ref):
                continue
            shown = ref or "no ref"
            out.append(
                Finding(
                    "unpinned-action",
                    WARNING,
                    line(uses_node),
                    f"{name} is a third-party action on {shown!r}, a ref its owner can move: the job runs whatever "
                    "it points to next time",
                    f"pin it to a full commit SHA: `uses: {name}@<40-hex commit of {ref or 'the release'}>  # {ref or 'vX'}`",
                    job.name,
                )
            )


def _check_reusable(doc: Node, publishing: list[_Job], callers: list[tuple[_Job, str]], out: list[Finding]) -> None:
    called = next((node for event, node in _triggers(doc) if event == "workflow_call"), None)
    if called is not None and publishing:
        out.append(
            Finding(
                "reusable-workflow",
                WARNING,
                line(called),
                "this is a reusable workflow (`workflow_call`) that publishes: PyPI matches the token by the called "
                "file (job_workflow_ref), while the Sigstore certificate of each attestation names the calling "
                "workflow (workflow_ref), so the publisher can match one of the two, never both",
                "publish from a job of the top-level workflow (call this one to build only), or upload without "
                "attestations",
            )
        )
    for job, uses in callers:
        out.append(
            Finding(
                "reusable-workflow",
                WARNING,
                line(get(job.node, "uses")),
                f"job {job.name!r} calls the reusable workflow {uses!r} with the OIDC permission: if it publishes, "
                "PyPI matches its token by that called file while attestations name this workflow",
                "publish from a job of this workflow (its steps, not `uses:`); let the reusable workflow build only",
                job.name,
            )
        )


def lint_github(path: Path, doc: Node, *, environment: str | None, workflow_name: str | None) -> tuple[tuple[str, ...], list[Finding]]:
    """(publishing job names, findings) of one GitHub Actions workflow document."""
    out: list[Finding] = []
    jobs_node = get(doc, "jobs")
    jobs = [_Job(name, kn, value) for name, kn, value in items(jobs_node) if is_mapping(value)]
    publishing = [job for job in jobs if _publishing_steps(job)]
    callers = [
        (job, uses)
        for job in jobs
        if (uses := _calls_reusable(job)) is not None
        and (_grants_id_token(get(job.node, "permissions")) or "pypi" in job.name.lower() or "publish" in job.name.lower())
    ]
    if workflow_name and path.name != workflow_name:
        out.append(
            Finding(
                "workflow-name-mismatch",
                ERROR,
                1,
                f"the trusted publisher names the workflow {workflow_name!r}, but this file is {path.name!r}; PyPI "
                "matches the file name in the token's job_workflow_ref and refuses the token",
                f"set the publisher's workflow name to {path.name!r}, or rename this file to {workflow_name!r}",
            )
        )
    if not publishing and not callers:
        out.append(
            Finding(
                "no-publishing-job",
                WARNING,
                line(key_node(doc, "jobs")) or 1,
                "no job publishes (no pypa/gh-action-pypi-publish or trustpub action, no `trustpub publish`, "
                "`twine upload` or `uv publish` step), so nothing here was checked for trusted publishing",
                "lint the workflow that uploads to PyPI",
            )
        )
    for job in publishing:
        steps = _publishing_steps(job)
        if _uses_api_token(job, steps):
            out.append(
                Finding(
                    "api-token",
                    INFO,
                    line(steps[0]),
                    f"job {job.name!r} publishes with an API token, not trusted publishing; the OIDC rules were skipped",
                    "register a trusted publisher on PyPI, give the job `id-token: write` and drop the token secret",
                    job.name,
                )
            )
            continue
        _check_permissions(doc, job, out)
        _check_environment(job, environment, out)
        _check_build(job, out)
    if publishing:
        _check_triggers(doc, publishing, out)
    _check_reusable(doc, publishing, callers, out)
    _check_pins(jobs, out)
    return tuple(job.name for job in publishing + [c for c, _ in callers]), out
