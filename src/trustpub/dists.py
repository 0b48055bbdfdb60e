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
from typing import TYPE_CHECKING, BinaryIO, Literal, cast

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
from trustpub.zipcheck import InvalidZip, validate_zip

if TYPE_CHECKING:

    from packaging.metadata import RawMetadata

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


def _dist_info_dir(filename: str) -> str:
    parts = filename.removesuffix(".whl").split("-")
    return f"{parts[0]}-{parts[1] if len(parts) > 1 else ''}.dist-info"


def _wheel_filename_parses(filename: str) -> bool:
    """PyPI refuses a wheel by its filename before it opens the archive, so neither do we."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename
    from packaging.version import InvalidVersion

    try:
        parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return False
    return True


class _RatioExceeded(Exception):
    pass


class _MemberTooLarge(Exception):
    def __init__(self, name: str, size: int) -> None:
        super().__init__(name)
        self.name = name
        self.size = size


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
                    if _wheel_filename_parses(filename):
                        _wheel_members(zf, by_name, filename, facts)
                else:
                    _zip_sdist_members(zf, by_name, filename, facts)
        except _MemberTooLarge as exc:
            facts["oversized_member"] = (exc.name, exc.size)
        except _RatioExceeded:
            facts["archive_error"] = _ratio_message()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            facts["archive_error"] = f"File is not a zipfile ({exc})"
    return facts


def _read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_MEMBER_READ:
        raise _MemberTooLarge(info.filename, info.file_size)
    with zf.open(info) as member:
        data = member.read(MAX_MEMBER_READ + 1)
    if len(data) > MAX_MEMBER_READ:
        raise _MemberTooLarge(info.filename, len(data))
    return data


def _record_problems(zf: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], record: bytes, record_path: str) -> tuple[str, ...]:
    """Members whose RECORD line disagrees with their bytes, or that RECORD leaves out.

    PyPI accepts such wheels (it only e-mails the owners); installers that verify
    RECORD refuse them. Each member is hashed in chunks; the archive's declared sizes
    already passed the compression-ratio rule, so the work is bounded.
    """
    import base64
    import csv

    problems: list[str] = []
    listed: set[str] = set()
    try:
        rows = list(csv.reader(record.decode("utf-8").splitlines()))
    except (UnicodeDecodeError, csv.Error):
        return (f"{record_path} is not a UTF-8 CSV file",)
    for row in rows[:MAX_MEMBERS]:
        if not row:
            continue
        name = row[0]
        listed.add(name)
        if name == record_path or name.endswith((".dist-info/RECORD.jws", ".dist-info/RECORD.p7s")):
            continue
        info = by_name.get(name)
        if info is None:
            problems.append(f"{name} (listed, not in the archive)")
            continue
        digest = row[1] if len(row) > 1 else ""
        algorithm, _, expected = digest.partition("=")
        if algorithm not in ("sha256", "sha384", "sha512"):
            problems.append(f"{name} (no sha256 hash in RECORD)")
            continue
        state = hashlib.new(algorithm)
        size = 0
        with zf.open(info) as member:
            while chunk := member.read(_CHUNK):
                state.update(chunk)
                size += len(chunk)
        actual = base64.urlsafe_b64encode(state.digest()).rstrip(b"=").decode()
        if actual != expected.rstrip("="):
            problems.append(f"{name} (hash differs)")
        elif len(row) > 2 and row[2] and row[2] != str(size):
            problems.append(f"{name} (size differs)")
    for name in by_name:
        if name not in listed and not name.endswith("/") and not name.endswith((".dist-info/RECORD.jws", ".dist-info/RECORD.p7s")):
            problems.append(f"{name} (not listed)")
    return tuple(problems)


def _wheel_members(
    zf: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], filename: str, facts: dict[str, object]
) -> None:
    dist_info = _dist_info_dir(filename)
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
    record_path = f"{dist_info}/RECORD"
    if record_path in by_name:
        record = _read_zip_member(zf, by_name[record_path])
        facts["record_problems"] = _record_problems(zf, by_name, record, record_path)


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
    links: list[str] = []
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
                    if (member.issym() or member.islnk()) and _link_escapes(member):
                        links.append(f"{member.name} -> {member.linkname}")
                    if member.name == pkg_info_name and member.isfile():
                        if member.size > MAX_MEMBER_READ:
                            raise _MemberTooLarge(pkg_info_name, member.size)
                        extracted = tf.extractfile(member)
                        if extracted is not None:
                            facts["metadata"] = extracted.read(MAX_MEMBER_READ)
                            facts["metadata_path"] = pkg_info_name
    except _MemberTooLarge as exc:
        facts["oversized_member"] = (exc.name, exc.size)
        return facts
    except _RatioExceeded:
        facts["archive_error"] = _ratio_message()
        return facts
    except (tarfile.TarError, EOFError, OSError, zlib.error, ValueError) as exc:
        facts["archive_error"] = f"File is not a tarfile ({_short(exc)})"
        return facts
    facts["members"] = tuple(names)
    facts["sparse_members"] = tuple(sparse)
    facts["unsafe_members"] = tuple(n for n in names if _unsafe_path(n))
    facts["unsafe_links"] = tuple(links)
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
    """A member path an extracting tool could write outside its target folder.

    Backslashes count: on Windows they are separators, so ``a\\..\\..\\x`` climbs out and
    ``a\\b.py`` lands in another place than on POSIX.
    """
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return "\\" in name or ".." in name.split("/")


def _link_escapes(member: tarfile.TarInfo) -> bool:
    """A tar link whose target is absolute or climbs out of the sdist's top folder."""
    import posixpath

    target = member.linkname
    if not target or target.startswith(("/", "\\")) or (len(target) > 1 and target[1] == ":"):
        return True
    # Symbolic links resolve from the link's folder, hard links from the archive root.
    base = posixpath.dirname(member.name) if member.issym() else ""
    resolved = posixpath.normpath(posixpath.join(base, target.replace("\\", "/")))
    top = member.name.split("/", 1)[0]
    return resolved == ".." or resolved.startswith("../") or resolved.split("/", 1)[0] != top


def file_mode_is_regular(path: Path) -> bool:
    """True for a regular file (not a folder, socket or device)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


# --------------------------------------------------------------------------- core metadata

#: The placeholder distutils and old setuptools (58 still did, 65 no longer does) wrote
#: for a field left unset, e.g. ``Home-page: UNKNOWN`` or ``Author-email: UNKNOWN``.
UNKNOWN = "UNKNOWN"


def is_unknown_placeholder(value: str) -> bool:
    """True when PyPI would treat ``value`` as absent: ``UNKNOWN``, surrounding blanks ignored."""
    return value.strip() == UNKNOWN


def read_metadata(data: bytes) -> tuple[RawMetadata, dict[str, list[str]]]:
    """Parse core metadata as PyPI reads it from the upload form: ``UNKNOWN`` fields dropped.

    Before validating anything, Warehouse deletes every form field whose value is the
    placeholder ``UNKNOWN`` (warehouse-contract.md, section 2.3), so an old setuptools
    file with ``Home-page: UNKNOWN`` is accepted although ``UNKNOWN`` is no URL. A
    preflight that validated the placeholder would refuse files PyPI takes. PyPI looks
    at the *last* value sent under a key and then removes all of them; the form sends
    one value per item of a multi-value field (``keywords`` joined by commas, each
    project URL as ``"Label, URL"``), so the same is done here per field. Returns
    packaging's ``(raw, unparsed)`` pair with those fields removed from both.
    """
    from packaging.metadata import parse_email

    raw, unparsed = parse_email(data)
    kept = {key: value for key, value in raw.items() if not _placeholder_field(key, value)}
    left = {key: values for key, values in unparsed.items() if not (values and is_unknown_placeholder(values[-1]))}
    return cast("RawMetadata", kept), left


def _placeholder_field(key: str, value: object) -> bool:
    if isinstance(value, str):
        return is_unknown_placeholder(value)
    if key == "keywords" and isinstance(value, list):
        return is_unknown_placeholder(",".join(value))
    if isinstance(value, dict):
        items = list(value.items())
        return bool(items) and is_unknown_placeholder(f"{items[-1][0]}, {items[-1][1]}")
    if isinstance(value, list) and value:
        return isinstance(value[-1], str) and is_unknown_placeholder(value[-1])
    return False
