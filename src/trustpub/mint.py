"""Trusted publishing: exchange a CI OIDC token for a short-lived index API token.

The flow of ``warehouse-contract.md`` §6, one function per step:

1. :func:`discover_audience`: ``GET /_/oidc/audience`` (403: turned off, 404: not supported);
2. a **fresh** OIDC token for that audience from the :class:`~trustpub.oidc.OIDCProvider`
   (a JWT is accepted once: every mint, and every retry, gets a new one);
3. :func:`exchange`: ``POST /_/oidc/mint-token``; a 422 becomes :class:`MintRejected`,
   which says what is wrong, shows the token's decoded claims and the trusted
   publisher the index would need to match them. A 200 whose ``success`` is not
   ``true`` is a refusal too, even if it carries a token.

Both answers come from a server this process does not control: a reply larger than
:data:`MAX_REPLY_BYTES` is refused unread, an audience must be a short printable
string, and what the index says is shown escaped and cut short, never raw.

:func:`mint_api_token` does all three. For uploads, :class:`TokenSource` is the
credential source the uploader asks before each file: it re-mints when the current
token is within ``margin`` of expiry (5 minutes, at most half the token's lifetime),
and is safe to share between upload threads::

    source = TokenSource(Registry.parse("pypi"), detect_ci().require_provider())
    for dist in dists:
        creds = source.credentials()     # Credentials("__token__", Secret(...), ...)
        upload(dist, creds.authorization())

The minted token is a :class:`~trustpub.secrets.Secret`; on GitHub Actions it is
also announced to the runner with ``::add-mask::`` so it never shows in a job log.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from trustpub.auth import TOKEN_USERNAME, CredentialKind, Credentials
from trustpub.errors import TrustpubError
from trustpub.oidc import (
    GITHUB_ISSUER,
    IssuerNotAccepted,
    OIDCProvider,
    OIDCToken,
    PublisherSettings,
    check_audiences,
    github_event_name,
    issuer_accepted_by_pypi,
    publisher_settings,
    reusable_workflow_warning,
    shown_claims,
)
from trustpub.registry import Registry, RegistryKind
from trustpub.secrets import Secret, mask_in_ci, redact
from trustpub.text import printable
from trustpub.transport import Response, Transport, TransportError, default_transport

__all__ = [
    "DEFAULT_MARGIN",
    "MAX_REPLY_BYTES",
    "NOMINAL_LIFETIME",
    "MintError",
    "MintRejected",
    "MintedToken",
    "PullRequestTargetRefused",
    "TokenSource",
    "TrustedPublishingUnavailable",
    "check_provider_accepted",
    "discover_audience",
    "exchange",
    "mint_api_token",
]

_logger = logging.getLogger(__name__)

#: Re-mint when the token has less than this left (twine uses the same 5 minutes).
DEFAULT_MARGIN = timedelta(minutes=5)
#: PyPI's token lifetime, used when an answer's ``expires`` is missing or absurd.
NOMINAL_LIFETIME = timedelta(minutes=15)
_INDEXES_THAT_ARE_PYPI = (RegistryKind.PYPI, RegistryKind.TESTPYPI)
#: The most trustpub reads of an audience or mint-token answer (PyPI's are under 1 KiB).
MAX_REPLY_BYTES = 64 * 1024
#: An audience is a short token of printable ASCII (``pypi``, ``testpypi``, a URL).
_AUDIENCE = re.compile(r"[!-~]{1,128}")
#: How much of a text from the index a message shows, and how many of its errors.
_SHOWN_CHARS = 300
_SHOWN_ERRORS = 10
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


# --------------------------------------------------------------------------- errors


class MintError(TrustpubError):
    """Trusted publishing could not produce an API token."""


class TrustedPublishingUnavailable(MintError):
    """The index has trusted publishing turned off (403) or does not offer it (404)."""


class PullRequestTargetRefused(MintError):
    """``pull_request_target`` workflows may not publish; refused before any request."""

    def __init__(self) -> None:
        super().__init__(
            "this workflow was triggered by `pull_request_target`, and PyPI refuses trusted "
            "publishing from it (it runs with the base repository's secrets for untrusted code)",
            hint="publish from a push, tag, release or workflow_dispatch event",
        )


class MintRejected(MintError):
    """The index answered 422 to mint-token: the token or the publisher does not fit.

    ``code`` and ``description`` are the index's first error; ``errors`` all of them.
    ``claims`` are the decoded OIDC claims (never the token), ``publisher`` the
    trusted-publisher settings the index would need to match them.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None,
        code: str,
        description: str,
        errors: tuple[tuple[str, str], ...],
        claims: Mapping[str, Any],
        publisher: PublisherSettings | None,
        settings_url: str | None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.description = description
        self.errors = errors
        self.claims = dict(claims)
        self.publisher = publisher
        self.settings_url = settings_url

    def details(self) -> list[str]:
        """The claims and publisher blocks, as lines (no message, no hint)."""
        lines: list[str] = []
        shown = shown_claims(self.claims)
        if shown:
            lines.append("the OIDC token's claims (decoded; the token itself is never shown):")
            lines.extend(f"    {name}: {value}" for name, value in shown.items())
        if self.publisher is not None:
            lines.append(f"the trusted publisher ({self.publisher.kind}) the index needs for these claims:")
            lines.extend(f"    {line}" for line in self.publisher.lines())
            if self.settings_url:
                lines.append(f"    add or fix it at: {self.settings_url}")
        return lines

    def __str__(self) -> str:
        lines = [self.message, *self.details()]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- tokens


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class MintedToken:
    """An index API token from trusted publishing.

    ``expires`` is the index's absolute expiry (epoch seconds, as UTC datetime);
    ``minted_at`` is this machine's clock when the answer arrived.
    """

    token: Secret = field(repr=False)
    expires: datetime
    minted_at: datetime = field(default_factory=_utcnow)
    #: The claims of the OIDC token that was exchanged (not secret).
    oidc_claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def lifetime(self) -> timedelta:
        return self.expires - self.minted_at

    def remaining(self, now: datetime | None = None) -> timedelta:
        return self.expires - (now or _utcnow())

    def credentials(self, source: str) -> Credentials:
        return Credentials(TOKEN_USERNAME, self.token, source, CredentialKind.TRUSTED_PUBLISHING)


# --------------------------------------------------------------------------- steps


def discover_audience(registry: Registry, *, transport: Transport | None = None) -> str:
    """The audience the index wants in OIDC tokens (``pypi``, ``testpypi``, …)."""
    transport = transport or default_transport()
    url = registry.audience_url
    _logger.debug("trusted publishing: asking %s for its audience", url)
    try:
        response, body = transport.get_json(url, max_body=MAX_REPLY_BYTES)
    except TransportError as exc:
        raise TrustedPublishingUnavailable(
            f"cannot ask {registry} for its trusted-publishing audience: {exc.message}", hint=exc.hint
        ) from None
    _check_size(response, url, TrustedPublishingUnavailable, "the index's audience")
    if response.status == 200 and isinstance(body, dict) and isinstance(body.get("audience"), str):
        audience: str = body["audience"]
        if not _AUDIENCE.fullmatch(audience):
            # Not echoed: it may be huge or hold terminal escapes.
            raise TrustedPublishingUnavailable(
                f"{url} answered an audience that is not a short printable string ({len(audience)} characters"
                f"{', with control characters' if _CONTROL.search(audience) else ''}); an OIDC audience is a "
                "word such as 'pypi'",
                hint="check the --to URL; this does not look like a trusted-publishing endpoint",
            )
        _logger.debug("trusted publishing: %s wants audience %r", registry, audience)
        return audience
    if response.status == 403:
        raise TrustedPublishingUnavailable(
            f"{registry} has trusted publishing turned off right now ({url} answered 403)",
            hint="its administrators disabled it; wait and re-run, or use an API token (TRUSTPUB_TOKEN) for this release",
        )
    if response.status == 404:
        raise TrustedPublishingUnavailable(
            f"{registry} does not support trusted publishing ({url} answered 404)",
            hint="check the --to URL; for an index without trusted publishing use --credentials token "
            "with TRUSTPUB_TOKEN, TRUSTPUB_USERNAME/TRUSTPUB_PASSWORD or .pypirc",
        )
    if response.status == 200:
        raise TrustedPublishingUnavailable(
            f"{url} answered 200 without an `audience` string; this is not a trusted-publishing endpoint",
            hint="check the --to URL",
        )
    raise TrustedPublishingUnavailable(
        f"{url} answered HTTP {response.status} {response.reason}".rstrip(),
        hint="the index may be having trouble; wait a few minutes and re-run",
    )


def _check_event(env: Mapping[str, str], claims: Mapping[str, Any] | None = None) -> None:
    if github_event_name(env) == "pull_request_target":
        raise PullRequestTargetRefused()
    if claims is not None and claims.get("event_name") == "pull_request_target":
        raise PullRequestTargetRefused()


def check_provider_accepted(registry: Registry, provider: OIDCProvider) -> None:
    """Refuse, before any request, a CI whose tokens PyPI and TestPyPI never accept.

    Buildkite and CircleCI give OIDC tokens (good for Sigstore), but PyPI has no
    trusted publisher for them: :class:`~trustpub.oidc.IssuerNotAccepted`. Another
    index may accept them, so for a custom URL this only logs a warning.
    """
    if provider.pypi_accepts:
        return
    if registry.kind in _INDEXES_THAT_ARE_PYPI:
        raise IssuerNotAccepted(
            f"{provider.name} gives OIDC tokens that can sign Sigstore attestations, but {registry} "
            "does not accept them for trusted publishing (it takes GitHub Actions, GitLab CI/CD, "
            "Google Cloud and ActiveState)",
            hint="upload with an API token (TRUSTPUB_TOKEN); attestations still need trusted publishing on PyPI",
        )
    _logger.warning(
        "%s tokens are not accepted by PyPI; trying anyway, since %s is another index",
        provider.name,
        registry,
    )


def _check_size(response: Response, url: str, error: type[MintError], what: str) -> None:
    """Refuse an answer cut at (or larger than) :data:`MAX_REPLY_BYTES`; nothing of it is shown.

    The transport stops reading there: a successful answer that goes on raises
    (reported by the caller), any other is cut and marked ``truncated``.
    """
    if response.truncated or len(response.data) > MAX_REPLY_BYTES:
        raise error(
            f"{url} answered HTTP {response.status} with more than {MAX_REPLY_BYTES // 1024} KiB where {what} "
            "should be (the index's are under 1 KiB); none of it is used or shown",
            hint="check the --to URL: this is not a trusted-publishing endpoint, or something in between "
            "(a proxy, a captive portal) answers instead of the index",
        )


def _printable(text: str, limit: int = _SHOWN_CHARS) -> str:
    """Text from the index, fit for a terminal and a CI log: escaped, redacted, cut to ``limit``."""
    shown = printable(redact(text))
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
)


def _parse_expires(value: Any, minted_at: datetime) -> datetime:
    """``expires`` as epoch seconds (PyPI) or an RFC 3339 timestamp; else the nominal lifetime.

    A timestamp without an offset is not RFC 3339 (its zone is unknown) and is not guessed at.
    """
    parsed: datetime | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            parsed = datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            parsed = None
    elif isinstance(value, str) and _RFC3339.fullmatch(value.strip()):
        text = value.strip()
        text = text[:10] + "T" + text[11:]
        if text[-1] in "Zz":
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text).astimezone(timezone.utc)
        except ValueError:
            parsed = None
    if parsed is None:
        _logger.debug(
            "mint-token answer has no usable `expires` (%s); assuming %s", type(value).__name__, NOMINAL_LIFETIME
        )
        return minted_at + NOMINAL_LIFETIME
    return parsed


def exchange(
    registry: Registry,
    oidc_token: OIDCToken,
    *,
    transport: Transport | None = None,
    project: str | None = None,
    env: Mapping[str, str] | None = None,
    mask: bool = True,
) -> MintedToken:
    """``POST /_/oidc/mint-token`` with this (unused) OIDC token. Never resend a token.

    ``project`` only improves messages (the link to its publishing settings).
    ``mask`` prints ``::add-mask::`` on GitHub Actions (the default).
    """
    transport = transport or default_transport()
    environ = os.environ if env is None else env
    _check_event(environ, oidc_token.claims)
    url = registry.mint_url
    _logger.debug(
        "trusted publishing: exchanging a %s token (jti %s) at %s",
        oidc_token.provider,
        oidc_token.claims.get("jti"),
        url,
    )
    try:
        response, body = transport.post_json(
            url, {"token": oidc_token.value.reveal()}, credentials=True, max_body=MAX_REPLY_BYTES
        )
    except TransportError as exc:
        raise MintError(f"mint-token request to {registry} failed: {exc.message}", hint=exc.hint) from None
    _check_size(response, url, MintError, "a mint-token answer")
    if response.status == 422:
        raise _rejected(registry, body, oidc_token.claims, project)
    if response.status == 200 and isinstance(body, dict) and "success" in body and body["success"] is not True:
        # A refusal whatever else the answer holds: a token next to success=false is not used.
        raise _rejected(registry, body, oidc_token.claims, project, status="200 with success=false")
    if response.status != 200 or not isinstance(body, dict):
        raise MintError(
            f"{url} answered HTTP {response.status} {response.reason}".rstrip()
            + ("" if isinstance(body, dict) else " without a JSON body"),
            hint="the index may be having trouble; wait a few minutes and re-run (a new OIDC token is fetched each time)",
        )
    raw = body.get("token")
    if not isinstance(raw, str) or not raw:
        raise MintError(f"{url} answered 200 without a `token`", hint="the index's trusted publishing is broken; report it")
    token = Secret(raw)
    if mask:
        # The runner that reads ``::add-mask::`` is the one this process runs on, so the
        # decision follows the real environment, not a simulated one (rehearse, tests).
        mask_in_ci(token)
    minted_at = _utcnow()
    minted = MintedToken(token, _parse_expires(body.get("expires"), minted_at), minted_at, dict(oidc_token.claims))
    _logger.debug("trusted publishing: minted a token for %s, expires %s", registry, minted.expires.isoformat())
    return minted


def mint_api_token(
    registry: Registry,
    provider: OIDCProvider,
    *,
    audience: str | None = None,
    transport: Transport | None = None,
    project: str | None = None,
    env: Mapping[str, str] | None = None,
    mask: bool = True,
    warn: bool = True,
) -> MintedToken:
    """Audience (unless given), a fresh OIDC token, the exchange: one new API token.

    Refuses before any request from ``pull_request_target`` and, for PyPI and
    TestPyPI, from CIs whose tokens PyPI does not accept. With ``warn``, logs a
    warning when the job runs in a reusable workflow.
    """
    environ = os.environ if env is None else env
    _check_event(environ)
    check_provider_accepted(registry, provider)
    if audience is None:
        audience = discover_audience(registry, transport=transport)
    oidc_token = provider.fetch(audience)
    claims = oidc_token.claims
    _check_event(environ, claims)
    if registry.kind in _INDEXES_THAT_ARE_PYPI and oidc_token.issuer and not issuer_accepted_by_pypi(oidc_token.issuer):
        _logger.warning(
            "the OIDC token's issuer %r is not one PyPI accepts by default (only an issuer registered by your "
            "organization would work)",
            oidc_token.issuer,
        )
    if warn:
        message = reusable_workflow_warning(claims)
        if message:
            _logger.warning("%s", message)
    return exchange(registry, oidc_token, transport=transport, project=project, env=environ, mask=mask)


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


# --------------------------------------------------------------------------- re-minting


class TokenSource:
    """The credential source for trusted publishing: a valid token for every request.

    Mints on first use and again whenever the current token has less than
    ``min(margin, lifetime / 2)`` left. Thread-safe: concurrent callers share one
    mint. Each mint fetches a fresh OIDC token (JWTs are single-use).
    """

    kind = CredentialKind.TRUSTED_PUBLISHING

    def __init__(
        self,
        registry: Registry,
        provider: OIDCProvider,
        *,
        margin: timedelta = DEFAULT_MARGIN,
        transport: Transport | None = None,
        project: str | None = None,
        env: Mapping[str, str] | None = None,
        audience: str | None = None,
        mask: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.provider = provider
        self.margin = margin
        self.transport = transport
        self.project = project
        self.env = env
        self.mask = mask
        self._clock = clock
        self._audience = audience
        self._lock = threading.Lock()
        self._current: MintedToken | None = None
        self._refresh_at = 0.0
        self._mints = 0

    @property
    def mint_count(self) -> int:
        """How many tokens were minted so far."""
        return self._mints

    @property
    def audience(self) -> str | None:
        return self._audience

    def token(self) -> MintedToken:
        """A token with at least the margin left (minting one when needed)."""
        with self._lock:
            if self._current is None or self._clock() >= self._refresh_at:
                self._mint()
            assert self._current is not None
            return self._current

    def credentials(self) -> Credentials:
        return self.token().credentials(self.provider.name)

    def invalidate(self) -> None:
        """Drop the current token: the next :meth:`token` mints a new one."""
        with self._lock:
            self._current = None

    def preflight(self, also: Sequence[str] = ()) -> None:
        """Before anything is signed or uploaded: can every token this release needs be had?

        Learns the index's audience (once; the first mint needs it anyway) and asks
        the provider about it and ``also`` (``sigstore`` when attesting) without
        fetching a token (:func:`~trustpub.oidc.check_audiences`). A GitLab job
        without ``id_tokens:`` thus hears of every missing token in one message,
        and an index with trusted publishing off says so before Rekor gets entries.
        """
        with self._lock:
            if self._audience is None:
                self._audience = discover_audience(self.registry, transport=self.transport)
            audience = self._audience
        check_audiences(self.provider, [audience, *also])

    def _mint(self) -> None:
        if self._audience is None:
            self._audience = discover_audience(self.registry, transport=self.transport)
        minted = mint_api_token(
            self.registry,
            self.provider,
            audience=self._audience,
            transport=self.transport,
            project=self.project,
            env=self.env,
            mask=self.mask,
            warn=self._mints == 0,
        )
        now = self._clock()
        lifetime = minted.expires.timestamp() - now
        if lifetime <= 0 or lifetime > 86400:
            _logger.warning(
                "the token's expiry (%s) is %s by this machine's clock, which is probably wrong; "
                "assuming the token lasts %d minutes",
                minted.expires.isoformat(),
                "already past" if lifetime <= 0 else "more than a day away",
                NOMINAL_LIFETIME.total_seconds() // 60,
            )
            lifetime = NOMINAL_LIFETIME.total_seconds()
        margin = min(self.margin.total_seconds(), lifetime / 2)
        self._refresh_at = now + lifetime - margin
        self._current = minted
        self._mints += 1
        _logger.debug(
            "trusted publishing: token #%d valid for %.1fs, will re-mint in %.1fs",
            self._mints,
            lifetime,
            lifetime - margin,
        )
