"""GitLab CI/CD: tokens declared under ``id_tokens:``, read from ``<AUDIENCE>_ID_TOKEN``.

The variable names and the ``id_tokens:`` block are shared with the workflow lint,
which tells a pipeline what to declare before it ever runs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from trustpub.oidc._errors import MissingIdTokens, TokenRequestFailed
from trustpub.oidc._names import SIGSTORE_AUDIENCE
from trustpub.oidc._token import OIDCToken, _shown

# Every part logs as "trustpub.oidc": the name --verbose shows and users filter on.
_logger = logging.getLogger("trustpub.oidc")

_GITLAB_ENV_SANITIZE = re.compile(r"[^A-Z0-9_]|^[^A-Z_]")


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
