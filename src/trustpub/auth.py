"""The vocabulary of upload credentials, defined once: names, kinds, the value, the source protocol.

Kept apart from :mod:`trustpub.credentials` (which *resolves* credentials from flags,
variables, ``.pypirc`` and the keyring) so that :mod:`trustpub.mint`, which *produces*
trusted-publishing credentials, can use the same types without importing the
resolver: the resolver imports the minter, never the other way round.

Every credential source, static or minted, satisfies :class:`CredentialSource`; code
downstream (the orchestrator, the uploaders) talks to that protocol only.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from trustpub.secrets import Secret

__all__ = [
    "METHODS",
    "TOKEN_USERNAME",
    "CredentialKind",
    "CredentialSource",
    "Credentials",
    "StaticCredentials",
    "basic_authorization",
]

#: The Basic-auth user name of an API token (PyPI's convention, followed by every index).
TOKEN_USERNAME = "__token__"
#: The values of ``--credentials``: which sources :func:`trustpub.credentials.resolve_credentials` may use.
METHODS = ("auto", "trusted-publishing", "token")


class CredentialKind(enum.Enum):
    TRUSTED_PUBLISHING = "trusted-publishing"
    TOKEN = "token"
    PASSWORD = "password"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Credentials:
    """What goes into the upload's Basic auth, and where it came from."""

    username: str
    password: Secret = field(repr=False)
    #: Human description of the origin: "TRUSTPUB_TOKEN", ".pypirc [testpypi]", …
    source: str
    kind: CredentialKind

    def authorization(self) -> Secret:
        """The ``Authorization`` header value, as a Secret."""
        return basic_authorization(self.username, self.password)

    def describe(self) -> str:
        if self.kind is CredentialKind.TRUSTED_PUBLISHING:
            return f"trusted publishing ({self.source})"
        if self.kind is CredentialKind.TOKEN:
            return f"API token from {self.source}"
        return f"username {self.username!r} and password from {self.source}"


@runtime_checkable
class CredentialSource(Protocol):
    """Hands out the credentials to use for the next request (thread-safe)."""

    @property
    def kind(self) -> CredentialKind: ...

    def credentials(self) -> Credentials:
        """Current credentials; may mint or refresh them."""
        ...

    def invalidate(self) -> None:
        """Forget cached credentials (the index refused them); the next call gets new ones if it can."""
        ...


@dataclass(frozen=True)
class StaticCredentials:
    """A credential source that never changes: a token or a username/password."""

    value: Credentials

    @property
    def kind(self) -> CredentialKind:
        return self.value.kind

    def credentials(self) -> Credentials:
        return self.value

    def invalidate(self) -> None:
        """Nothing to refresh."""


def basic_authorization(username: str, password: Secret) -> Secret:
    """The ``Authorization`` header value for HTTP Basic (``__token__`` and an API token on PyPI)."""
    raw = f"{username}:{password.reveal()}".encode()
    return Secret("Basic " + base64.b64encode(raw).decode("ascii"))
