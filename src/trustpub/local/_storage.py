"""On-disk state of the local index: projects, releases, files, publishers, tokens.

Everything lives under one folder, so a new index on the same folder serves what an
earlier one accepted:

- ``index.json``: the catalogue (written atomically after every change);
- ``files/<b2[:2]>/<b2[2:4]>/<b2[4:]>/<filename>``: the distributions, at the
  content-addressed paths PyPI uses (blake2b-256 of the file), with the wheel's
  ``.metadata`` (PEP 658) and the PEP 740 ``.provenance`` next to them;
- ``tmp/``: upload spool folders (same filesystem, so storing a file is a rename).

Tokens are stored as SHA-256 digests only; the plaintext is returned once, when the
token is created.  The replay set of OIDC ``jti`` values is not stored (it is only
needed while the JWTs are valid, minutes).

Usage::

    store = IndexStore(Path("/tmp/index"))
    project = store.project("Demo")           # by any spelling of the name
    store.save()
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from trustpub.local._publishers import Publisher, publisher_from_json, publisher_to_json

__all__ = [
    "FileRecord",
    "IndexStore",
    "ProjectRecord",
    "ReleaseRecord",
    "TokenRecord",
    "token_digest",
]

_logger = logging.getLogger(__name__)

_STATE_VERSION = 1


def token_digest(token: str) -> str:
    """What the store keeps of a token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class FileRecord:
    """One stored distribution file."""

    filename: str
    project: str  # normalized project name
    version: str  # the release's version string
    packagetype: str
    python_version: str
    size: int
    sha256: str
    blake2_256: str
    md5: str
    path: str  # relative to files/
    upload_time: float
    requires_python: str | None = None
    comment: str | None = None
    metadata_sha256: str | None = None
    metadata_blake2_256: str | None = None
    has_provenance: bool = False


@dataclass
class ReleaseRecord:
    """A release; its metadata is the form metadata of its first file."""

    version: str
    canonical_version: str
    created: float
    summary: str | None = None
    requires_python: str | None = None
    files: list[str] = field(default_factory=list)


@dataclass
class ProjectRecord:
    """A project, keyed by its normalized name."""

    name: str
    created: float
    releases: dict[str, ReleaseRecord] = field(default_factory=dict)  # canonical version ->

    @property
    def normalized_name(self) -> str:
        return canonicalize_name(self.name)


@dataclass
class TokenRecord:
    """An upload token: a user API token or one minted through trusted publishing."""

    digest: str
    kind: str  # "user" or "oidc"
    created: float
    project: str | None = None  # user tokens: normalized project scope, None = all
    publisher_id: str | None = None  # oidc tokens
    project_names: list[str] = field(default_factory=list)  # oidc: projects at mint time
    not_before: float | None = None
    expires: float | None = None


class IndexStore:
    """The catalogue and file tree of one local index folder.

    Not thread-safe by itself: the index serializes access with its own lock.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.files_dir = self.root / "files"
        self.tmp_dir = self.root / "tmp"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._state_path = self.root / "index.json"
        self.projects: dict[str, ProjectRecord] = {}
        self.files: dict[str, FileRecord] = {}
        self.publishers: dict[str, Publisher] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self.deleted_filenames: set[str] = set()
        self._load()

    # -- persistence -------------------------------------------------------------

    def _load(self) -> None:
        if not self._state_path.exists():
            return
        data = json.loads(self._state_path.read_text(encoding="utf-8"))
        if data.get("version") != _STATE_VERSION:
            raise ValueError(f"{self._state_path}: unknown state version {data.get('version')!r}")
        for key, project in data["projects"].items():
            releases = {
                cv: ReleaseRecord(**release) for cv, release in project.pop("releases").items()
            }
            self.projects[key] = ProjectRecord(releases=releases, **project)
        self.files = {name: FileRecord(**record) for name, record in data["files"].items()}
        for record in data["publishers"]:
            publisher = publisher_from_json(record)
            self.publishers[publisher.id] = publisher
        self.tokens = {digest: TokenRecord(**t) for digest, t in data["tokens"].items()}
        self.deleted_filenames = set(data.get("deleted_filenames", []))
        _logger.debug(
            "loaded index state from %s: %d projects, %d files",
            self.root,
            len(self.projects),
            len(self.files),
        )

    def save(self) -> None:
        """Write the catalogue atomically (temporary file, then rename)."""
        data: dict[str, Any] = {
            "version": _STATE_VERSION,
            "projects": {key: asdict(project) for key, project in self.projects.items()},
            "files": {name: asdict(record) for name, record in self.files.items()},
            "publishers": [publisher_to_json(p) for p in self.publishers.values()],
            "tokens": {digest: asdict(token) for digest, token in self.tokens.items()},
            "deleted_filenames": sorted(self.deleted_filenames),
        }
        fd, tmp = tempfile.mkstemp(prefix="index-", suffix=".json", dir=self.root)
        with os.fdopen(fd, "w", encoding="utf-8") as fp:
            json.dump(data, fp, indent=1, sort_keys=True)
        os.replace(tmp, self._state_path)

    # -- lookups -----------------------------------------------------------------

    def project(self, name: str) -> ProjectRecord | None:
        """A project by any spelling of its name (PEP 503 normalization)."""
        return self.projects.get(canonicalize_name(name))

    def project_files(self, project: ProjectRecord) -> list[FileRecord]:
        """Every file of ``project``."""
        return [
            self.files[filename]
            for release in project.releases.values()
            for filename in release.files
            if filename in self.files
        ]

    def file_by_blake2(self, digest: str) -> FileRecord | None:
        for record in self.files.values():
            if record.blake2_256 == digest:
                return record
        return None

    def path_of(self, record: FileRecord) -> Path:
        """Absolute path of a stored distribution."""
        return self.files_dir / record.path

    def resolve(self, relative: str) -> Path | None:
        """A path under ``files/`` from a URL path, refusing anything outside it."""
        candidate = (self.files_dir / relative).resolve()
        root = self.files_dir.resolve()
        if root not in candidate.parents or not candidate.is_file():
            return None
        return candidate

    @staticmethod
    def content_path(blake2_256: str, filename: str) -> str:
        """PyPI's content-addressed path for a file."""
        return "/".join([blake2_256[:2], blake2_256[2:4], blake2_256[4:], filename])
