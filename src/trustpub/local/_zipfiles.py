"""The local index's ZIP container rule: the two views of an archive must agree.

Written for the local world from ``warehouse-contract.md`` §2.4 step 19 and PyPI's
``docs/user/archives.md``, in the shape of PyPI's own upload path: the archive is
first opened with Python's :mod:`zipfile` (the reader pip uses, which trusts the
central directory), then walked record by record from byte 0 the way a streaming
unpacker reads it, and refused wherever the two could show different files.

This is deliberately *not* trustpub's client-side validator (``trustpub.zipcheck``,
which re-implements :mod:`zipfile`'s reading rules so its verdict does not depend on
the running Python): the local index is a second, independent implementation, so a
mistake in either shows up as a disagreement in ``tests/local/test_differential.py``.

Usage::

    from trustpub.local._zipfiles import zip_problem

    reason = zip_problem(path)   # None when PyPI would accept the container
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

__all__ = ["zip_problem"]

_LOCAL_FILE = b"PK\x03\x04"
_CENTRAL_DIRECTORY = b"PK\x01\x02"
_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_END = b"PK\x06\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"

_ZIP64_EXTRA = 0x0001
_UNICODE_PATH_EXTRA = 0x7075
#: Extras that may appear once per local header: a second copy is a second opinion.
_SINGLE_EXTRAS = frozenset({_ZIP64_EXTRA, _UNICODE_PATH_EXTRA})
_ZIP64_EXTRA_LENGTHS = frozenset({0, 8, 16, 24, 28})
_SENTINEL_32 = 0xFFFFFFFF
_USES_DATA_DESCRIPTOR = 0x0008
#: A ZIP64 end record without extensible data is exactly this long (after its size field).
_ZIP64_END_BODY = 44


class _Refused(Exception):
    """One reason to refuse the archive; the first one found wins."""


def _take(fp: BinaryIO, size: int) -> bytes:
    if size < 0:
        raise _Refused("Negative offset")
    data = fp.read(size)
    if len(data) != size:
        raise _Refused("Malformed zip file")
    return data


def _skip(fp: BinaryIO, size: int) -> None:
    if size < 0:
        raise _Refused("Negative offset")
    fp.seek(size, os.SEEK_CUR)


def _has_control_bytes(value: bytes) -> bool:
    return any(byte < 0x20 or byte == 0x7F for byte in value)


@dataclass
class _Walk:
    """What the streaming walk has met so far, to cross-check each new record."""

    directory_sizes: dict[str, tuple[int, int]]
    local_names: set[bytes] = field(default_factory=set)
    central_names: set[bytes] = field(default_factory=set)
    central_count: int = 0
    central_start: int | None = None
    central_bytes: int = 0
    # Directory geometry announced by the end record (or by the ZIP64 one).
    announced: tuple[int, int, int] | None = None
    zip64_end_at: int | None = None
    locator_seen: bool = False

    def local_file(self, fp: BinaryIO) -> None:
        (flags, method, compressed, uncompressed, name_length, extra_length) = struct.unpack(
            "<2xHH8xLLHH", _take(fp, 26)
        )
        name = _take(fp, name_length)
        extra = _take(fp, extra_length)
        if _has_control_bytes(name):
            raise _Refused("Invalid character in filename")
        compressed, uncompressed = self._local_extras(extra, method, compressed, uncompressed)
        if flags & _USES_DATA_DESCRIPTOR:
            raise _Refused("ZIP contains a data descriptor")
        try:
            text = name.decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused("Filename not unicode") from None
        if text not in self.directory_sizes:
            raise _Refused("Filename not in central directory")
        expected_compressed, expected_size = self.directory_sizes[text]
        if compressed != expected_compressed:
            raise _Refused("Mis-matched data size")
        if uncompressed != expected_size:
            raise _Refused("Mis-matched file size")
        _skip(fp, compressed)
        if name in self.local_names:
            raise _Refused("Duplicate filename in local headers")
        self.local_names.add(name)

    @staticmethod
    def _local_extras(
        extra: bytes, method: int, compressed: int, uncompressed: int
    ) -> tuple[int, int]:
        """Walk a local header's extra fields; return the sizes they establish."""
        seen: set[int] = set()
        rest = extra
        while rest:
            if len(rest) < 4:
                raise _Refused("Malformed zip file")
            kind, size = struct.unpack("<HH", rest[:4])
            if size + 4 > len(rest):
                raise _Refused("Malformed zip file")
            if kind in seen and kind in _SINGLE_EXTRAS:
                raise _Refused("Invalid duplicate extra in local file")
            seen.add(kind)
            body = rest[4 : 4 + size]
            if kind == _ZIP64_EXTRA:
                compressed, uncompressed = _zip64_sizes(body, method, compressed, uncompressed)
            elif kind == _UNICODE_PATH_EXTRA:
                unicode_name = body[5:]
                if _has_control_bytes(unicode_name):
                    raise _Refused("Invalid character in filename")
                try:
                    unicode_name.decode("utf-8")
                except UnicodeDecodeError:
                    raise _Refused("Filename not valid UTF-8") from None
            rest = rest[4 + size :]
        return compressed, uncompressed

    def central_record(self, fp: BinaryIO) -> None:
        if self.central_start is None:
            self.central_start = fp.tell() - 4
        self.central_count += 1
        name_length, extra_length, comment_length = struct.unpack(
            "<HHH", _take(fp, 42)[24:30]
        )
        if comment_length:
            raise _Refused("Comment in central directory")
        name = _take(fp, name_length)
        _take(fp, extra_length)
        if _has_control_bytes(name):
            raise _Refused("Invalid character in filename")
        self.central_bytes += 46 + name_length + extra_length
        if name in self.central_names:
            raise _Refused("Duplicate filename in central directory")
        if name not in self.local_names:
            raise _Refused("Missing filename in local headers")
        self.central_names.add(name)

    def zip64_end(self, fp: BinaryIO) -> None:
        self.zip64_end_at = fp.tell() - 4
        body_size, on_disk, total, size, offset = struct.unpack("<Q12xQQQQ", _take(fp, 52))
        if on_disk != total:
            raise _Refused("Malformed zip file")
        if body_size != _ZIP64_END_BODY:
            raise _Refused("ZIP64 extensible data not allowed")
        self.announced = (total, size, offset)

    def zip64_locator(self, fp: BinaryIO) -> None:
        _take(fp, 16)
        self.locator_seen = True

    def end_of_directory(self, fp: BinaryIO) -> None:
        if self.central_start is None:  # an empty archive: the directory starts here
            self.central_start = fp.tell() - 4
        on_disk, total, size, offset, comment_length = struct.unpack("<4xHHLLH", _take(fp, 18))
        if on_disk != total:
            raise _Refused("Malformed zip file")
        _skip(fp, comment_length)
        # A ZIP64 archive keeps its real geometry in the ZIP64 end record.
        if not (self.locator_seen and self.announced is not None):
            self.announced = (total, size, offset)
        announced_count, announced_size, announced_offset = self.announced
        if announced_count != self.central_count:
            raise _Refused("Mismatched central directory records")
        if announced_offset != self.central_start:
            raise _Refused("Mismatched central directory offset")
        if announced_size != self.central_bytes:
            raise _Refused("Mismatched central directory size")


def _zip64_sizes(body: bytes, method: int, compressed: int, uncompressed: int) -> tuple[int, int]:
    """The sizes a local ZIP64 extra establishes (APPNOTE 4.5.3), refusing odd shapes."""
    if len(body) not in _ZIP64_EXTRA_LENGTHS:
        raise _Refused("Malformed zip file")
    if not body:
        if _SENTINEL_32 in (compressed, uncompressed):
            raise _Refused("Malformed zip file")
        return compressed, uncompressed
    if len(body) == 8:
        # One 64-bit size only makes sense when compressed and uncompressed agree.
        if method != zipfile.ZIP_STORED:
            raise _Refused("Malformed zip file")
        (size,) = struct.unpack("<Q", body)
        return size, size if uncompressed == _SENTINEL_32 else uncompressed
    first, second = struct.unpack("<QQ", body[:16])
    return second, first if uncompressed == _SENTINEL_32 else uncompressed


def _walk(fp: BinaryIO, directory_sizes: dict[str, tuple[int, int]]) -> None:
    walk = _Walk(directory_sizes)
    fp.seek(0)
    while True:
        signature = _take(fp, 4)
        # After a ZIP64 end record, the plain end record must follow its locator.
        if signature == _END_OF_DIRECTORY and walk.zip64_end_at is not None and not walk.locator_seen:
            raise _Refused("Malformed zip file")
        if signature == _LOCAL_FILE:
            walk.local_file(fp)
        elif signature == _CENTRAL_DIRECTORY:
            walk.central_record(fp)
        elif signature == _ZIP64_END:
            walk.zip64_end(fp)
        elif signature == _ZIP64_LOCATOR:
            walk.zip64_locator(fp)
        elif signature == _END_OF_DIRECTORY:
            walk.end_of_directory(fp)
            break
        else:
            raise _Refused("Unknown record signature")
    if walk.local_names != walk.central_names:
        raise _Refused("Mis-matched local headers and central directory")
    end = fp.tell()
    if fp.seek(0, os.SEEK_END) != end:
        raise _Refused("Trailing data")


def zip_problem(path: Path) -> str | None:
    """Why PyPI would refuse the ZIP container at ``path``, or ``None`` if it would not.

    The reason is the text PyPI puts after "ZIP archive not accepted: ".
    """
    try:
        with zipfile.ZipFile(path) as archive:
            sizes = {
                info.orig_filename: (info.compress_size, info.file_size)
                for info in archive.infolist()
            }
    except zipfile.BadZipFile as exc:
        return str(exc)
    with path.open("rb") as fp:
        try:
            _walk(fp, sizes)
        except _Refused as exc:
            return str(exc)
    return None
