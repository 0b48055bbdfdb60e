"""The state of Upload 2.0 sessions (PEP 694) on the local index, and its constants.

Kept apart from the request handlers so that the handlers of publishing sessions,
file upload sessions and the stage preview share one definition of what a session is.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import (
    canonicalize_name,
)

from trustpub.local import _staging
from trustpub.local._problems import Problem

if TYPE_CHECKING:
    from trustpub.local._upload_auth import Identity

_logger = logging.getLogger(__name__)

#: The root endpoint's path on the index.
ROOT = "/2.0/"
#: The one required file upload mechanism.
MECHANISM = "http-post-bytes"
MAX_JSON = 1024 * 1024
MAX_ATTESTATIONS = 1024 * 1024
CHUNK = 1024 * 1024
NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
WWW_AUTHENTICATE = 'Basic realm="trustpub local index", Bearer realm="trustpub local index"'
#: Hash names that prove nothing on their own (PEP 694 wants a secure one).
INSECURE = frozenset({"md5", "sha1"})
SECURE = frozenset(hashlib.algorithms_guaranteed) - INSECURE - {"shake_128", "shake_256"}
EDITABLE = ("open", "error")
ACTIONS = (
    "create",
    "file",
    "bytes",
    "attestations",
    "complete",
    "publish",
    "cancel",
    "extend",
    "status",
)


@dataclass
class FileUpload:
    """One file upload session (mutable server state, guarded by the index lock)."""

    fid: str
    filename: str
    size: int
    hashes: dict[str, str]
    expires: float
    status: str = "pending"
    received: _staging.Received | None = None
    attestations: str | None = None
    attestation_identity: Identity | None = None
    completing_identity: Identity | None = None
    staged: _staging.StagedFile | None = None
    notices: list[str] = field(default_factory=list)
    polls_left: int = 0
    #: A completion is running the checks right now: the file's bytes may not change.
    checking: bool = False


@dataclass
class PublishingSession:
    """One publishing session (mutable server state, guarded by the index lock)."""

    sid: str
    token: str
    name: str
    version: str
    created: float
    expires: float
    folder: Path
    new_project: bool
    status: str = "open"
    files: dict[str, str] = field(default_factory=dict)  # filename -> fid in the mapping
    uploads: dict[str, FileUpload] = field(default_factory=dict)  # fid -> every file session
    notices: list[str] = field(default_factory=list)
    polls_left: int = 0

    @property
    def normalized(self) -> str:
        return canonicalize_name(self.name)


def rfc3339(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(timestamp)))


def api_version_ok(value: object) -> bool:
    if not isinstance(value, str):
        return False
    major, _, minor = value.partition(".")
    return major == "2" and minor.isdigit()


def not_allowed(method: str, allow: str) -> Problem:
    return Problem(
        405, "Method not allowed", f"{method} is not allowed here", headers={"Allow": allow}
    )
