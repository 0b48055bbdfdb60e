"""Staged files of the Upload 2.0 API, checked by the local index's own upload rules.

A file uploaded through a PEP 694 session is checked when its file upload session is
completed, with the same rules, in the same order and with the same messages as a
legacy upload (``_validate``, ``_archives`` and the index's own size, permission and
attestation checks), with one difference the PEP makes: there is no form, so the
core metadata is read from the file itself (the wheel's ``METADATA``, the sdist's
``PKG-INFO``).  A checked file waits in the index's spool folder as a
:class:`StagedFile`; :func:`conflicts` is the check against the published state
(best effort on completion, authoritative at publish, under the index lock), and
:func:`commit` stores every file of a session through the index's own ``_commit``,
so a published release is indistinguishable from one uploaded with the legacy API.

Usage (the index lock held for ``conflicts`` and ``commit``)::

    staged = check_file(index, project_name="demo", version="1.0", received=received,
                        attestations=None, identity=identity)
    problems = conflicts(index, "demo", "1.0", [staged])
    if not problems:
        commit(index, "demo", "1.0", [staged])
"""

from __future__ import annotations

import hashlib
import logging
import tarfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.metadata import ExceptionGroup, InvalidMetadata, Metadata, parse_email
from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version

from trustpub.local import _archives, _validate
from trustpub.local._forms import FilePart, Form
from trustpub.local._responses import UploadError
from trustpub.local._storage import FileRecord, ProjectRecord, ReleaseRecord
from trustpub.local._upload_rules import (
    RELEASE_UPLOAD_WINDOW,  # the legacy rule, for staged files too
)
from trustpub.local._validate import UploadFields, help_url

if TYPE_CHECKING:
    from trustpub.local._upload_auth import Identity
    from trustpub.local.index import LocalIndex

__all__ = [
    "Received",
    "StagedFile",
    "check_file",
    "commit",
    "conflicts",
    "filetype_of",
    "name_conflict",
    "preview_record",
]

_logger = logging.getLogger(__name__)

#: Most bytes read from a METADATA or PKG-INFO member (the index's own bound).
_MAX_METADATA = 16 * 1024 * 1024


@dataclass(frozen=True)
class Received:
    """The bytes of one file as the ``http-post-bytes`` mechanism stored them.

    ``digests`` holds the hex digest of every algorithm the client declared, plus
    ``sha256``, ``blake2_256`` (blake2b with a 32-byte digest, PyPI's) and ``md5``,
    all computed in the one pass that wrote the file.
    """

    filename: str
    path: Path
    size: int
    digests: Mapping[str, str]


@dataclass(frozen=True)
class StagedFile:
    """A completed file: checked, waiting to be published or previewed."""

    filename: str
    filetype: str
    pyversion: str
    path: Path
    size: int
    sha256: str
    blake2_256: str
    md5: str
    meta: Metadata
    wheel_metadata: bytes | None
    provenance: dict[str, Any] | None
    completed: float


def filetype_of(filename: str) -> str | None:
    """``bdist_wheel`` or ``sdist`` from the extension; ``None`` for anything else.

    PEP 694 accepts the two standard file name conventions only: ``.whl`` and
    ``.tar.gz`` (no legacy ``.zip`` sdists).
    """
    if filename.endswith(".whl"):
        return "bdist_wheel"
    if filename.endswith(".tar.gz"):
        return "sdist"
    return None


def _pyversion(filename: str, filetype: str) -> str:
    if filetype == "sdist":
        return "source"
    return filename[: -len(".whl")].split("-")[-3]


def _part(received: Received) -> FilePart:
    return FilePart(
        name="content",
        filename=received.filename,
        content_type="application/octet-stream",
        path=received.path,
        size=received.size,
        truncated=False,
        sha256=received.digests["sha256"],
        blake2_256=received.digests["blake2_256"],
        md5=received.digests["md5"],
    )


def _read_member_bytes(path: Path, filename: str, filetype: str) -> bytes:
    """The METADATA of a wheel or the top-level PKG-INFO of an sdist, bounded."""
    if filetype == "bdist_wheel":
        name, version = filename.split("-")[:2]
        member = f"{name}-{version}.dist-info/METADATA"
        with zipfile.ZipFile(path) as zfp:
            if member not in zfp.namelist():
                raise UploadError(
                    400,
                    f"Wheel '{filename}' does not contain the required METADATA file: {member}",
                )
            with zfp.open(member) as fp:
                data = fp.read(_MAX_METADATA + 1)
    else:
        with tarfile.open(path, mode="r:gz") as tar:
            candidates = [
                m for m in tar.getmembers() if m.isfile() and m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
            ]
            if not candidates:
                raise UploadError(400, f"Invalid distribution file. {filename} has no top-level PKG-INFO")
            handle = tar.extractfile(min(candidates, key=lambda m: len(m.name)))
            assert handle is not None  # a regular file member always has a handle
            data = handle.read(_MAX_METADATA + 1)
    if len(data) > _MAX_METADATA:
        raise UploadError(400, f"Invalid distribution file. The core metadata of {filename} is too large")
    return data


def read_metadata(path: Path, filename: str, filetype: str) -> Metadata:
    """Core metadata from the file itself, validated with the legacy API's rules."""
    data = _read_member_bytes(path, filename, filetype)
    raw, unparsed = parse_email(data)
    if unparsed:
        errors = [InvalidMetadata(key, f"{key!r} has invalid data") for key in unparsed]
        raise _validate._first_metadata_error(errors)
    try:
        meta = Metadata.from_raw(raw)
    except ExceptionGroup as group:
        raise _validate._first_metadata_error(_validate._invalid_metadata(group)) from None
    errors = _validate._warehouse_rules(meta)
    if errors:
        raise _validate._first_metadata_error(errors)
    return meta


def _project_for_checks(index: LocalIndex, name: str) -> ProjectRecord:
    project = index._store.project(name)
    return project if project is not None else ProjectRecord(name=name, created=time.time())


def check_file(
    index: LocalIndex,
    *,
    project_name: str,
    version: str,
    received: Received,
    declared: Mapping[str, str],
    attestations: str | None,
    identity: Identity | None,
) -> StagedFile:
    """Every per-file rule of the legacy upload, on a file received through a session.

    ``declared`` are the hashes the client announced when it created the file upload
    session; each must match what arrived.  Raises :class:`UploadError` with the
    status and text the legacy API would send.
    """
    filename = received.filename
    filetype = filetype_of(filename)
    if filetype is None:
        raise UploadError(400, f"Invalid filename {filename!r}: use a wheel (.whl) or sdist (.tar.gz) name")
    _validate.validate_filename(filename, filetype)
    with index._lock:
        project = _project_for_checks(index, project_name)
        part = _part(received)
        index._check_size(part, project)
    for algorithm, value in declared.items():
        if received.digests.get(algorithm, "") != value.lower():
            raise UploadError(
                400,
                f"The {algorithm} digest supplied does not match a digest calculated from the uploaded file.",
            )
    _archives.check_dist_file(received.path, filename, filetype)
    meta = read_metadata(received.path, filename, filetype)
    _validate.render_description(meta)
    if canonicalize_name(meta.name) != canonicalize_name(project_name):
        raise UploadError(
            400,
            f"The metadata of {filename} names the project {meta.name!r}, "
            f"but this publishing session is for {project_name!r}.",
        )
    if meta.version != Version(version):
        raise UploadError(
            400,
            f"The metadata of {filename} has version {str(meta.version)!r}, "
            f"but this publishing session is for version {version!r}.",
        )
    wheel_metadata: bytes | None = None
    if filetype == "sdist":
        _archives.check_sdist(received.path, filename, project.name, meta)
    else:
        wheel_metadata = _archives.check_wheel(received.path, filename, project.name, meta)
    provenance: dict[str, Any] | None = None
    if attestations is not None and identity is not None:
        provenance = index._attestations(Form([("attestations", attestations)]), filename, part, identity)
    return StagedFile(
        filename=filename,
        filetype=filetype,
        pyversion=_pyversion(filename, filetype),
        path=received.path,
        size=received.size,
        sha256=received.digests["sha256"],
        blake2_256=received.digests["blake2_256"],
        md5=received.digests["md5"],
        meta=meta,
        wheel_metadata=wheel_metadata,
        provenance=provenance,
        completed=time.time(),
    )


def conflicts(
    index: LocalIndex,
    project_name: str,
    version: str,
    staged: Sequence[StagedFile],
    *,
    reserved: Mapping[str, str] | None = None,
    session_id: str = "",
) -> list[tuple[str, int, str]]:
    """What the published state says against publishing ``staged``: (filename, status, message).

    Call with the index lock held.  ``reserved`` maps filenames held by another
    session's publish to that session's id (PEP 694's filename reservation).
    """
    store = index._store
    found: list[tuple[str, int, str]] = []
    project = store.project(project_name)
    release = project.releases.get(canonicalize_version(version)) if project is not None else None
    published_sdist = release is not None and any(
        store.files[f].packagetype == "sdist" for f in release.files if f in store.files
    )
    staged_sdists = 0
    for item in staged:
        problem = name_conflict(index, item.filename, item.blake2_256, reserved=reserved, session_id=session_id)
        if problem is not None:
            found.append((item.filename, 409, problem))
        if item.filetype == "sdist":
            staged_sdists += 1
            if published_sdist or staged_sdists > 1:
                found.append((item.filename, 400, "Only one sdist may be uploaded per release."))
    if release is not None and staged and time.time() - release.created > RELEASE_UPLOAD_WINDOW:
        found.append((staged[0].filename, 400, "Uploading new files to releases older than 14 days is not allowed."))
    return found


def name_conflict(
    index: LocalIndex,
    filename: str,
    blake2_256: str | None,
    *,
    reserved: Mapping[str, str] | None = None,
    session_id: str = "",
) -> str | None:
    """Why ``filename`` (or these bytes) can never be published here, or ``None`` (index lock held).

    Published files are immutable and a deleted file's name is never reused; a
    filename held by another session's publish counts as published (PEP 694).
    """
    store = index._store
    existing = store.files.get(filename) or (store.file_by_blake2(blake2_256) if blake2_256 else None)
    if existing is not None:
        return (
            f"File already exists ({existing.filename!r}, with blake2_256 hash "
            f"{existing.blake2_256!r}); published files can never be replaced. "
            f"See {help_url('file-name-reuse')} for more information."
        )
    holder = (reserved or {}).get(filename)
    if holder is not None and holder != session_id:
        return f"{filename} is being published by another session."
    if filename in store.deleted_filenames:
        return (
            "This filename was previously used by a file that has since been deleted. "
            f"Use a different version. See {help_url('file-name-reuse')} for more information."
        )
    return None


def commit(index: LocalIndex, project_name: str, version: str, staged: Sequence[StagedFile]) -> None:
    """Store every staged file as published, in one go (index lock held, conflicts checked).

    A session with no files registers the project name (PEP 694's name reservation
    made permanent); otherwise the first file creates the project and the release,
    exactly as a legacy upload would.
    """
    store = index._store
    project = store.project(project_name)
    creating_project = project is None
    if project is None:
        project = index._new_project(project_name)
    if not staged:
        if creating_project:
            store.projects[project.normalized_name] = project
            store.save()
        return
    canonical = canonicalize_version(version)
    release = project.releases.get(canonical)
    creating_release = release is None
    if release is None:
        meta = staged[0].meta
        release = ReleaseRecord(
            version=str(meta.version),
            canonical_version=canonical,
            created=time.time(),
            summary=meta.summary,
            requires_python=str(meta.requires_python) if meta.requires_python else None,
        )
    ordered = sorted(staged, key=lambda s: (s.filetype != "bdist_wheel", s.filename))
    for position, item in enumerate(ordered):
        index._commit(
            project=project,
            release=release,
            creating_project=creating_project and position == 0,
            creating_release=creating_release and position == 0,
            fields=UploadFields(
                name=project.name,
                filetype=item.filetype,
                pyversion=item.pyversion,
                comment=None,
                md5_digest=None,
                sha256_digest=item.sha256,
                blake2_256_digest=item.blake2_256,
            ),
            meta=item.meta,
            content=FilePart(
                name="content",
                filename=item.filename,
                content_type="application/octet-stream",
                path=item.path,
                size=item.size,
                truncated=False,
                sha256=item.sha256,
                blake2_256=item.blake2_256,
                md5=item.md5,
            ),
            wheel_metadata=item.wheel_metadata,
            provenance=item.provenance,
        )
    _logger.debug("published %d staged file(s) of %s %s", len(ordered), project.name, version)


def preview_record(item: StagedFile, project_name: str, relative: str) -> FileRecord:
    """A :class:`FileRecord` for a staged file, for the stage's simple pages.

    ``relative`` is the path under the stage's ``files/`` URL.
    """
    metadata_sha256 = metadata_blake2 = None
    if item.wheel_metadata is not None:
        metadata_sha256 = hashlib.sha256(item.wheel_metadata).hexdigest()
        metadata_blake2 = hashlib.blake2b(item.wheel_metadata, digest_size=32).hexdigest()
    requires_python = item.meta.requires_python
    try:
        version = str(Version(str(item.meta.version)))
    except InvalidVersion:  # pragma: no cover - checked on completion
        version = str(item.meta.version)
    return FileRecord(
        filename=item.filename,
        project=canonicalize_name(project_name),
        version=version,
        packagetype=item.filetype,
        python_version=item.pyversion,
        size=item.size,
        sha256=item.sha256,
        blake2_256=item.blake2_256,
        md5=item.md5,
        path=relative,
        upload_time=item.completed,
        requires_python=str(requires_python) if requires_python else None,
        metadata_sha256=metadata_sha256,
        metadata_blake2_256=metadata_blake2,
        has_provenance=False,
    )
