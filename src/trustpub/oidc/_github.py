"""GitHub Actions: the runner's token endpoint, and the event facts that decide publishing.

Our own code rather than ``id``'s, so that it goes through trustpub's transport (tests
point it at http://127.0.0.1) and can say why a job has no token (permission, fork).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from trustpub.oidc._errors import ForkPullRequest, MissingIdTokenPermission, TokenRequestFailed
from trustpub.oidc._token import OIDCToken
from trustpub.secrets import Secret
from trustpub.transport import Transport, TransportError, default_transport

# Every part logs as "trustpub.oidc": the name --verbose shows and users filter on.
_logger = logging.getLogger("trustpub.oidc")


#: The most trustpub takes of a token endpoint's answer (a JWT is a few KiB).
MAX_TOKEN_REPLY_BYTES = 64 * 1024

_PERMISSION_HINT = (
    "give the publishing job `permissions: id-token: write` in the workflow "
    "(at job level, only on the job that publishes)"
)


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
