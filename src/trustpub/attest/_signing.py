"""One Fulcio certificate for as long as it lasts, and a fresh one before it runs out.

sigstore-python's cached ``Signer`` keeps its key and certificate until the
certificate expires and then fails (``ExpiredCertificate``; sigstore-python#1729), so
a release of many files can outlive it and upload nothing (gh-action-pypi-publish#415).
:class:`SignerPool` hands out the current signer and replaces it, with a fresh OIDC
token from the token source, once the certificate is within ``refresh_margin`` of
its end; threads signing in parallel share it. Each replacement costs one Fulcio
round trip; a release shorter than a certificate's life uses exactly one.

sigstore's errors are turned into :class:`SigningError` messages that say which
service failed and why (Fulcio's own error text is dug out of the HTTP answer, which
sigstore-python drops).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trustpub.errors import TrustpubError
from trustpub.oidc import decode_claims
from trustpub.secrets import Secret, redact

if TYPE_CHECKING:
    from sigstore.dsse import Statement
    from sigstore.models import Bundle
    from sigstore.sign import Signer, SigningContext

__all__ = ["DEFAULT_REFRESH_MARGIN", "SignerPool", "SigningError"]

_logger = logging.getLogger(__name__)

#: Replace the certificate when less than this many seconds of it are left: enough
#: for a slow Rekor round trip, since the entry's time must fall inside the validity.
DEFAULT_REFRESH_MARGIN = 60.0

# sigstore-python refuses tokens within its 5 s leeway of expiry; ask for a new one earlier.
_TOKEN_MIN_LIFETIME = 10.0


class SigningError(TrustpubError):
    """Sigstore did not sign: the token, Fulcio or Rekor refused, or could not be reached."""


@dataclass(frozen=True)
class _Current:
    signer: Signer
    not_after: float
    margin: float
    claims: dict[str, Any]
    serial: int


class SignerPool:
    """Hands out a signer whose certificate is good for at least the refresh margin.

    ``token_source`` returns a fresh raw OIDC JWT with audience ``sigstore``; it is
    called once per certificate. ``clock`` decides when a certificate is "near its
    end" (tests move it forward instead of waiting ten minutes).
    """

    def __init__(
        self,
        context: SigningContext,
        token_source: Callable[[], str],
        *,
        clock: Callable[[], float],
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        self._context = context
        self._token_source = token_source
        self._clock = clock
        self._margin = refresh_margin
        self._lock = threading.Lock()
        self._current: _Current | None = None
        #: How many certificates this pool obtained (one per Fulcio request).
        self.certificates = 0

    @property
    def claims(self) -> dict[str, Any]:
        """The claims of the token behind the current certificate (``{}`` before the first)."""
        current = self._current
        return dict(current.claims) if current else {}

    def current(self) -> Signer:
        """The signer to use now, replaced first if its certificate is near its end."""
        with self._lock:
            current = self._current
            if current is None or self._clock() >= current.not_after - current.margin:
                if current is not None:
                    _logger.debug("signing certificate #%d is near its end; getting a fresh one", current.serial)
                current = self._new_signer()
                self._current = current
            return current.signer

    def retire(self, signer: Signer) -> None:
        """Drop ``signer`` (it failed with an expired certificate); the next call gets a new one."""
        with self._lock:
            if self._current is not None and self._current.signer is signer:
                self._current = None

    def _new_signer(self) -> _Current:
        from sigstore._internal.fulcio import ExpiredCertificate
        from sigstore.oidc import IdentityError, IdentityToken

        token: IdentityToken | None = None
        claims: dict[str, Any] = {}
        # A token source may hand out a token that has expired (a stale file, a token
        # fetched long ago): one more fetch gets a fresh one.
        for attempt in (1, 2):
            raw = Secret(_fetch(self._token_source))
            try:
                claims = decode_claims(raw.reveal())
            except TrustpubError as exc:
                raise SigningError(f"the OIDC token for Sigstore is unusable: {exc.message}", hint=exc.hint) from None
            exp = claims.get("exp")
            if isinstance(exp, (int, float)) and exp <= time.time() + _TOKEN_MIN_LIFETIME:
                if attempt == 1:
                    _logger.debug("the OIDC token for Sigstore has expired or is about to; fetching another")
                    continue
                raise SigningError(
                    "the OIDC token source keeps returning expired tokens for Sigstore",
                    hint="fetch the token right before signing; check the CI's clock",
                )
            try:
                token = IdentityToken(raw.reveal())
            except IdentityError as exc:
                aud = claims.get("aud")
                hint = (
                    "request the token with audience 'sigstore'"
                    if aud != "sigstore"
                    else "the token must be a CI OIDC token with aud, sub, iat, exp and iss"
                )
                raise SigningError(f"Sigstore cannot use the OIDC token (aud {aud!r}): {redact(str(exc))}", hint=hint) from None
            break
        assert token is not None
        signer = self._open_signer(token)
        self.certificates += 1
        try:
            cert = signer._signing_cert()
        except ExpiredCertificate:
            raise SigningError(
                "Fulcio issued a signing certificate that had already expired",
                hint="check the machine's clock against Fulcio's (certificates live about 10 minutes)",
            ) from None
        not_after = cert.not_valid_after_utc.timestamp()
        lifetime = max(0.0, not_after - cert.not_valid_before_utc.timestamp())
        # A short-lived certificate still gets used: refresh at half its life at most.
        margin = min(self._margin, lifetime / 2)
        _logger.debug(
            "signing certificate #%d for %s, valid until %s",
            self.certificates,
            token.identity,
            cert.not_valid_after_utc.isoformat(),
        )
        return _Current(signer, not_after, margin, claims, self.certificates)

    def _open_signer(self, token: Any) -> Signer:
        from sigstore.sign import Signer

        try:
            # cache=True: one key and one certificate for every file (never cache=False:
            # in 4.5.1 it draws a new key for each use, and Rekor then refuses the entry).
            return Signer(token, self._context, cache=True)
        except Exception as exc:
            raise signing_error(exc, "getting a signing certificate from Fulcio") from None

    def sign(self, statement: Statement) -> Bundle:
        """Sign with the current signer; on an expired certificate, once more with a new one."""
        from sigstore._internal.fulcio import ExpiredCertificate

        for attempt in (1, 2):
            signer = self.current()
            try:
                return signer.sign_dsse(statement)
            except ExpiredCertificate:
                self.retire(signer)
                if attempt == 2:
                    raise SigningError(
                        "the Sigstore signing certificate expired before it could be used",
                        hint="check the machine's clock against Fulcio's; the certificate lives about 10 minutes",
                    ) from None
                _logger.debug("signing certificate expired mid-release; retrying with a fresh one")
            except Exception as exc:
                raise signing_error(exc, "logging the signature in Rekor") from None
        raise AssertionError("unreachable")  # pragma: no cover


def _fetch(token_source: Callable[[], str]) -> str:
    try:
        raw = token_source()
    except TrustpubError:
        raise
    except Exception as exc:
        raise SigningError(f"could not get an OIDC token for Sigstore: {redact(str(exc))}") from None
    if not isinstance(raw, str) or not raw.strip():
        raise SigningError("the OIDC token source returned no token")
    return raw.strip()


def _http_detail(exc: BaseException) -> str:
    """Status and ``message`` of the HTTP answer behind a sigstore client error, if any."""
    cause = exc.__cause__ or exc.__context__
    response = getattr(cause, "response", None)
    if response is None:
        return ""
    status = getattr(response, "status_code", "?")
    message = ""
    try:
        body = json.loads(response.text)
        if isinstance(body, dict):
            message = str(body.get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    return f"HTTP {status}" + (f": {redact(message)}" if message else "")


def signing_error(exc: BaseException, step: str) -> SigningError:
    """A :class:`SigningError` for a sigstore exception raised while ``step``."""
    from sigstore.oidc import ExpiredIdentity

    name = type(exc).__name__
    text = redact(str(exc)).strip()
    if isinstance(exc, SigningError):
        return exc
    if isinstance(exc, ExpiredIdentity):
        return SigningError(
            "the OIDC token expired before Fulcio could issue a certificate",
            hint="fetch the token right before signing; check the CI's clock",
        )
    if name == "FulcioClientError":
        detail = text or _http_detail(exc) or "no reason given"
        return SigningError(
            f"Fulcio refused the signing certificate ({detail})",
            hint="Fulcio checks the token's signature, audience 'sigstore' and expiry; "
            "check the instance given with --sigstore",
        )
    if name == "RekorClientError":
        return SigningError(f"Rekor refused the log entry ({text or 'no reason given'})", hint="re-run; if it persists, check status.sigstore.dev")
    if name in ("VerificationError", "InvalidSCT"):
        return SigningError(
            f"the signing certificate from Fulcio does not check out: {text}",
            hint="the instance's CT log key is not in the trusted root given with --sigstore",
        )
    if name in ("ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout", "SSLError"):
        return SigningError(f"cannot reach Sigstore while {step}: {text or name}", hint="check the network and --sigstore")
    return SigningError(f"Sigstore failed while {step}: {name}{': ' + text if text else ''}")
