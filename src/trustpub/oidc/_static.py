"""Static tokens: an OIDC token given from outside, where no CI provider exists.

``TRUSTPUB_OIDC_TOKEN[_FILE]`` for the index and ``TRUSTPUB_SIGSTORE_OIDC_TOKEN[_FILE]``
for Sigstore: a JWT has one audience, so attestations need a second token.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from trustpub.oidc._errors import TokenRequestFailed
from trustpub.oidc._names import (
    SIGSTORE_AUDIENCE,
    STATIC_SIGSTORE_TOKEN_ENV,
    STATIC_SIGSTORE_TOKEN_FILE_ENV,
    STATIC_TOKEN_ENV,
    STATIC_TOKEN_FILE_ENV,
)
from trustpub.oidc._token import OIDCToken
from trustpub.secrets import Secret

# Every part logs as "trustpub.oidc": the name --verbose shows and users filter on.
_logger = logging.getLogger("trustpub.oidc")


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
