"""Inspect a distribution file: filename, core metadata, archive facts and digests.

Inspection gathers facts; it never decides whether PyPI would accept the file (that is
:mod:`trustpub.checks`). It is safe on hostile input: nothing is extracted to disk,
member paths are only ever treated as strings, every member read is bounded, and
PyPI's compression-ratio limit stops decompression bombs. Problems met while reading
are recorded on the result (``archive_error``), never raised, so one bad file cannot
stop a check of the others::

    >>> dist = inspect("dist/demo-1.0-py3-none-any.whl")   # doctest: +SKIP
    >>> dist.filetype, dist.sha256[:12]                     # doctest: +SKIP
    ('bdist_wheel', '3f1c0a9e4b7d')
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from trustpub.errors import TrustpubError
from trustpub.zipcheck import InvalidZip, validate_zip

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = [
    "COMPRESSION_RATIO_LIMIT",
    "COMPRESSION_RATIO_THRESHOLD",
    "Distribution",
    "Filetype",
    "Hashes",
    "distribution_filetype",
    "hash_file",
    "hash_files",
    "inspect",
    "inspect_many",
]

Filetype = Literal["sdist", "bdist_wheel"]

#: PyPI refuses an archive whose decompressed size exceeds this ratio of its
#: compressed size, once more than ``COMPRESSION_RATIO_THRESHOLD`` bytes came out.
COMPRESSION_RATIO_LIMIT = 50
COMPRESSION_RATIO_THRESHOLD = 64 * 1024 * 1024

#: Upper bound on any single member read into memory (METADATA, PKG-INFO, WHEEL,
#: entry_points.txt). Real ones are kilobytes; a README-heavy PKG-INFO rarely
#: exceeds a few hundred.
MAX_MEMBER_READ = 16 * 1024 * 1024

#: Upper bound on the number of archive members we look at.
MAX_MEMBERS = 200_000

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Hashes:
    """Digests PyPI checks on upload, computed in one pass over the file."""

    sha256: str
    blake2_256: str
    size: int


def hash_file(path: Path) -> Hashes:
    """sha256 and blake2b-256 of ``path`` in ONE read of the file.

    Reads in 1 MiB chunks into a reused buffer, so memory stays flat for any size.
    """
    sha = hashlib.sha256()
    blake = hashlib.blake2b(digest_size=32)
    size = 0
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fp:
        while n := fp.readinto(buf):
            chunk = view[:n]
            sha.update(chunk)
            blake.update(chunk)
            size += n
    return Hashes(sha.hexdigest(), blake.hexdigest(), size)


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
    """

    path: Path
    filename: str
    filetype: Filetype | None
    size: int
    sha256: str
    blake2_256: str
    members: tuple[str, ...] = ()
    metadata: bytes | None = None
    metadata_path: str | None = None
    wheel_file: bytes | None = None
    entry_points: bytes | None = None
    archive_error: str | None = None
    sparse_members: tuple[str, ...] = ()
    unsafe_members: tuple[str, ...] = ()
    top_level_dirs: tuple[str, ...] = ()
    extra: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

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
        parts = self.filename.split("-")
        return f"{parts[0]}-{parts[1] if len(parts) > 1 else ''}.dist-info"

    @property
    def sdist_top_dir(self) -> str:
        """The folder every sdist member should live in: the filename without extension."""
        for ext in (".tar.gz", ".zip"):
            if self.filename.endswith(ext):
                return self.filename[: -len(ext)]
        return self.filename


class _RatioExceeded(Exception):
    pass


class _CountingReader(io.RawIOBase):
    """Decompressed-size guard: PyPI's compression-ratio rule applied while reading."""

    def __init__(self, inner: BinaryIO, compressed_size: int) -> None:
        self._inner = inner
        self._limit_base = max(compressed_size, 1)
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        if (
            self.count > COMPRESSION_RATIO_THRESHOLD
            and self.count / self._limit_base > COMPRESSION_RATIO_LIMIT
        ):
            raise _RatioExceeded
        return n


def _ratio_message() -> str:
    return f"File exceeds compression ratio of {COMPRESSION_RATIO_LIMIT}"


def inspect(path: Path | str, *, hashes: Hashes | None = None) -> Distribution:
    """Inspect one file. Never raises for a bad archive; see ``archive_error``.

    ``hashes`` may be passed when the caller already hashed the file (the upload
    engine hashes while it streams); otherwise the file is hashed here.
    """
    path = Path(path)
    filename = path.name
    digests = hashes or hash_file(path)
    filetype = distribution_filetype(filename)
    base = {
        "path": path,
        "filename": filename,
        "filetype": filetype,
        "size": digests.size,
        "sha256": digests.sha256,
        "blake2_256": digests.blake2_256,
    }
    if filename.endswith((".whl", ".zip")):
        facts = _inspect_zip(path, filename)
    elif filename.endswith(".tar.gz"):
        facts = _inspect_tar(path, filename)
    else:
        facts = {}
    return Distribution(**base, **facts)  # type: ignore[arg-type]


#: Files at least this large are hashed by two threads, one per algorithm.
SPLIT_HASH_SIZE = 8 * 1024 * 1024
#: Smaller files are hashed on the calling thread: for them a thread costs more than it saves.
THREAD_HASH_SIZE = 1024 * 1024
_CHUNK = 1024 * 1024


def _digest(path: Path, algorithm: str) -> tuple[str, int]:
    state = hashlib.sha256() if algorithm == "sha256" else hashlib.blake2b(digest_size=32)
    size = 0
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fp:
        while n := fp.readinto(buf):
            state.update(view[:n])
            size += n
    return state.hexdigest(), size


def _default_threads() -> int:
    return max(2, min(8, os.cpu_count() or 2))


def hash_files(paths: Sequence[Path], *, threads: int | None = None) -> list[Hashes]:
    """sha256 and blake2b-256 of every file, large ones in parallel threads.

    hashlib releases the GIL on large updates, so files of :data:`THREAD_HASH_SIZE`
    or more go to a thread pool (longest task first) while the calling thread hashes the
    small ones, which are too quick to be worth a hand-off (measured: 41 wheels of
    15 kB hash 30 % slower through a pool). A file of :data:`SPLIT_HASH_SIZE` or more is
    read by two threads, one per algorithm: blake2b runs at about half the speed of
    sha256, and one large file would otherwise keep one core busy while the other
    waits (the second read comes from the page cache). Every other file is read once
    for both digests (:func:`trustpub.dists.hash_file`).
    """
    from concurrent.futures import ThreadPoolExecutor

    sizes = [os.stat(p).st_size for p in paths]
    large = [i for i, size in enumerate(sizes) if size >= THREAD_HASH_SIZE]
    hashes: dict[int, Hashes] = {}
    if large and (threads or _default_threads()) > 1:
        with ThreadPoolExecutor(max_workers=threads or _default_threads(), thread_name_prefix="trustpub-hash") as pool:
            # Longest task first (blake2b costs about 1.7x sha256 per byte), so no
            # thread is left alone with a long task at the end.
            tasks = sorted(
                [(sizes[i] * 1.7, i, "blake2b") for i in large if sizes[i] >= SPLIT_HASH_SIZE]
                + [(sizes[i] * 1.0, i, "sha256") for i in large if sizes[i] >= SPLIT_HASH_SIZE]
                + [(sizes[i] * 2.7, i, "both") for i in large if sizes[i] < SPLIT_HASH_SIZE],
                key=lambda task: -task[0],
            )
            whole: dict[int, Future[Hashes]] = {}
            parts: dict[tuple[int, str], Future[tuple[str, int]]] = {}
            for _, i, algorithm in tasks:
                if algorithm == "both":
                    whole[i] = pool.submit(hash_file, Path(paths[i]))
                else:
                    parts[i, algorithm] = pool.submit(_digest, Path(paths[i]), algorithm)
            for i, size in enumerate(sizes):
                if size < THREAD_HASH_SIZE:
                    hashes[i] = hash_file(Path(paths[i]))
            for i, future in whole.items():
                hashes[i] = future.result()
            for i in sorted({i for i, _ in parts}):
                (sha, sha_size), (blake, blake_size) = parts[i, "sha256"].result(), parts[i, "blake2b"].result()
                if sha_size != blake_size:
                    raise TrustpubError(f"{Path(paths[i]).name} changed while it was being hashed; rebuild and re-run")
                hashes[i] = Hashes(sha, blake, sha_size)
    return [hashes[i] if i in hashes else hash_file(Path(p)) for i, p in enumerate(paths)]


def inspect_many(paths: Sequence[Path | str], *, threads: int | None = None) -> list[Distribution]:
    """Every file of a release inspected, in order, each hashed exactly once (see :func:`hash_files`)."""
    files = [Path(p) for p in paths]
    digests = hash_files(files, threads=threads)
    return [inspect(path, hashes=h) for path, h in zip(files, digests, strict=True)]


# -- ZIP (wheels and legacy .zip sdists) ---------------------------------------------


def _inspect_zip(path: Path, filename: str) -> dict[str, object]:
    facts: dict[str, object] = {}
    with open(path, "rb") as fp:
        try:
            validate_zip(fp)
        except InvalidZip as exc:
            # PyPI reports "File is not a zipfile" for non-ZIP data and the
            # container reason otherwise.
            if exc.reason == "File is not a zip file":
                facts["archive_error"] = "File is not a zipfile"
            else:
                facts["archive_error"] = f"ZIP archive not accepted: {exc.reason}"
            return facts
        fp.seek(0)
        try:
            with zipfile.ZipFile(fp) as zf:
                infos = zf.infolist()[:MAX_MEMBERS]
                names = tuple(i.filename for i in infos)
                facts["members"] = names
                for info in infos:
                    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                        facts["archive_error"] = "Invalid compression method"
                        return facts
                declared = sum(i.file_size for i in infos)
                if (
                    declared > COMPRESSION_RATIO_THRESHOLD
                    and declared / max(path.stat().st_size, 1) > COMPRESSION_RATIO_LIMIT
                ):
                    facts["archive_error"] = _ratio_message()
                    return facts
                facts["unsafe_members"] = tuple(n for n in names if _unsafe_path(n))
                by_name = {i.filename: i for i in infos}
                if filename.endswith(".whl"):
                    _wheel_members(zf, by_name, filename, facts)
                else:
                    _zip_sdist_members(zf, by_name, filename, facts)
        except _RatioExceeded:
            facts["archive_error"] = _ratio_message()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            facts["archive_error"] = f"File is not a zipfile ({exc})"
    return facts


def _read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_MEMBER_READ:
        raise ValueError(f"member {info.filename!r} is larger than {MAX_MEMBER_READ} bytes")
    with zf.open(info) as member:
        data = member.read(MAX_MEMBER_READ + 1)
    if len(data) > MAX_MEMBER_READ:
        raise ValueError(f"member {info.filename!r} is larger than {MAX_MEMBER_READ} bytes")
    return data


def _wheel_members(
    zf: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], filename: str, facts: dict[str, object]
) -> None:
    parts = filename.split("-")
    dist_info = f"{parts[0]}-{parts[1] if len(parts) > 1 else ''}.dist-info"
    wheel_path = f"{dist_info}/WHEEL"
    if wheel_path not in by_name:
        facts["archive_error"] = f"WHEEL not found at {wheel_path}"
        return
    facts["wheel_file"] = _read_zip_member(zf, by_name[wheel_path])
    meta_path = f"{dist_info}/METADATA"
    if meta_path in by_name:
        facts["metadata"] = _read_zip_member(zf, by_name[meta_path])
        facts["metadata_path"] = meta_path
    ep_path = f"{dist_info}/entry_points.txt"
    if ep_path in by_name:
        facts["entry_points"] = _read_zip_member(zf, by_name[ep_path])


def _zip_sdist_members(
    zf: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], filename: str, facts: dict[str, object]
) -> None:
    tops = sorted({n.split("/", 1)[0] for n in by_name if n})
    facts["top_level_dirs"] = tuple(tops)
    if len(tops) != 1:
        facts["archive_error"] = "Incorrect number of top-level directories in sdist"
        return
    pkg_info = f"{tops[0]}/PKG-INFO"
    if pkg_info not in by_name:
        facts["archive_error"] = f"PKG-INFO not found at {pkg_info}"
        return
    facts["metadata"] = _read_zip_member(zf, by_name[pkg_info])
    facts["metadata_path"] = pkg_info


# -- tar.gz sdists -------------------------------------------------------------------


def _inspect_tar(path: Path, filename: str) -> dict[str, object]:
    facts: dict[str, object] = {}
    names: list[str] = []
    sparse: list[str] = []
    top_dir = filename[: -len(".tar.gz")]
    pkg_info_name = f"{top_dir}/PKG-INFO"
    compressed = path.stat().st_size
    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
            if magic != b"\x1f\x8b":
                facts["archive_error"] = "File is not a tarfile"
                return facts
            raw.seek(0)
            import gzip

            gz = gzip.GzipFile(fileobj=raw, mode="rb")
            counted = io.BufferedReader(_CountingReader(gz, compressed), buffer_size=_CHUNK)  # type: ignore[arg-type]
            with tarfile.open(fileobj=counted, mode="r|") as tf:
                for member in _iter_tar(tf):
                    names.append(member.name)
                    if member.issparse():
                        sparse.append(member.name)
                    if member.name == pkg_info_name and member.isfile():
                        if member.size > MAX_MEMBER_READ:
                            raise ValueError(f"{pkg_info_name} is larger than {MAX_MEMBER_READ} bytes")
                        extracted = tf.extractfile(member)
                        if extracted is not None:
                            facts["metadata"] = extracted.read(MAX_MEMBER_READ)
                            facts["metadata_path"] = pkg_info_name
    except _RatioExceeded:
        facts["archive_error"] = _ratio_message()
        return facts
    except (tarfile.TarError, EOFError, OSError, zlib.error, ValueError) as exc:
        facts["archive_error"] = f"File is not a tarfile ({_short(exc)})"
        return facts
    facts["members"] = tuple(names)
    facts["sparse_members"] = tuple(sparse)
    facts["unsafe_members"] = tuple(n for n in names if _unsafe_path(n))
    tops = sorted({n.split("/", 1)[0] for n in names if n and n != "."})
    facts["top_level_dirs"] = tuple(tops)
    if sparse:
        facts["archive_error"] = f"Sparse tar members are not supported: {sparse[0]}"
    elif not names:
        facts["archive_error"] = "File is not a tarfile (empty archive)"
    elif len(tops) != 1:
        facts["archive_error"] = "Incorrect number of top-level directories in sdist"
    elif "metadata" not in facts:
        facts["archive_error"] = f"PKG-INFO not found at {pkg_info_name}"
    return facts


def _iter_tar(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for count, member in enumerate(tf, start=1):
        if count > MAX_MEMBERS:
            raise ValueError(f"more than {MAX_MEMBERS} members")
        yield member


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 120 else text[:117] + "..."


def _unsafe_path(name: str) -> bool:
    """A member path an extracting tool could write outside its target folder."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name.replace("\\", "/").split("/")


def file_mode_is_regular(path: Path) -> bool:
    """True for a regular file (not a folder, socket or device)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False
