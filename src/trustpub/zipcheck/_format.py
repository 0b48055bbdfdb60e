"""The ZIP record layouts, limits and messages both views share, and a bounded reader."""

from __future__ import annotations

import os
import re
import struct
from typing import BinaryIO, Final

from trustpub.errors import WouldBeRefused

# Record signatures (APPNOTE.TXT section 4.3).
_SIG_LOCAL: Final = b"PK\x03\x04"
_SIG_CENTRAL: Final = b"PK\x01\x02"
_SIG_END: Final = b"PK\x05\x06"
_SIG_END64: Final = b"PK\x06\x06"
_SIG_LOCATOR: Final = b"PK\x06\x07"

# Fixed parts of the records, signature included.
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # 30 bytes
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # 46 bytes
_END = struct.Struct("<4s4H2LH")  # 22 bytes
_END64 = struct.Struct("<4sQ2H2L4Q")  # 56 bytes
_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes
_EXTRA_HEADER = struct.Struct("<HH")
_U64 = struct.Struct("<Q")
_CENTRAL_LENGTHS = struct.Struct("<3H")  # name, extra and comment lengths, at offset 28
_UNICODE_PATH_HEADER = struct.Struct("<BL")
_LONGEST_FIXED: Final = _END64.size

_MAX_COMMENT: Final = 0xFFFF
_U32_SENTINEL: Final = 0xFFFF_FFFF
_U64_SENTINEL: Final = 0xFFFF_FFFF_FFFF_FFFF
_MAX_EXTRACT_VERSION: Final = 63  # zipfile refuses members needing a newer version
_FLAG_DATA_DESCRIPTOR: Final = 0x0008
_FLAG_UTF8: Final = 0x0800
_METHOD_STORED: Final = 0
_EXTRA_ZIP64: Final = 0x0001
_EXTRA_UNICODE_PATH: Final = 0x7075
_NO_DUPLICATE_EXTRAS: Final = frozenset({_EXTRA_ZIP64, _EXTRA_UNICODE_PATH})
_ZIP64_LOCAL_EXTRA_SIZES: Final = frozenset({0, 8, 16, 24, 28})
_UNPRINTABLE = re.compile(rb"[\x00-\x1f\x7f]")

# Read sizes: one large read for the tail (it holds the whole file for small wheels),
# large chunks through the central directory, small reads at each local header.
_TAIL_BYTES: Final = _MAX_COMMENT + _END.size
_DIRECTORY_CHUNK: Final = 256 * 1024
_HEADER_CHUNK: Final = 4096
# Records the streaming walk may meet beyond one local and one central record per
# entry (ZIP64 end records and locators; a real archive has at most two).
_SPARE_RECORDS: Final = 16

_MALFORMED: Final = "Malformed zip file"
_NOT_A_ZIP: Final = "File is not a zip file"


class InvalidZip(WouldBeRefused):
    """A ZIP container PyPI's upload validator would refuse; ``reason`` is Warehouse's text."""


def too_many(max_entries: int) -> InvalidZip:
    return InvalidZip(f"ZIP has more than {max_entries} entries")


class Source:
    """Bounded, cached random access to ``fp``.

    Two windows are kept: the file's tail (read once, never evicted) and one moving
    window refilled on a miss. A read returns fewer bytes than asked only at the end
    of the file, and never more than ``max(n, chunk)`` bytes are read at once.
    """

    __slots__ = ("_fp", "_tail", "_tail_at", "_window", "_window_at", "size")

    def __init__(self, fp: BinaryIO) -> None:
        self._fp = fp
        self.size = fp.seek(0, os.SEEK_END)
        self._tail_at = max(self.size - _TAIL_BYTES, 0)
        self._tail = self._fill(self._tail_at, self.size - self._tail_at)
        self._window = b""
        self._window_at = 0

    @property
    def tail(self) -> tuple[int, bytes]:
        """The last bytes of the file (up to 64 KiB + 22) and their offset."""
        return self._tail_at, self._tail

    def read(self, pos: int, n: int, chunk: int = _HEADER_CHUNK) -> bytes:
        """Return ``n`` bytes at ``pos``, or fewer when the file ends first."""
        end = pos + n
        if pos >= self._tail_at:
            return self._tail[pos - self._tail_at : end - self._tail_at]
        at = self._window_at
        window = self._window
        if at <= pos and (end <= at + len(window) or at + len(window) == self.size):
            return window[pos - at : end - at]
        if pos >= self.size:
            return b""
        self._window = self._fill(pos, max(n, chunk))
        self._window_at = pos
        return self._window[:n]

    def _fill(self, pos: int, n: int) -> bytes:
        self._fp.seek(pos)
        data = self._fp.read(n)
        if len(data) == n or not data:
            return data
        parts = [data]  # a raw stream may return short reads before the end
        missing = n - len(data)
        while missing > 0 and (more := self._fp.read(missing)):
            parts.append(more)
            missing -= len(more)
        return b"".join(parts)


# -- stage 1: what CPython's zipfile sees -------------------------------------------
