"""A refused mint explained: what the index's 422 means for these claims, and the fix.

The index names an error code and, at best, one claim; this turns that into the
claim that differs, the publisher the index needs and a link to its settings page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from trustpub.mint._errors import MintRejected
from trustpub.mint._reply import _SHOWN_ERRORS, _printable
from trustpub.oidc import (
    GITHUB_ISSUER,
    PublisherSettings,
    publisher_settings,
    reusable_workflow_warning,
)
from trustpub.registry import Registry

# Every part logs as "trustpub.mint": the name --verbose shows and users filter on.
_logger = logging.getLogger("trustpub.mint")


# --------------------------------------------------------------------------- 422 explained


_REASON_CLAIM = re.compile(r"Check failed for (?:required|optional) claim '([^']+)'")
_REASON_MISSING = re.compile(r"Missing claim '([^']+)'")


def _rejected(
    registry: Registry, body: Any, claims: Mapping[str, Any], project: str | None, *, status: str = "422"
) -> MintRejected:
    errors: list[tuple[str, str]] = []
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        for entry in body["errors"][:_SHOWN_ERRORS]:
            if isinstance(entry, dict):
                errors.append(
                    (_printable(str(entry.get("code", "unknown")), 60), _printable(str(entry.get("description", ""))))
                )
    if not errors:
        errors.append(("unknown", f"the index answered {status} without an errors list"))
    code, description = errors[0]
    publisher = publisher_settings(claims)
    settings_url = None
    if publisher is not None:
        base = registry.publishing_settings_url(project or "PROJECT")
        settings_url = publisher.settings_url(base)
    message, hint = _explain(code, description, claims, registry, publisher)
    _logger.debug("trusted publishing: mint-token refused: %s: %s", code, description)
    return MintRejected(
        message,
        hint=hint,
        code=code,
        description=description,
        errors=tuple(errors),
        claims=claims,
        publisher=publisher,
        settings_url=settings_url,
    )


def _value(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    return "MISSING" if value is None else str(value)


def _claim_advice(claim: str, claims: Mapping[str, Any], publisher: PublisherSettings | None) -> str:
    workflow = dict(publisher.fields).get("Workflow name", "") if publisher else ""
    env = claims.get("environment")
    advice = {
        "repository_owner_id": (
            f"the publisher was saved with another owner ID than this token's repository_owner_id="
            f"{_value(claims, 'repository_owner_id')}: the account or organization "
            f"{_value(claims, 'repository_owner')!r} was renamed, or deleted and re-created. Remove the "
            "trusted publisher on the index and add it again"
        ),
        "repository": f"the publisher names another repository than {_value(claims, 'repository')!r}; fix Owner / Repository name",
        "repository_owner": f"the publisher names another owner than {_value(claims, 'repository_owner')!r}; fix Owner",
        "job_workflow_ref": (
            f"the publisher names another workflow file than {workflow or _value(claims, 'job_workflow_ref')!r} "
            "(job_workflow_ref); set Workflow name to that file name, e.g. release.yml, not the workflow's `name:`"
        ),
        "environment": (
            f"the publisher requires an environment, and this job runs in "
            f"{('environment ' + repr(env)) if env else 'no environment'}: set `environment:` on the publishing job "
            f"to the publisher's Environment name, or change the publisher's Environment name to {env!r}"
            if env
            else "the publisher requires an environment, and this job runs in none: add `environment: <the "
            "publisher's Environment name>` to the publishing job, or clear the publisher's Environment name"
        ),
        "sub": (
            f"the `sub` claim {_value(claims, 'sub')!r} is not what the index expects (a customised subject); "
            "remove the custom `sub` from the job's id_tokens, or register the publisher to match it"
        ),
        "event_name": "the workflow event is not allowed: `pull_request_target` cannot publish",
        "project_path": f"the publisher names another GitLab project than {_value(claims, 'project_path')!r}",
        "ci_config_ref_uri": (
            f"the publisher names another top-level pipeline file than the one in ci_config_ref_uri="
            f"{_value(claims, 'ci_config_ref_uri')!r}"
        ),
        "email": f"the publisher names another service account email than {_value(claims, 'email')!r}",
        "email_verified": "the token's email is not verified (email_verified must be true)",
        "jti": "the token has no `jti`; it cannot come from a standard GitHub or GitLab job",
    }
    return advice.get(claim, f"the claim {claim!r}={_value(claims, claim)!r} does not match the publisher; fix one of them")


def _explain(
    code: str,
    description: str,
    claims: Mapping[str, Any],
    registry: Registry,
    publisher: PublisherSettings | None,
) -> tuple[str, str | None]:
    head = f"{registry} refused to mint a token ({code}: {description})"
    iss = _value(claims, "iss")
    if code == "invalid-publisher":
        reusable = reusable_workflow_warning(claims)
        claim_match = _REASON_CLAIM.search(description)
        missing = _REASON_MISSING.search(description)
        if claim_match:
            claim = claim_match.group(1)
            what = f"the claim {claim!r} does not match the trusted publisher: " + _claim_advice(claim, claims, publisher)
        elif missing:
            what = f"the token lacks the claim {missing.group(1)!r}, which the index requires; it does not come from a standard CI job"
        elif "job_workflow_ref" in description or "workflow filename" in description:
            what = "the claim 'job_workflow_ref' does not match the trusted publisher: " + _claim_advice(
                "job_workflow_ref", claims, publisher
            )
        elif "issuer" in description.lower():
            what = (
                f"the claim 'iss' ({iss}) is not the issuer the publisher expects; for GitHub only {GITHUB_ISSUER} "
                "works (GitHub Enterprise Server is not supported)"
            )
        elif "pull_request_target" in description:
            what = "the claim 'event_name' is pull_request_target, which cannot publish"
        else:
            what = (
                "no trusted publisher on the index has exactly the values shown; the index does not say which one "
                "differs: compare owner, repository, owner ID, workflow file name and environment with the "
                "project's publisher, or run `trustpub doctor --publisher SPEC` to have each claim compared"
            )
        hint = "add or fix the trusted publisher with the values shown"
        if reusable:
            called = _value(claims, "job_workflow_ref")
            hint += (
                f"; this job runs in a reusable workflow, and the index matches the called one ({called}), "
                "not the workflow that started the run"
            )
        return f"{head}: {what}", hint
    if code == "invalid-token":
        aud = claims.get("aud")
        exp = claims.get("exp")
        expiry = ""
        if isinstance(exp, (int, float)):
            expiry = f", exp={datetime.fromtimestamp(exp, tz=timezone.utc).isoformat()}"
        return (
            f"{head}: the index could not verify the OIDC token (aud={aud!r}, iss={iss!r}{expiry})",
            "usual causes: the token's audience is not the index's (a `pypi` token sent to TestPyPI or the reverse; "
            "a list of audiences); the token expired or this machine's clock is wrong; the token was not signed "
            "by the issuer's published keys",
        )
    if code == "invalid-reuse-token":
        return (
            f"{head}: this OIDC token (jti {_value(claims, 'jti')}) was already exchanged once, and the index "
            "accepts each token once",
            "trustpub fetches a fresh token for every mint; a fixed TRUSTPUB_OIDC_TOKEN works for one mint only: "
            "give a new token per run, or TRUSTPUB_OIDC_TOKEN_FILE pointing at a file the platform refreshes",
        )
    if code == "not-enabled":
        return (
            f"{head}: the index has trusted publishing turned off for this provider",
            "an index-side switch; wait and re-run, or use an API token (TRUSTPUB_TOKEN) for this release",
        )
    if code == "invalid-pending-publisher":
        return (
            f"{head}: a pending publisher matched this workflow, but its project already exists, so the index "
            "deleted the pending publisher",
            "add the trusted publisher to the existing project instead (values and link shown)",
        )
    if code == "invalid-payload":
        if description == "unknown trusted publishing issuer":
            return (
                f"{head}: the index does not know the token's issuer {iss!r}",
                "PyPI accepts GitHub Actions, GitLab CI/CD, Google Cloud and ActiveState tokens (and issuers an "
                "organization registered); use an API token from other CIs",
            )
        if description == "malformed JWT":
            return f"{head}: the index could not read the OIDC token as a JWT", "check where the token comes from"
        return (
            f"{head}: the index refused the request",
            "if a pending publisher matched, the project could not be created under that name; otherwise report this",
        )
    return head, "see the index's documentation on trusted publishing"
