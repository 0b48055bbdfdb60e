"""CI identities: fetch an OIDC token from the CI job, and read what it says.

An :class:`OIDCProvider` hands out a fresh OIDC JWT for an audience (``pypi``,
``testpypi``, ``sigstore``). :func:`detect_ci` finds the provider of the CI this
process runs in, and says which CI it found even when that CI cannot give a token
(the job lacks ``id-token: write``, it runs for a fork's pull request, …)::

    detection = detect_ci()
    if detection.provider is None:
        raise detection.error or NotInCI.default()
    token = detection.provider.fetch("pypi")
    print(token.provider, token.claims["repository"])   # never print token.value

Providers: GitHub Actions (our own code, talks to the runner's token endpoint, so
tests can point it at http://127.0.0.1), GitLab CI (``<AUDIENCE>_ID_TOKEN`` env var),
Google Cloud, Buildkite and CircleCI (through ``id``), and :class:`StaticProvider`
(a token from ``TRUSTPUB_OIDC_TOKEN`` or the file named by ``TRUSTPUB_OIDC_TOKEN_FILE``,
for where no ambient provider exists, e.g. Google Cloud outside the metadata server).
A static token has one audience, the index's; attestations need a second one for
Sigstore (``aud: sigstore``), given in ``TRUSTPUB_SIGSTORE_OIDC_TOKEN`` or
``TRUSTPUB_SIGSTORE_OIDC_TOKEN_FILE``.

:func:`check_audiences` asks a provider whose tokens are declared up front (GitLab's
``id_tokens:``, static tokens) whether it can serve every audience a release needs,
so that one message names everything missing before anything is signed.

The second half reads claims: :func:`publisher_settings` is the trusted publisher an
index must have to accept a token, :func:`diagnose` lists what is likely to go wrong
(reusable workflow, no environment, fork pull request, ``pull_request_target``,
customised ``sub``). Claims are not secret (without the signature they prove
nothing); the token itself is, so it lives in a :class:`~trustpub.secrets.Secret`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from trustpub.errors import TrustpubError
from trustpub.secrets import Secret, redact
from trustpub.transport import Transport, TransportError, default_transport

__all__ = [
    "ACCEPTED_ISSUERS",
    "GITHUB_ISSUER",
    "GITLAB_ISSUER",
    "GOOGLE_ISSUER",
    "SIGSTORE_AUDIENCE",
    "STATIC_SIGSTORE_TOKEN_ENV",
    "STATIC_SIGSTORE_TOKEN_FILE_ENV",
    "STATIC_TOKEN_ENV",
    "STATIC_TOKEN_FILE_ENV",
    "BuildkiteProvider",
    "CIDetection",
    "CircleCIProvider",
    "ForkPullRequest",
    "GitHubActionsProvider",
    "GitLabCIProvider",
    "GoogleCloudProvider",
    "IssuerNotAccepted",
    "MissingIdTokenPermission",
    "MissingIdTokens",
    "NotInCI",
    "OIDCError",
    "OIDCProvider",
    "OIDCToken",
    "Problem",
    "PublisherSettings",
    "StaticProvider",
    "TokenRequestFailed",
    "check_audiences",
    "compare_with_publisher",
    "decode_claims",
    "detect_ci",
    "diagnose",
    "github_event_name",
    "github_fork_pull_request",
    "gitlab_env_var",
    "gitlab_id_tokens_block",
    "issuer_accepted_by_pypi",
    "publisher_settings",
    "reusable_workflow_warning",
    "shown_claims",
]

_logger = logging.getLogger(__name__)

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
GOOGLE_ISSUER = "https://accounts.google.com"
ACTIVESTATE_ISSUER = "https://platform.activestate.com/api/v1/oauth/oidc"

#: Issuers PyPI mints tokens for (warehouse-contract.md §1.6), and who they are.
ACCEPTED_ISSUERS: Mapping[str, str] = {
    GITHUB_ISSUER: "GitHub Actions",
    GITLAB_ISSUER: "GitLab CI/CD",
    GOOGLE_ISSUER: "Google Cloud",
    ACTIVESTATE_ISSUER: "ActiveState",
}

#: The most trustpub takes of a token endpoint's answer (a JWT is a few KiB).
MAX_TOKEN_REPLY_BYTES = 64 * 1024

#: The audience Sigstore's Fulcio wants in the token that signs attestations.
SIGSTORE_AUDIENCE = "sigstore"

#: A static OIDC token for the index (its audience: ``pypi``, ``testpypi``, …), or a file holding one.
STATIC_TOKEN_ENV = "TRUSTPUB_OIDC_TOKEN"
STATIC_TOKEN_FILE_ENV = "TRUSTPUB_OIDC_TOKEN_FILE"
#: A second static token, with audience ``sigstore``, that signs the attestations (or a file).
STATIC_SIGSTORE_TOKEN_ENV = "TRUSTPUB_SIGSTORE_OIDC_TOKEN"
STATIC_SIGSTORE_TOKEN_FILE_ENV = "TRUSTPUB_SIGSTORE_OIDC_TOKEN_FILE"

_GCP_PRODUCT_NAME_FILE = "/sys/class/dmi/id/product_name"
_GITLAB_ENV_SANITIZE = re.compile(r"[^A-Z0-9_]|^[^A-Z_]")
_PERMISSION_HINT = (
    "give the publishing job `permissions: id-token: write` in the workflow "
    "(at job level, only on the job that publishes)"
)


# --------------------------------------------------------------------------- errors


class OIDCError(TrustpubError):
    """No OIDC token could be had from this CI job."""


class NotInCI(OIDCError):
    """No CI with an OIDC identity was found."""

    @classmethod
    def default(cls) -> NotInCI:
        return cls(
            "trusted publishing needs a CI identity, and none was found: this is not GitHub "
            "Actions, GitLab CI, Google Cloud, Buildkite or CircleCI",
            hint="run in CI, or use an API token (TRUSTPUB_TOKEN), or give an OIDC token in "
            f"{STATIC_TOKEN_ENV} / {STATIC_TOKEN_FILE_ENV} (and one with audience 'sigstore' in "
            f"{STATIC_SIGSTORE_TOKEN_ENV} for attestations)",
        )


class MissingIdTokenPermission(OIDCError):
    """GitHub Actions, but the job may not request an OIDC token."""


class ForkPullRequest(OIDCError):
    """A pull request from a fork: GitHub never gives it an OIDC token."""


class IssuerNotAccepted(OIDCError):
    """The CI can give OIDC tokens, but PyPI does not accept them for publishing."""


class TokenRequestFailed(OIDCError):
    """The CI was asked for a token and did not give a usable one."""


class MissingIdTokens(TokenRequestFailed):
    """GitLab CI: tokens the release needs are not declared under ``id_tokens:``.

    ``problems`` names each variable that is missing or has the wrong audience;
    ``block`` is the ``id_tokens:`` YAML declaring every token the release needs,
    so one edit of the pipeline fixes all of them. The hint carries the same
    block in YAML's one-line flow style, which survives every printer (CI logs,
    JSON, the step summary escape newlines).
    """

    def __init__(self, message: str, *, hint: str | None, problems: tuple[str, ...], block: str) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems
        self.block = block


# --------------------------------------------------------------------------- tokens


def decode_claims(jwt: str) -> dict[str, Any]:
    """The payload of a JWT, without verifying it. Raises :class:`TokenRequestFailed`."""
    try:
        _header, payload, _signature = jwt.strip().split(".")
        padded = payload + "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise TokenRequestFailed(
            "the OIDC token is not a JWT (expected three base64url parts with a JSON payload)",
            hint="check where the token comes from; it must be the raw JWT",
        ) from None
    if not isinstance(claims, dict):
        raise TokenRequestFailed("the OIDC token's payload is not a JSON object")
    return claims


@dataclass(frozen=True)
class OIDCToken:
    """One OIDC JWT (single-use for PyPI) and its decoded, unverified claims."""

    value: Secret = field(repr=False)
    claims: Mapping[str, Any]
    #: Who gave it: "GitHub Actions", "GitLab CI", "static (TRUSTPUB_OIDC_TOKEN)", …
    provider: str

    @classmethod
    def parse(cls, raw: str, provider: str) -> OIDCToken:
        raw = raw.strip()
        return cls(Secret(raw), decode_claims(raw), provider)

    @property
    def issuer(self) -> str:
        return str(self.claims.get("iss", ""))

    @property
    def audience(self) -> Any:
        return self.claims.get("aud")

    @property
    def expires(self) -> datetime | None:
        exp = self.claims.get("exp")
        if isinstance(exp, (int, float)):
            return datetime.fromtimestamp(exp, tz=timezone.utc)
        return None

    def check_audience(self, audience: str, *, hint: str | None = None) -> None:
        """Raise :class:`TokenRequestFailed` unless ``aud`` is exactly ``audience`` (one string).

        The message names who wants that audience: Sigstore for ``sigstore`` (it is
        Fulcio that refuses another one), the index for any other.
        """
        aud = self.audience
        if aud == audience:
            return
        raise TokenRequestFailed(
            f"the OIDC token from {self.provider} has audience {_shown(aud)}, but {_consumer(audience)} "
            f"expects exactly {audience!r}",
            hint=hint or "request the token with that audience (a list of audiences is refused too)",
        )


def _consumer(audience: str) -> str:
    """Who checks a token of this audience, for messages."""
    return "Sigstore, which signs the attestations," if audience == SIGSTORE_AUDIENCE else "the index"


def _shown(value: Any, limit: int = 80) -> str:
    """``repr`` (control characters escaped), cut to ``limit``: claims come from outside."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def issuer_accepted_by_pypi(issuer: str) -> bool:
    """True for the issuers PyPI and TestPyPI mint tokens for."""
    return issuer.rstrip("/") in ACCEPTED_ISSUERS


# --------------------------------------------------------------------------- providers


@runtime_checkable
class OIDCProvider(Protocol):
    """Something that hands out fresh OIDC tokens for an audience."""

    @property
    def name(self) -> str:
        """Human name of the CI: "GitHub Actions"."""
        ...

    @property
    def pypi_accepts(self) -> bool:
        """Whether PyPI mints tokens for this CI's tokens."""
        ...

    def fetch(self, audience: str) -> OIDCToken:
        """A new token whose ``aud`` is ``audience``. Raises :class:`OIDCError`."""
        ...


def github_event_name(env: Mapping[str, str] | None = None) -> str | None:
    environ = os.environ if env is None else env
    return environ.get("GITHUB_EVENT_NAME") or None


def github_fork_pull_request(env: Mapping[str, str] | None = None) -> bool:
    """True when this GitHub Actions job runs for a pull request from a fork."""
    environ = os.environ if env is None else env
    if not (environ.get("GITHUB_EVENT_NAME") or "").startswith("pull_request"):
        return False
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return False
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
        pull = event["pull_request"]
        head = pull["head"]["repo"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if head.get("fork") is True:
        return True
    base = (pull.get("base") or {}).get("repo") or {}
    head_name, base_name = head.get("full_name"), base.get("full_name")
    return bool(head_name and base_name and head_name != base_name)


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@dataclass(frozen=True)
class GitHubActionsProvider:
    """GitHub Actions: ``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…`` with the bearer token."""

    request_url: str
    request_token: Secret = field(repr=False)
    transport: Transport | None = field(default=None, compare=False, repr=False)

    name: ClassVar[str] = "GitHub Actions"
    pypi_accepts: ClassVar[bool] = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, transport: Transport | None = None) -> GitHubActionsProvider:
        """Read the runner's token endpoint; explain why it is missing when it is."""
        environ = os.environ if env is None else env
        url = environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
        token = environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        if url and token:
            return cls(url, Secret(token), transport)
        missing = "ACTIONS_ID_TOKEN_REQUEST_URL" if not url else "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
        if github_fork_pull_request(environ):
            raise ForkPullRequest(
                "this GitHub Actions job runs for a pull request from a fork, and GitHub never gives "
                f"those an OIDC token ({missing} is not set)",
                hint="publish from a push, tag or release event in the main repository, not from pull requests",
            )
        raise MissingIdTokenPermission(
            f"GitHub Actions did not give this job an OIDC token: {missing} is not set",
            hint=_PERMISSION_HINT,
        )

    def fetch(self, audience: str) -> OIDCToken:
        transport = self.transport or default_transport()
        url = _with_query(self.request_url, audience=audience)
        _logger.debug("GitHub Actions: requesting an OIDC token for audience %r", audience)
        try:
            response, body = transport.get_json(
                url, authorization=Secret(f"bearer {self.request_token.reveal()}"), max_body=MAX_TOKEN_REPLY_BYTES
            )
        except TransportError as exc:
            raise TokenRequestFailed(f"GitHub Actions token endpoint: {exc.message}", hint=exc.hint) from None
        if response.truncated or len(response.data) > MAX_TOKEN_REPLY_BYTES:
            raise TokenRequestFailed(
                f"the GitHub Actions runner answered HTTP {response.status} with more than "
                f"{MAX_TOKEN_REPLY_BYTES // 1024} KiB; an OIDC token is a few KiB, so none of it is used or shown",
                hint="check ACTIONS_ID_TOKEN_REQUEST_URL; re-run the job",
            )
        if response.status != 200:
            raise TokenRequestFailed(
                f"the GitHub Actions runner refused the OIDC token request (HTTP {response.status} {response.reason})",
                hint=_PERMISSION_HINT if response.status in (401, 403) else "re-run the job; the runner's token service may be down",
            )
        value = body.get("value") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise TokenRequestFailed("the GitHub Actions runner answered without a token (no string `value` in its JSON)")
        token = OIDCToken.parse(value, self.name)
        token.check_audience(audience)
        _logger.debug("GitHub Actions: got a token for %s (jti %s)", token.claims.get("repository"), token.claims.get("jti"))
        return token


def gitlab_env_var(audience: str) -> str:
    """The variable GitLab's ``id_tokens:`` must define for ``audience``: PYPI_ID_TOKEN, …"""
    return f"{_GITLAB_ENV_SANITIZE.sub('_', audience.upper())}_ID_TOKEN"


def gitlab_id_tokens_block(audiences: Sequence[str], *, flow: bool = False) -> str:
    """The ``id_tokens:`` YAML that declares one token per audience, in order.

    ``flow`` gives the same mapping on one line (``id_tokens: {PYPI_ID_TOKEN: {aud: pypi}}``).
    """
    wanted = list(dict.fromkeys(audiences))
    if flow:
        return "id_tokens: {" + ", ".join(f"{gitlab_env_var(a)}: {{aud: {a}}}" for a in wanted) + "}"
    lines = ["id_tokens:"]
    for audience in wanted:
        lines += [f"  {gitlab_env_var(audience)}:", f"    aud: {audience}"]
    return "\n".join(lines)


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class GitLabCIProvider:
    """GitLab CI/CD: the token is in ``<AUDIENCE>_ID_TOKEN``, declared under ``id_tokens:``.

    Declared up front, so :meth:`check_audiences` can tell before any signing or
    upload which of a release's tokens are missing, and name them all at once.
    """

    env: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    name: ClassVar[str] = "GitLab CI"
    pypi_accepts: ClassVar[bool] = True

    def fetch(self, audience: str) -> OIDCToken:
        environ = os.environ if self.env is None else self.env
        var = gitlab_env_var(audience)
        _logger.debug("GitLab CI: reading the OIDC token for audience %r from %s", audience, var)
        raw = environ.get(var)
        if not raw:
            raise self._missing([audience], [f"{var} is not set"])
        token = OIDCToken.parse(raw, self.name)
        token.check_audience(audience, hint=f"set `aud: {audience}` on {var} under the job's id_tokens:")
        return token

    def check_audiences(self, audiences: Sequence[str]) -> None:
        """Raise one :class:`MissingIdTokens` naming every audience without a usable variable.

        Reads the variables only (nothing is fetched or consumed); a variable that
        holds a token for another audience counts as missing too.
        """
        environ = os.environ if self.env is None else self.env
        wanted = list(dict.fromkeys(audiences))
        problems: list[str] = []
        for audience in wanted:
            var = gitlab_env_var(audience)
            raw = environ.get(var)
            if not raw:
                problems.append(f"{var} is not set")
                continue
            try:
                aud = OIDCToken.parse(raw, self.name).audience
            except TokenRequestFailed:
                problems.append(f"{var} does not hold a JWT")
                continue
            if aud != audience:
                problems.append(f"{var} has audience {_shown(aud)}, not {audience!r}")
        if problems:
            raise self._missing(wanted, problems)

    def _missing(self, audiences: Sequence[str], problems: Sequence[str]) -> MissingIdTokens:
        shown = _and([repr(a) for a in audiences])
        message = f"GitLab CI: this job lacks the OIDC token{'s' if len(audiences) > 1 else ''} for {shown}: " + "; ".join(problems)
        hint = f"declare {'them all' if len(audiences) > 1 else 'it'} in the publishing job: `{gitlab_id_tokens_block(audiences, flow=True)}`"
        sigstore_var = gitlab_env_var(SIGSTORE_AUDIENCE)
        if SIGSTORE_AUDIENCE in audiences:
            hint += f" ({sigstore_var} signs the attestations; to publish without them, pass --no-attestations)"
        else:
            hint += f" (attestations need a second token too, {sigstore_var} with aud: {SIGSTORE_AUDIENCE})"
        return MissingIdTokens(message, hint=hint, problems=tuple(problems), block=gitlab_id_tokens_block(audiences))


@dataclass(frozen=True)
class _IdProvider:
    """A provider served by one of ``id``'s ambient detectors."""

    detector: ClassVar[str] = ""
    name: ClassVar[str] = ""
    pypi_accepts: ClassVar[bool] = False

    def fetch(self, audience: str) -> OIDCToken:
        try:
            from id import IdentityError
            from id._internal.oidc import ambient
        except ImportError:  # pragma: no cover - id is a dependency
            raise TokenRequestFailed(f"{self.name}: the `id` package is not installed") from None
        _logger.debug("%s: requesting an OIDC token for audience %r through id", self.name, audience)
        try:
            raw = getattr(ambient, self.detector)(audience)
        except IdentityError as exc:
            raise TokenRequestFailed(f"{self.name}: {redact(str(exc))}") from None
        if not raw:
            raise TokenRequestFailed(f"{self.name}: no OIDC token available in this environment")
        token = OIDCToken.parse(raw, self.name)
        token.check_audience(audience)
        return token


@dataclass(frozen=True)
class GoogleCloudProvider(_IdProvider):
    """Google Cloud: the metadata server, or service-account impersonation."""

    detector: ClassVar[str] = "detect_gcp"
    name: ClassVar[str] = "Google Cloud"
    pypi_accepts: ClassVar[bool] = True


@dataclass(frozen=True)
class BuildkiteProvider(_IdProvider):
    """Buildkite: ``buildkite-agent oidc request-token``. Good for Sigstore, not for PyPI."""

    detector: ClassVar[str] = "detect_buildkite"
    name: ClassVar[str] = "Buildkite"
    pypi_accepts: ClassVar[bool] = False


@dataclass(frozen=True)
class CircleCIProvider(_IdProvider):
    """CircleCI: ``circleci run oidc get``. Good for Sigstore, not for PyPI."""

    detector: ClassVar[str] = "detect_circleci"
    name: ClassVar[str] = "CircleCI"
    pypi_accepts: ClassVar[bool] = False


@dataclass(frozen=True)
class StaticProvider:
    """Tokens given from outside: a value, or a file re-read at every fetch.

    Re-reading lets a file that the platform refreshes (a projected token) serve
    several mints; a fixed value serves exactly one, since PyPI refuses a JWT twice.

    A JWT has one audience, so the index's token cannot sign attestations: the
    ``sigstore_*`` fields hold a second token (value or file) that :meth:`fetch`
    hands out for the ``sigstore`` audience. Without one, a ``sigstore`` fetch
    falls back to the main token, which works only if that one is for Sigstore.
    """

    source: str
    token: Secret | None = field(default=None, repr=False)
    path: Path | None = None
    sigstore_source: str | None = None
    sigstore_token: Secret | None = field(default=None, repr=False)
    sigstore_path: Path | None = None

    pypi_accepts: ClassVar[bool] = True

    @property
    def name(self) -> str:
        return f"static token ({self.source})"

    @property
    def has_sigstore_token(self) -> bool:
        return self.sigstore_token is not None or self.sigstore_path is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StaticProvider | None:
        """From ``TRUSTPUB_OIDC_TOKEN[_FILE]`` and ``TRUSTPUB_SIGSTORE_OIDC_TOKEN[_FILE]``; None when none is set.

        A value wins over a file of the same role. With only the Sigstore token set,
        the provider signs attestations and explains, when asked for the index's
        token, that ``TRUSTPUB_OIDC_TOKEN`` is missing.
        """
        environ = os.environ if env is None else env
        source, token, path = _static_origin(environ, STATIC_TOKEN_ENV, STATIC_TOKEN_FILE_ENV)
        sig_source, sig_token, sig_path = _static_origin(environ, STATIC_SIGSTORE_TOKEN_ENV, STATIC_SIGSTORE_TOKEN_FILE_ENV)
        if source is None and sig_source is None:
            return None
        return cls(source or STATIC_TOKEN_ENV, token, path, sig_source, sig_token, sig_path)

    def fetch(self, audience: str) -> OIDCToken:
        if audience == SIGSTORE_AUDIENCE and self.has_sigstore_token:
            label = self.sigstore_source or STATIC_SIGSTORE_TOKEN_ENV
            raw = _read_static(label, self.sigstore_token, self.sigstore_path, STATIC_SIGSTORE_TOKEN_FILE_ENV)
            token = OIDCToken.parse(raw, f"static token ({label})")
            token.check_audience(
                audience,
                hint=f"{STATIC_SIGSTORE_TOKEN_ENV} is the token that signs attestations: request it with audience "
                f"{SIGSTORE_AUDIENCE!r}; the index's token goes in {STATIC_TOKEN_ENV}",
            )
            return token
        if self.token is None and self.path is None:
            raise TokenRequestFailed(
                f"no OIDC token for the index (audience {audience!r}): {STATIC_TOKEN_ENV} and {STATIC_TOKEN_FILE_ENV} "
                f"are not set ({STATIC_SIGSTORE_TOKEN_ENV} only signs attestations)",
                hint=f"give the index's token in {STATIC_TOKEN_ENV} or {STATIC_TOKEN_FILE_ENV}, or upload with an "
                "API token (TRUSTPUB_TOKEN)",
            )
        raw = _read_static(self.source, self.token, self.path, STATIC_TOKEN_FILE_ENV)
        token = OIDCToken.parse(raw, self.name)
        if audience == SIGSTORE_AUDIENCE:
            hint = (
                f"this token is for the index; attestations need a second OIDC token, requested with audience "
                f"{SIGSTORE_AUDIENCE!r}, in {STATIC_SIGSTORE_TOKEN_ENV} (or a file named by "
                f"{STATIC_SIGSTORE_TOKEN_FILE_ENV}); or publish with --no-attestations"
            )
        else:
            hint = (
                f"request this token with the index's audience {audience!r} (the index names it at /_/oidc/audience); "
                f"the token for Sigstore goes in {STATIC_SIGSTORE_TOKEN_ENV}"
            )
        token.check_audience(audience, hint=hint)
        return token

    def check_audiences(self, audiences: Sequence[str]) -> None:
        """Raise one :class:`TokenRequestFailed` for every audience no static token serves.

        Reading a static token consumes nothing, so this is :meth:`fetch` for each.
        """
        failures: list[TokenRequestFailed] = []
        for audience in dict.fromkeys(audiences):
            try:
                self.fetch(audience)
            except TokenRequestFailed as exc:
                failures.append(exc)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise TokenRequestFailed(
                "; ".join(f.message for f in failures),
                hint="; ".join(f.hint for f in failures if f.hint) or None,
            )


def _static_origin(environ: Mapping[str, str], value_var: str, file_var: str) -> tuple[str | None, Secret | None, Path | None]:
    """(label, value, path) of one static token role; all None when neither variable is set."""
    if environ.get(value_var, "").strip():
        return value_var, Secret(environ[value_var].strip()), None
    if environ.get(file_var):
        return f"{file_var}={environ[file_var]}", None, Path(environ[file_var])
    return None, None, None


def _read_static(label: str, token: Secret | None, path: Path | None, file_var: str) -> str:
    if path is not None:
        _logger.debug("static OIDC token: reading %s", path)
        try:
            raw = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TokenRequestFailed(
                f"cannot read the OIDC token file {str(path)!r}: {exc.strerror}",
                hint=f"check {file_var}",
            ) from None
    elif token is not None:
        raw = token.reveal()
    else:  # pragma: no cover - callers check
        raise TokenRequestFailed("static OIDC provider without a token or a file")
    if not raw:
        raise TokenRequestFailed(f"the OIDC token from {label} is empty")
    return raw


def check_audiences(provider: OIDCProvider, audiences: Sequence[str]) -> None:
    """Before a release signs or uploads anything: can ``provider`` serve all these audiences?

    Providers whose tokens are declared up front (GitLab's ``id_tokens:``, static
    tokens) answer without fetching anything, and raise one error naming every
    audience they cannot serve. Providers that fetch on demand (GitHub's runner,
    ``id``) are not asked: fetching would spend a token, and they fail clearly when
    they fetch.
    """
    check = getattr(provider, "check_audiences", None)
    if callable(check):
        check(list(audiences))


# --------------------------------------------------------------------------- detection


@dataclass(frozen=True)
class CIDetection:
    """What :func:`detect_ci` found.

    ``ci`` names the CI (None outside CI). ``provider`` is set when it can give
    tokens; otherwise ``error`` says why not (missing permission, fork PR, …).
    """

    ci: str | None
    provider: OIDCProvider | None = None
    error: OIDCError | None = None

    def require_provider(self) -> OIDCProvider:
        """The provider, or the error explaining its absence."""
        if self.provider is not None:
            return self.provider
        raise self.error or NotInCI.default()


def _gcp_detected(environ: Mapping[str, str], product_file: str) -> bool:
    if environ.get("GOOGLE_SERVICE_ACCOUNT_NAME"):
        return True
    try:
        with open(product_file, encoding="utf-8") as handle:
            return handle.read().strip() in ("Google", "Google Compute Engine")
    except OSError:
        return False


def detect_ci(
    env: Mapping[str, str] | None = None,
    *,
    transport: Transport | None = None,
    gcp_product_file: str = _GCP_PRODUCT_NAME_FILE,
) -> CIDetection:
    """Find the CI this process runs in and its OIDC provider. Makes no network call.

    Order: an explicit static token (``TRUSTPUB_OIDC_TOKEN[_FILE]``), GitHub Actions,
    GitLab CI, Buildkite, CircleCI, Google Cloud.
    """
    environ = os.environ if env is None else env
    static = StaticProvider.from_env(environ)
    if static is not None:
        _logger.debug("OIDC: using the static token from %s", static.source)
        return CIDetection(static.name, static)
    if environ.get("GITHUB_ACTIONS"):
        try:
            return CIDetection("GitHub Actions", GitHubActionsProvider.from_env(environ, transport=transport))
        except OIDCError as exc:
            _logger.debug("OIDC: GitHub Actions detected, but: %s", exc.message)
            return CIDetection("GitHub Actions", None, exc)
    if environ.get("GITLAB_CI"):
        return CIDetection("GitLab CI", GitLabCIProvider(environ))
    if environ.get("BUILDKITE"):
        return CIDetection("Buildkite", BuildkiteProvider())
    if environ.get("CIRCLECI"):
        return CIDetection("CircleCI", CircleCIProvider())
    if _gcp_detected(environ, gcp_product_file):
        return CIDetection("Google Cloud", GoogleCloudProvider())
    _logger.debug("OIDC: no CI detected")
    return CIDetection(None, None, NotInCI.default())


# --------------------------------------------------------------------------- claims


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
