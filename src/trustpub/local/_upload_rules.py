"""Upload rules of the local index that need the stored state: names, sizes, digests.

Warehouse's project-name rules (standard library names, confusable names), the
per-file and per-project size limits (the file limit checked first, as each chunk
arrives), and the declared digests; the legacy API and Upload 2.0 apply the same ones.
"""

from __future__ import annotations

import hmac
import logging
import re
import sys
import time

from packaging.utils import canonicalize_name

from trustpub.local._forms import FilePart
from trustpub.local._responses import UploadError
from trustpub.local._storage import (
    IndexStore,
    ProjectRecord,
)
from trustpub.local._validate import UploadFields, help_url

_logger = logging.getLogger(__name__)


MIB = 1024 * 1024
GIB = 1024 * MIB
#: Releases older than this are closed to new files.
RELEASE_UPLOAD_WINDOW = 14 * 24 * 60 * 60


def ultranormalize(name: str) -> str:
    """Warehouse's confusable-name form: separators dropped, o->0, l/i->1."""
    name = re.sub(r"[-_.]+", "", name.lower())
    return name.replace("o", "0").replace("l", "1").replace("i", "1")


def new_project(store: IndexStore, name: str) -> ProjectRecord:
    """A record for a project the upload creates, once the name rules allow it."""
    if canonicalize_name(name) in {canonicalize_name(m) for m in sys.stdlib_module_names}:
        raise UploadError(
            400,
            f"The name {name!r} isn't allowed (conflict with Python Standard Library "
            f"module name). See {help_url('project-name')} for more information.",
        )
    ultra = ultranormalize(name)
    if any(ultranormalize(p.name) == ultra for p in store.projects.values()):
        raise UploadError(
            400,
            f"The name {name!r} is too similar to an existing project. "
            f"See {help_url('project-name')} for more information.",
        )
    return ProjectRecord(name=name, created=time.time())


def check_size(
    store: IndexStore,
    content: FilePart,
    project: ProjectRecord,
    *,
    max_file_size: int,
    max_project_size: int,
) -> None:
    """Refuse a file over the per-file limit or one that overfills the project."""
    total = sum(f.size for f in store.project_files(project))
    file_limit = max_file_size
    project_room = max_project_size - total
    # Warehouse checks both limits on every chunk, the file limit first.
    file_error = UploadError(
        400,
        f"File too large. Limit for project {project.name!r} is {file_limit // MIB} MB. "
        "See https://docs.pypi.org/project-management/storage-limits"
        "#requesting-a-file-size-limit-increase for more information.",
    )
    project_error = UploadError(
        400,
        f"Project size too large. Limit for project {project.name!r} total size is "
        f"{max_project_size // GIB} GB. "
        "See https://docs.pypi.org/project-management/storage-limits"
        "#requesting-a-project-size-limit-increase",
    )
    if file_limit <= project_room:
        if content.size > file_limit:
            raise file_error
        if content.size > project_room:
            raise project_error
    else:
        if content.size > project_room:
            raise project_error
        if content.size > file_limit:
            raise file_error
    if content.truncated:  # pragma: no cover - implied by the checks above
        raise file_error


def check_digests(fields: UploadFields, content: FilePart) -> None:
    """Refuse an upload whose declared digests differ from the bytes received."""
    computed = {
        "md5": content.md5,
        "sha256": content.sha256,
        "blake2_256": content.blake2_256,
    }
    sent = {
        "md5": fields.md5_digest,
        "sha256": fields.sha256_digest,
        "blake2_256": fields.blake2_256_digest,
    }
    for name, value in sent.items():
        if value and not hmac.compare_digest(value.lower(), computed[name]):
            raise UploadError(
                400,
                "The digest supplied does not match a digest calculated from the uploaded file.",
            )
