"""What is likely to break trusted publishing, found from the claims without asking the index.

:func:`diagnose` reads the claims and the CI environment; :func:`compare_with_publisher`
names the claim that differs from a publisher, which PyPI never says.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trustpub.oidc._claims import (
    _github_workflow_file,
    _gitlab_workflow_path,
    reusable_workflow_warning,
)
from trustpub.oidc._github import github_event_name, github_fork_pull_request
from trustpub.oidc._names import ACTIVESTATE_ISSUER, GITHUB_ISSUER, GITLAB_ISSUER
from trustpub.oidc._token import issuer_accepted_by_pypi


def _github_default_sub(claims: Mapping[str, Any]) -> str | None:
    """``sub`` as GitHub's default subject template builds it from the other claims."""
    repository = claims.get("repository")
    if not repository:
        return None
    if claims.get("environment"):
        return f"repo:{repository}:environment:{claims['environment']}"
    if str(claims.get("event_name", "")).startswith("pull_request"):
        return f"repo:{repository}:pull_request"
    if claims.get("ref"):
        return f"repo:{repository}:ref:{claims['ref']}"
    return None


@dataclass(frozen=True)
class Problem:
    """One thing likely to break trusted publishing, found without asking the index."""

    id: str
    #: "error": publishing will fail; "warning": it may work but should be fixed.
    severity: str
    message: str
    hint: str = ""


def _mismatch(claim: str, actual: Any, expected: str, fix: str) -> Problem:
    shown = "absent" if actual in (None, "") else repr(actual)
    return Problem(
        "publisher-mismatch",
        "error",
        f"the claim {claim!r} is {shown}, but the trusted publisher expects {expected!r}",
        fix,
    )


def compare_with_publisher(spec: str, claims: Mapping[str, Any]) -> list[Problem]:
    """Compare claims with a publisher as configured on the index, claim by claim.

    ``spec`` is ``github:OWNER/REPO/WORKFLOW_FILE[@ENVIRONMENT]``,
    ``gitlab:NAMESPACE/PROJECT/WORKFLOW_FILEPATH[@ENVIRONMENT]`` or ``google:EMAIL``.
    PyPI only answers "no corresponding publisher"; this names the claim that differs.
    Raises :class:`ValueError` for a spec it cannot read.
    """
    kind, sep, rest = spec.partition(":")
    kind = kind.lower()
    if not sep or not rest:
        raise ValueError(f"publisher spec {spec!r} is not KIND:VALUE (github:, gitlab: or google:)")
    if kind == "google":
        email = claims.get("email")
        if email != rest:
            return [_mismatch("email", email, rest, "publish with the service account the publisher names, or fix its email")]
        return []
    if kind not in ("github", "gitlab"):
        raise ValueError(f"publisher spec {spec!r}: unknown kind {kind!r} (use github:, gitlab: or google:)")
    body, _, environment = rest.partition("@")
    parts = body.split("/")
    if kind == "github":
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"publisher spec {spec!r} is not github:OWNER/REPO/WORKFLOW_FILE[@ENVIRONMENT]")
        repository, workflow = f"{parts[0]}/{parts[1]}", parts[2]
        actual_workflow = _github_workflow_file(str(claims.get("job_workflow_ref", "")))
        env_actual = claims.get("environment")
        problems = []
        if str(claims.get("repository", "")).lower() != repository.lower():
            problems.append(
                _mismatch("repository", claims.get("repository"), repository, "publish from that repository, or fix Owner / Repository name")
            )
        if actual_workflow != workflow:
            problems.append(
                _mismatch(
                    "job_workflow_ref",
                    actual_workflow or claims.get("job_workflow_ref"),
                    workflow,
                    f"set the publisher's Workflow name to {actual_workflow!r}, or publish from {workflow!r}"
                    + (" (a reusable workflow names the called file)" if reusable_workflow_warning(claims) else ""),
                )
            )
        if environment and str(env_actual or "").lower() != environment.lower():
            problems.append(
                _mismatch(
                    "environment",
                    env_actual,
                    environment,
                    f"set `environment: {environment}` on the publishing job"
                    + (f", or change the publisher's Environment name to {env_actual!r}" if env_actual else "")
                    + " (or clear it to accept any)",
                )
            )
        return problems
    # GitLab: the namespace can have subgroups, the file path can have folders.
    project_path = str(claims.get("project_path", ""))
    if not rest.lower().startswith(project_path.lower() + "/") or not project_path:
        return [_mismatch("project_path", claims.get("project_path"), body, "publish from that project, or fix Namespace / Project name")]
    filepath = body[len(project_path) + 1 :]
    actual_path = _gitlab_workflow_path(str(claims.get("ci_config_ref_uri", "")))
    problems = []
    if actual_path != filepath:
        problems.append(
            _mismatch("ci_config_ref_uri", actual_path, filepath, f"set the publisher's pipeline file path to {actual_path!r}")
        )
    env_actual = claims.get("environment")
    if environment and env_actual != environment:
        problems.append(
            _mismatch(
                "environment",
                env_actual,
                environment,
                f"set `environment: {environment}` on the job (GitLab compares it case-sensitively)",
            )
        )
    return problems


def diagnose(claims: Mapping[str, Any], env: Mapping[str, str] | None = None) -> list[Problem]:
    """What the claims (and the CI environment) say will go wrong, most serious first."""
    environ = os.environ if env is None else env
    problems: list[Problem] = []
    iss = str(claims.get("iss", "")).rstrip("/")
    gitlab_shaped = claims.get("ci_config_ref_uri") is not None and iss != ACTIVESTATE_ISSUER
    if iss and not issuer_accepted_by_pypi(iss) and gitlab_shaped:
        problems.append(
            Problem(
                "self-managed-gitlab",
                "warning",
                f"the token comes from a self-managed GitLab ({iss!r}): PyPI accepts it only if your PyPI "
                "organization registered this issuer, and never accepts its attestations (they are checked "
                "against https://gitlab.com)",
                "register the issuer in the organization's trusted publishing settings, and publish with "
                "--no-attestations",
            )
        )
    elif iss and not issuer_accepted_by_pypi(iss):
        problems.append(
            Problem(
                "issuer-not-accepted",
                "error",
                f"PyPI does not accept tokens from the issuer {iss!r}",
                "PyPI mints tokens for GitHub Actions, GitLab CI/CD (gitlab.com or an issuer registered "
                "by your organization), Google Cloud and ActiveState; use an API token elsewhere",
            )
        )
    if claims.get("event_name") == "pull_request_target" or github_event_name(environ) == "pull_request_target":
        problems.append(
            Problem(
                "pull-request-target",
                "error",
                "the workflow was triggered by `pull_request_target`, which PyPI refuses for trusted publishing",
                "publish from a push, tag, release or workflow_dispatch event",
            )
        )
    if github_fork_pull_request(environ):
        problems.append(
            Problem(
                "fork-pull-request",
                "error",
                "this job runs for a pull request from a fork; such jobs get no OIDC token and must not publish",
                "publish from the main repository on a push, tag or release",
            )
        )
    if iss == GITHUB_ISSUER:
        warning = reusable_workflow_warning(claims)
        if warning:
            problems.append(Problem("reusable-workflow", "warning", warning, "see pypa/gh-action-pypi-publish#166"))
        if not claims.get("job_workflow_ref"):
            problems.append(
                Problem("no-job-workflow-ref", "error", "the token has no job_workflow_ref claim; PyPI cannot find the workflow file")
            )
        default_sub = _github_default_sub(claims)
        sub = str(claims.get("sub", ""))
        if default_sub and sub and sub.lower() != default_sub.lower():
            problems.append(
                Problem(
                    "customised-sub",
                    "warning",
                    f"the `sub` claim is customised ({sub!r}; GitHub's default would be {default_sub!r})",
                    "PyPI does not check `sub` for GitHub, but other tools and policies might; "
                    "GitHub's OIDC subject customisation is set per repository or organization",
                )
            )
    if iss == GITLAB_ISSUER or gitlab_shaped:
        project_path = str(claims.get("project_path", ""))
        sub = str(claims.get("sub", ""))
        if project_path and sub and not sub.lower().startswith(f"project_path:{project_path.lower()}:"):
            problems.append(
                Problem(
                    "customised-sub",
                    "error",
                    f"the `sub` claim ({sub!r}) does not start with 'project_path:{project_path}:'",
                    "PyPI checks `sub` for GitLab; remove the custom sub claim from the job's id_tokens",
                )
            )
    if (iss == GITHUB_ISSUER or gitlab_shaped) and not claims.get("environment"):
        problems.append(
            Problem(
                "no-environment",
                "warning",
                "the job does not run in a deployment environment",
                "add `environment: pypi` to the publishing job and name it in the trusted publisher; "
                "with protection rules this gates who can publish",
            )
        )
    return problems
