"""Who an upload request comes from, and whether it may upload to a project.

An ``Authorization`` header (Basic ``__token__``, Bearer or token) becomes an
:class:`Identity` (a stored API token, and the trusted publisher behind an OIDC-minted
one); :func:`check_permission` holds it to the project as Warehouse does.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import time

from trustpub.local._publishers import (
    Publisher,
)
from trustpub.local._responses import UploadError
from trustpub.local._storage import (
    IndexStore,
    ProjectRecord,
    TokenRecord,
    token_digest,
)

_logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Identity:
    """The stored token an upload authenticated with, and the publisher behind an OIDC one."""

    token: TokenRecord
    publisher: Publisher | None

    @property
    def is_oidc(self) -> bool:
        return self.token.kind == "oidc"


def identify(store: IndexStore, authorization: str | None) -> Identity | None:
    """The identity an ``Authorization`` header proves, or None (the caller holds the lock).

    Password logins are refused with PyPI's message, not ignored, so a client
    that sends one learns why.
    """
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        if not sep:
            return None
        if username != "__token__":
            raise UploadError(
                403,
                "Username/Password authentication is no longer supported. Migrate to "
                "API Tokens or Trusted Publishers instead. See "
                "https://pypi.org/help/#apitoken and "
                "https://pypi.org/help/#trusted-publishers",
            )
        token = password.strip()
    elif scheme in ("bearer", "token"):
        token = credentials.strip()
    else:
        return None
    if not token.startswith("pypi-"):
        return None
    record = store.tokens.get(token_digest(token))
    if record is None:
        return None
    publisher = store.publishers.get(record.publisher_id) if record.publisher_id else None
    return Identity(record, publisher)


def check_permission(identity: Identity, project: ProjectRecord) -> None:
    """Raise PyPI's 403 unless ``identity`` may upload to ``project`` now."""
    token = identity.token
    normalized = project.normalized_name
    if identity.is_oidc:
        publisher = identity.publisher
        if publisher is None or normalized not in publisher.projects:
            raise UploadError(
                403,
                f"Invalid API Token: OIDC scoped token is not valid for project '{project.name}'",
            )
        if normalized not in token.project_names:
            raise UploadError(
                403,
                f"Invalid API Token: project-scoped token is not valid for project: {project.name!r}",
            )
        now = time.time()
        if (token.not_before is not None and now < token.not_before) or (
            token.expires is not None and now >= token.expires
        ):
            raise UploadError(403, "Invalid API Token: token is expired")
    elif token.project is not None and token.project != normalized:
        raise UploadError(
            403,
            f"Invalid API Token: project-scoped token is not valid for project: {project.name!r}",
        )
