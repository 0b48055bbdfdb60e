"""Re-minting near expiry: :class:`TokenSource`, the credential source uploads ask.

A release can outlive one token (PyPI's last 15 minutes); this keeps one valid token
for every request, shared safely between upload threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from trustpub.auth import CredentialKind, Credentials
from trustpub.mint._exchange import discover_audience, mint_api_token
from trustpub.mint._reply import NOMINAL_LIFETIME, MintedToken
from trustpub.oidc import OIDCProvider, check_audiences
from trustpub.registry import Registry
from trustpub.transport import Transport

# Every part logs as "trustpub.mint": the name --verbose shows and users filter on.
_logger = logging.getLogger("trustpub.mint")

#: Re-mint when the token has less than this left (twine uses the same 5 minutes).
DEFAULT_MARGIN = timedelta(minutes=5)


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
