"""Reading claims: the trusted publisher a token matches, and the claims worth showing.

What the mint's refusals, ``doctor`` and the attester print; claims are not secret
(without the signature they prove nothing), so they are shown as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from trustpub.oidc._names import ACTIVESTATE_ISSUER, GITHUB_ISSUER, GOOGLE_ISSUER


@dataclass(frozen=True)
class PublisherSettings:
    """The trusted publisher an index must have configured to accept a token.

    ``fields`` are (label as on PyPI's form, value) pairs in the form's order;
    ``spec`` is the ``--publisher`` spelling (``github:OWNER/REPO/WORKFLOW[@ENV]``).
    """

    kind: str
    fields: tuple[tuple[str, str], ...]
    spec: str
    form_params: tuple[tuple[str, str], ...] = ()

    def lines(self) -> list[str]:
        width = max((len(label) for label, _ in self.fields), default=0)
        return [f"{label + ':':<{width + 1}} {value}" for label, value in self.fields]

    def settings_url(self, base_url: str) -> str:
        """``base_url`` (a project's publishing settings page) with the form pre-filled."""
        if not self.form_params:
            return base_url
        return f"{base_url}?{urlencode(self.form_params, quote_via=quote)}"


_WORKFLOW_FILE = re.compile(r"/\.github/workflows/([^/@]+\.ya?ml)@")


def _github_workflow_file(job_workflow_ref: str) -> str | None:
    match = _WORKFLOW_FILE.search(job_workflow_ref)
    return match.group(1) if match else None


def _gitlab_workflow_path(ci_config_ref_uri: str) -> str | None:
    # gitlab.com/NS/PROJ//path/to/.gitlab-ci.yml@refs/heads/main
    if "//" not in ci_config_ref_uri:
        return None
    path = ci_config_ref_uri.split("//", 1)[1]
    return path.rsplit("@", 1)[0] or None


def publisher_settings(claims: Mapping[str, Any]) -> PublisherSettings | None:
    """The trusted-publisher form values matching these claims, or None if the issuer is unknown."""
    iss = str(claims.get("iss", "")).rstrip("/")
    env = str(claims.get("environment") or "")
    env_label = env or "(any: leave empty)"
    if iss == GITHUB_ISSUER:
        repository = str(claims.get("repository", ""))
        owner = str(claims.get("repository_owner") or repository.partition("/")[0])
        name = repository.partition("/")[2]
        workflow = _github_workflow_file(str(claims.get("job_workflow_ref", ""))) or "(unknown: no job_workflow_ref)"
        spec = f"github:{repository}/{workflow}" + (f"@{env}" if env else "")
        params = [("provider", "github"), ("owner", owner), ("repository", name), ("workflow_filename", workflow)]
        if env:
            params.append(("environment", env))
        return PublisherSettings(
            "GitHub",
            (
                ("Owner", owner),
                ("Repository name", name),
                ("Workflow name", workflow),
                ("Environment name", env_label),
                ("(owner ID the token carries)", str(claims.get("repository_owner_id", "MISSING"))),
            ),
            spec,
            tuple(params),
        )
    if iss == ACTIVESTATE_ISSUER:
        org, project = str(claims.get("organization", "MISSING")), str(claims.get("project", "MISSING"))
        return PublisherSettings(
            "ActiveState",
            (("Organization", org), ("Project", project), ("Actor ID", str(claims.get("actor_id", "MISSING")))),
            f"activestate:{org}/{project}",
        )
    if claims.get("project_path") is not None or claims.get("ci_config_ref_uri") is not None:
        project_path = str(claims.get("project_path", ""))
        namespace, _, project = project_path.rpartition("/")
        workflow = _gitlab_workflow_path(str(claims.get("ci_config_ref_uri", ""))) or "(unknown: no ci_config_ref_uri)"
        spec = f"gitlab:{project_path}/{workflow}" + (f"@{env}" if env else "")
        params = [("provider", "gitlab"), ("namespace", namespace), ("project", project), ("workflow_filepath", workflow)]
        if env:
            params.append(("environment", env))
        return PublisherSettings(
            "GitLab",
            (
                ("Namespace", namespace),
                ("Project name", project),
                ("Top-level pipeline file path", workflow),
                ("Environment name", env_label + (" (case-sensitive)" if env else "")),
                ("(issuer)", iss),
            ),
            spec,
            tuple(params),
        )
    if iss == GOOGLE_ISSUER:
        email = str(claims.get("email", "MISSING"))
        return PublisherSettings(
            "Google",
            (("Email", email), ("Subject (optional)", str(claims.get("sub", "")))),
            f"google:{email}",
            (("provider", "google"), ("email", email)),
        )
    return None


#: The claims worth showing for each kind of token (all others are noise).
_SHOWN_CLAIMS = (
    "iss", "aud", "sub",
    "repository", "repository_owner", "repository_owner_id",
    "workflow_ref", "job_workflow_ref", "ref", "environment", "event_name",
    "project_path", "ci_config_ref_uri", "ref_path",
    "email", "email_verified",
)  # fmt: skip


def shown_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The claims that decide trusted publishing, in a stable order."""
    return {key: claims[key] for key in _SHOWN_CLAIMS if key in claims}


def reusable_workflow_warning(claims: Mapping[str, Any]) -> str | None:
    """Explain the split when ``workflow_ref`` (caller) differs from ``job_workflow_ref`` (called)."""
    workflow_ref = claims.get("workflow_ref")
    job_workflow_ref = claims.get("job_workflow_ref")
    if not workflow_ref or not job_workflow_ref or workflow_ref == job_workflow_ref:
        return None
    called = _github_workflow_file(str(job_workflow_ref)) or str(job_workflow_ref)
    caller = _github_workflow_file(str(workflow_ref)) or str(workflow_ref)
    return (
        f"this job runs in a reusable workflow: the token is minted against the called workflow "
        f"{called!r} (job_workflow_ref={job_workflow_ref}), while the Sigstore certificate of an "
        f"attestation names the calling workflow {caller!r} (workflow_ref={workflow_ref}); "
        f"PyPI's publisher must name {called!r} for the token, and attestations will then fail "
        "verification because they name another workflow. Publish from a job in the top-level "
        "workflow, or upload without attestations."
    )
