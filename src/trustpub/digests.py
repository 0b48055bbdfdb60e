"""Digests of release files: sha256 and BLAKE2b-256, each file read once.

What an upload form, an attestation and the index's listing all name; computed in one
pass per file (large files on threads, since hashlib releases the GIL), or while the
uploader streams (:class:`Digests`), and guarded by the file's stat
(:class:`FileStamp`) so that a file changed during a release is caught, not sent.
Inspection (:mod:`trustpub.dists`) attaches a :class:`Digests` to each distribution.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trustpub.errors import TrustpubError

if TYPE_CHECKING:
    from concurrent.futures import Future


__all__ = [
    "SPLIT_HASH_SIZE",
    "THREAD_HASH_SIZE",
    "Digests",
    "FileChangedError",
    "FileStamp",
    "Hashes",
    "default_threads",
    "hash_file",
    "hash_files",
]

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


class FileChangedError(TrustpubError):
    """A file is not the one that was inspected (its size, times or inode moved)."""


@dataclass(frozen=True)
class FileStamp:
    """What ``stat`` said about a file when it was inspected.

    A rewrite (even to the same size) moves ``mtime_ns``/``ctime_ns`` and a replace
    moves the inode, so comparing stamps notices a changed file without reading it
    again; that is what lets a file be read only once on its way to the index.
    """

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStamp:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)

    def matches(self, st: os.stat_result) -> bool:
        """True when ``st`` describes the same, unmodified file."""
        return FileStamp.of(st) == self


class Digests:
    """A file's sha256 and BLAKE2b-256, each computed at most once, when first needed.

    Why lazy: publishing should read each byte as few times as the protocol allows. A
    file the index does not have yet is hashed while it streams (the uploader hands the
    result in with :meth:`provide`); only a file whose name the index already holds, or
    one an attestation must name, is hashed before its upload. Whoever asks for a digest
    nobody computed yet gets it computed on the spot, so no caller sees a missing
    value, and a read that finds the file changed since it was inspected raises
    :class:`FileChangedError` instead of returning the digest of other bytes. Thread-safe.
    """

    def __init__(
        self, path: Path, stamp: FileStamp | None, *, sha256: str | None = None, blake2_256: str | None = None
    ) -> None:
        self.path = path
        self.stamp = stamp
        self._sha256 = sha256
        self._blake2 = blake2_256
        self._lock = threading.Lock()
        #: Bytes read from disk to compute digests here (for tests and profiles).
        self.bytes_read = 0

    def known(self) -> tuple[str | None, str | None]:
        """(sha256, blake2_256) as far as computed; ``None`` for what nothing needed yet."""
        return self._sha256, self._blake2

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self.compute(sha256=True, blake2=False)
        assert self._sha256 is not None
        return self._sha256

    @property
    def blake2_256(self) -> str:
        if self._blake2 is None:
            self.compute(sha256=False, blake2=True)
        assert self._blake2 is not None
        return self._blake2

    def compute(self, *, sha256: bool = True, blake2: bool = True) -> None:
        """Compute whichever requested digest is missing, in ONE read of the file."""
        with self._lock:
            sha = hashlib.sha256() if sha256 and self._sha256 is None else None
            blake = hashlib.blake2b(digest_size=32) if blake2 and self._blake2 is None else None
            if sha is None and blake is None:
                return
            buf = bytearray(_CHUNK)
            view = memoryview(buf)
            size = 0
            with open(self.path, "rb", buffering=0) as fp:
                self.check(os.fstat(fp.fileno()))
                while n := fp.readinto(buf):
                    chunk = view[:n]
                    if sha is not None:
                        sha.update(chunk)
                    if blake is not None:
                        blake.update(chunk)
                    size += n
                self.check(os.fstat(fp.fileno()), read=size)
            self.bytes_read += size
            if sha is not None:
                self._sha256 = sha.hexdigest()
            if blake is not None:
                self._blake2 = blake.hexdigest()

    def provide(self, *, sha256: str, blake2_256: str | None = None) -> None:
        """Digests computed by another reader of the same bytes (the uploader, while streaming)."""
        with self._lock:
            if self._sha256 is not None and self._sha256 != sha256:
                raise FileChangedError(f"{self.path.name} changed on disk while it was being read", hint=_CHANGED_HINT)
            self._sha256 = sha256
            if blake2_256 is not None and self._blake2 is None:
                self._blake2 = blake2_256

    def check(self, st: os.stat_result, *, read: int | None = None) -> None:
        """Raise :class:`FileChangedError` when ``st`` (or the count of bytes read) is not the inspected file's."""
        if self.stamp is None:
            return
        if not self.stamp.matches(st) or (read is not None and read != self.stamp.size):
            raise FileChangedError(
                f"{self.path.name} changed on disk after it was checked "
                f"(was {self.stamp.size} bytes, now {st.st_size if read is None else read})",
                hint=_CHANGED_HINT,
            )


_CHANGED_HINT = "rebuild and re-run; never modify dist/ while a release is running"


#: Files at least this large are hashed by two threads, one per algorithm.
SPLIT_HASH_SIZE = 8 * 1024 * 1024
#: Smaller files are hashed on the calling thread: for them a thread costs more than it saves.
THREAD_HASH_SIZE = 1024 * 1024


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


def default_threads() -> int:
    """Hashing threads: one per core, two to eight."""
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
    if large and (threads or default_threads()) > 1:
        with ThreadPoolExecutor(max_workers=threads or default_threads(), thread_name_prefix="trustpub-hash") as pool:
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
