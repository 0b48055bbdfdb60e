"""Reading the index's answers: bounded, escaped, and the minted token with its expiry.

Both answers come from a server this process does not control: a reply larger than
:data:`MAX_REPLY_BYTES` is refused unread, and text from the index is shown escaped
and cut short, never raw.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from trustpub.auth import TOKEN_USERNAME, CredentialKind, Credentials
from trustpub.mint._errors import MintError
from trustpub.secrets import Secret, redact
from trustpub.text import printable
from trustpub.transport import Response

# Every part logs as "trustpub.mint": the name --verbose shows and users filter on.
_logger = logging.getLogger("trustpub.mint")

#: PyPI's token lifetime, used when an answer's ``expires`` is missing or absurd.
NOMINAL_LIFETIME = timedelta(minutes=15)
#: The most trustpub reads of an audience or mint-token answer (PyPI's are under 1 KiB).
MAX_REPLY_BYTES = 64 * 1024
#: How much of a text from the index a message shows, and how many of its errors.
_SHOWN_CHARS = 300
_SHOWN_ERRORS = 10


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
