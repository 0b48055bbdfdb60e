"""PyPI's bounds on reading an archive, shared by the ZIP and tar readers.

The compression-ratio rule is PyPI's; the member bounds are trustpub's, so a hostile
archive costs bounded memory and time. :mod:`trustpub.checks` names ``MAX_MEMBER_READ``
in its finding, so it is read from here at call time (tests lower it).
"""

from __future__ import annotations

import io
from typing import BinaryIO

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


def _unsafe_path(name: str) -> bool:
    """A member path an extracting tool could write outside its target folder.

    Backslashes count: on Windows they are separators, so ``a\\..\\..\\x`` climbs out and
    ``a\\b.py`` lands in another place than on POSIX.
    """
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return "\\" in name or ".." in name.split("/")
