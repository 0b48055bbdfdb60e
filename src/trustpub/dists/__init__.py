"""Inspect a distribution file: filename, core metadata, archive facts and digests.

Inspection gathers facts; it never decides whether PyPI would accept the file (that is
:mod:`trustpub.checks`). It is safe on hostile input: nothing is extracted to disk,
member paths are only ever treated as strings, every member read is bounded, and
PyPI's compression-ratio limit stops decompression bombs. Problems met while reading
are recorded on the result (``archive_error``), never raised, so one bad file cannot
stop a check of the others. The readers are apart: ``_zip.py`` (wheels and legacy .zip
sdists), ``_tar.py`` (tar.gz sdists), both bounded by ``limits.py``; ``_metadata.py``
reads core metadata as PyPI does. Everything is imported from ``trustpub.dists``::

    >>> dist = inspect("dist/demo-1.0-py3-none-any.whl")   # doctest: +SKIP
    >>> dist.filetype, dist.sha256[:12]                     # doctest: +SKIP
    ('bdist_wheel', '3f1c0a9e4b7d')
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from trustpub.digests import (
    THREAD_HASH_SIZE,
    Digests,
    FileChangedError,
    FileStamp,
    Hashes,
    default_threads,
    hash_file,
    hash_files,
)
from trustpub.dists._metadata import UNKNOWN, is_unknown_placeholder, read_metadata
from trustpub.dists._tar import _inspect_tar
from trustpub.dists._zip import _dist_info_dir, _inspect_zip
from trustpub.dists.limits import COMPRESSION_RATIO_LIMIT, COMPRESSION_RATIO_THRESHOLD

# MAX_MEMBER_READ and MAX_MEMBERS are read from trustpub.dists.limits at call time (a
# test lowers them there): a copy here would be a second name that changes nothing.
__all__ = [
    "COMPRESSION_RATIO_LIMIT",
    "COMPRESSION_RATIO_THRESHOLD",
    "UNKNOWN",
    "Digests",
    "Distribution",
    "FileChangedError",
    "FileStamp",
    "Filetype",
    "Hashes",
    "distribution_filetype",
    "ensure_hashes",
    "hash_file",
    "hash_files",
    "identical_files",
    "inspect",
    "inspect_many",
    "is_unknown_placeholder",
    "read_metadata",
]

Filetype = Literal["sdist", "bdist_wheel"]


def distribution_filetype(filename: str) -> Filetype | None:
    """The upload ``filetype`` PyPI expects for a file name, by extension only.

    ``.zip`` is an sdist format PyPI no longer takes for new uploads; it is reported
    as ``sdist`` here so the PEP 625 rule can refuse it by name.
    """
    if filename.endswith(".whl"):
        return "bdist_wheel"
    if filename.endswith((".tar.gz", ".zip")):
        return "sdist"
    return None


#: Extensions of distribution formats PyPI once took or other tools produce; a file
#: with one of these is a distribution with a refused format, not an unrelated file.
LEGACY_EXTENSIONS = (".egg", ".exe", ".msi", ".rpm", ".dmg", ".tar.bz2", ".tar.xz", ".tgz", ".tar")


@dataclass(frozen=True)
class Distribution:
    """Everything trustpub knows about one distribution file.

    ``metadata`` holds the raw bytes of the core metadata file (``METADATA`` in a wheel,
    the top-level ``PKG-INFO`` in an sdist) or ``None`` when it could not be found;
    ``archive_error`` is PyPI's reason for refusing the archive as a whole (the text
    after "Invalid distribution file."), or ``None``.

    ``not_regular`` says what the entry is when it is not a regular file (a folder, a
    dangling symbolic link, a FIFO); such an entry is never opened. ``oversized_member``
    names a metadata member too large to read (and its size). ``record_problems`` lists
    wheel members whose RECORD line is wrong or missing; ``unsafe_links`` lists sdist
    links (``name -> target``) that point outside the sdist's folder.
    """

    path: Path
    filename: str
    filetype: Filetype | None
    size: int
    digests: Digests = field(compare=False, repr=False)
    members: tuple[str, ...] = ()
    metadata: bytes | None = None
    metadata_path: str | None = None
    wheel_file: bytes | None = None
    entry_points: bytes | None = None
    archive_error: str | None = None
    sparse_members: tuple[str, ...] = ()
    unsafe_members: tuple[str, ...] = ()
    top_level_dirs: tuple[str, ...] = ()
    not_regular: str | None = None
    oversized_member: tuple[str, int] | None = None
    record_problems: tuple[str, ...] = ()
    unsafe_links: tuple[str, ...] = ()
    extra: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def sha256(self) -> str:
        """Lowercase hex sha256 of the file (read now if nothing has needed it yet)."""
        return self.digests.sha256

    @property
    def blake2_256(self) -> str:
        """Lowercase hex BLAKE2b-256 of the file (read now if nothing has needed it yet)."""
        return self.digests.blake2_256

    @property
    def is_wheel(self) -> bool:
        return self.filetype == "bdist_wheel"

    @property
    def is_sdist(self) -> bool:
        return self.filetype == "sdist"

    @property
    def dist_info_dir(self) -> str:
        """``{name}-{version}.dist-info`` from a raw split of the filename on ``-``.

        PyPI takes name and version this way (not from packaging's parser) when it
        looks for ``WHEEL`` and ``METADATA``, so a wheel whose filename and dist-info
        folder disagree is refused; doing the same here finds that first.
        """
        return _dist_info_dir(self.filename)

    @property
    def sdist_top_dir(self) -> str:
        """The folder every sdist member should live in: the filename without extension."""
        for ext in (".tar.gz", ".zip"):
            if self.filename.endswith(ext):
                return self.filename[: -len(ext)]
        return self.filename


def describe_entry(path: Path) -> str | None:
    """What ``path`` is when it is not a regular file (or a link to one); ``None`` when it is.

    Looked up without opening the entry: opening a FIFO would block forever.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if stat.S_ISLNK(mode):
        try:
            target_mode = os.stat(path).st_mode
        except OSError:
            return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
        if stat.S_ISREG(target_mode):
            return None
        return f"a symbolic link to {_kind(target_mode)}"
    return None if stat.S_ISREG(mode) else _kind(mode)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def not_a_file(path: Path | str, what: str) -> Distribution:
    """The record of an entry that is named like a distribution but is no regular file."""
    path = Path(path)
    return Distribution(path, path.name, distribution_filetype(path.name), 0, Digests(path, None, sha256="", blake2_256=""), not_regular=what)


def inspect(path: Path | str, *, hashes: Hashes | None = None, lazy: bool = False) -> Distribution:
    """Inspect one file. Never raises for a bad archive; see ``archive_error``.

    ``hashes`` may be passed when the caller already hashed the file; otherwise the
    file is hashed here, unless ``lazy``: then its digests are computed when first
    needed (:class:`Digests`), which lets the uploader hash it while it streams.
    """
    path = Path(path)
    filename = path.name
    if hashes is None and (what := describe_entry(path)) is not None:
        return not_a_file(path, what)
    stamp = FileStamp.of(os.stat(path))
    if hashes is None and not lazy:
        hashes = hash_file(path)
    filetype = distribution_filetype(filename)
    base = {
        "path": path,
        "filename": filename,
        "filetype": filetype,
        "size": hashes.size if hashes else stamp.size,
        "digests": Digests(path, stamp, sha256=hashes.sha256, blake2_256=hashes.blake2_256) if hashes else Digests(path, stamp),
    }
    if filename.endswith((".whl", ".zip")):
        facts = _inspect_zip(path, filename)
    elif filename.endswith(".tar.gz"):
        facts = _inspect_tar(path, filename)
    else:
        facts = {}
    return Distribution(**base, **facts)  # type: ignore[arg-type]


def inspect_many(paths: Sequence[Path | str], *, threads: int | None = None, hashes: bool = True) -> list[Distribution]:
    """Every file of a release inspected, in order, each hashed exactly once (see :func:`hash_files`).

    ``hashes=False`` hashes nothing now: digests are computed when first needed
    (:class:`Digests`, :func:`ensure_hashes`), or by the uploader while it streams.
    """
    files = [Path(p) for p in paths]
    # Entries that are not regular files are described, never opened (a FIFO blocks).
    kinds = [describe_entry(path) for path in files]
    if not hashes:
        return [inspect(path, lazy=True) if what is None else not_a_file(path, what) for path, what in zip(files, kinds, strict=True)]
    regular = [path for path, what in zip(files, kinds, strict=True) if what is None]
    digests = iter(hash_files(regular, threads=threads))
    return [
        inspect(path, hashes=next(digests)) if what is None else not_a_file(path, what)
        for path, what in zip(files, kinds, strict=True)
    ]


def ensure_hashes(dists: Sequence[Distribution], *, blake2: bool = True, threads: int | None = None) -> None:
    """Compute the digests not computed yet (sha256, and BLAKE2b-256 with ``blake2``), files in parallel.

    One read per file for whatever it misses; large files go to threads (hashlib
    releases the GIL), small ones are done on the calling thread.
    """
    from concurrent.futures import ThreadPoolExecutor

    def missing(d: Distribution) -> bool:
        sha, blake = d.digests.known()
        return sha is None or (blake2 and blake is None)

    todo = [d for d in dists if missing(d)]
    large = sorted((d for d in todo if d.size >= THREAD_HASH_SIZE), key=lambda d: -d.size)
    workers = min(len(large), threads or default_threads())
    if workers < 2:
        for d in todo:
            d.digests.compute(sha256=True, blake2=blake2)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trustpub-hash") as pool:
        futures = [pool.submit(d.digests.compute, sha256=True, blake2=blake2) for d in large]
        for d in todo:
            if d.size < THREAD_HASH_SIZE:
                d.digests.compute(sha256=True, blake2=blake2)
        for future in futures:
            future.result()


#: Bytes compared at each end of two same-size files before hashing them: a ZIP's
#: central directory (each member's name and CRC-32) and a gzip trailer (CRC-32 and
#: length of the content) are at the end, so different files differ there.
_SAMPLE = 64 * 1024


def identical_files(dists: Sequence[Distribution]) -> dict[str, str]:
    """{filename: an earlier filename with exactly the same bytes}, reading as little as possible.

    Files of different sizes cannot be equal, and same-size files whose first or last
    64 KiB differ are not either; only the rest are hashed (sha256) to decide. So a
    release check does not force a full read of every file before the upload.
    """
    by_size: dict[int, list[Distribution]] = {}
    for dist in dists:
        if dist.not_regular is None:
            by_size.setdefault(dist.size, []).append(dist)
    same: dict[str, str] = {}
    for group in by_size.values():
        if len(group) < 2:
            continue
        by_sample: dict[bytes, list[Distribution]] = {}
        for dist in group:
            by_sample.setdefault(_ends(dist), []).append(dist)
        for candidates in by_sample.values():
            first_by_digest: dict[str, str] = {}
            for dist in candidates if len(candidates) > 1 else ():
                first = first_by_digest.setdefault(dist.sha256, dist.filename)
                if first != dist.filename:
                    same[dist.filename] = first
    return same


def _ends(dist: Distribution) -> bytes:
    known = dist.digests.known()[0]
    if known is not None:
        return known.encode()
    try:
        with open(dist.path, "rb") as fp:
            head = fp.read(_SAMPLE)
            if dist.size > 2 * _SAMPLE:
                fp.seek(-_SAMPLE, os.SEEK_END)
            return head + fp.read(_SAMPLE)
    except OSError:
        return b""


def file_mode_is_regular(path: Path) -> bool:
    """True for a regular file (not a folder, socket or device)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False
