"""Refuse ZIP containers that PyPI's upload validator would refuse.

Why this exists
---------------
A ZIP file describes its members twice: each member's data is preceded by a *local
file header*, and at the end of the file a *central directory* lists every member
again, with names, sizes and offsets. Tools disagree about which copy they trust.
``pip`` and Python's :mod:`zipfile` read the central directory; streaming unpackers
walk the local headers from the start of the file; some tools search for the end
record from the back, others from the front. A crafted archive can therefore show
different files to different tools (hide a member from a scanner, smuggle a second
archive in a comment, give one name two contents).

PyPI closes that gap by refusing any upload whose two views could disagree
(pypi/warehouse ``warehouse/utils/zipfiles.py``, explained to users in
``docs/user/archives.md``). Its validator runs in two stages, and so does this one:

1. **Central-directory view.** Warehouse first opens the file with CPython's
   :mod:`zipfile` and keeps ``{original name: (compressed size, file size)}``. Every
   error :mod:`zipfile` raises becomes the refusal reason. We do not call
   :mod:`zipfile` (its checks change between Python releases, and it reads the
   whole directory in one go); :func:`_directory_sizes` re-implements the reading
   rules of current CPython (3.13.9+/3.14, including the stricter ZIP64 end-record
   checks), with the same messages, so the verdict does not depend on the Python
   that runs trustpub.
2. **Streaming view.** Warehouse then walks the file from byte 0, record by record,
   exactly as a streaming unpacker would, and checks that what it meets agrees with
   the first view: every local name is printable UTF-8, known to the central
   directory with the same sizes, unique, has no data descriptor; central records
   carry no comment, are unique and follow their local header; ZIP64 records have no
   extensible data; the end record matches what was walked; nothing follows it.
   :func:`_stream_check` does the same walk.

The refusal reason (``InvalidZip.reason``) is Warehouse's own string wherever
Warehouse has one, so a preflight message reads like PyPI's answer.

Hostile input
-------------
Every read is bounded: the end of the file is read once (at most 64 KiB + 22 bytes,
what :mod:`zipfile` scans for the end record), the central directory is read in
chunks, and each local header costs one small read; member data is skipped with a
seek, never read. The number of central-directory entries is capped at
:data:`MAX_ENTRIES`; the directory can never be larger than the file. Nothing
recurses, and any byte string gives either ``None`` or :class:`InvalidZip`.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from typing import BinaryIO, Final

from trustpub.errors import WouldBeRefused

__all__ = ["InvalidZip", "validate_zip"]

#: More central-directory entries than this is refused outright (far more than any
#: real wheel carries); it bounds the time and memory one archive can cost.
MAX_ENTRIES = 100_000

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


def validate_zip(fp: BinaryIO) -> None:
    """Raise InvalidZip if the container would be refused. fp is seekable, positioned anywhere.

    The archive is taken to start at byte 0 of ``fp``; the position of ``fp`` is
    restored afterwards. Errors of ``fp`` itself (``OSError``) are not caught.
    """
    position = fp.tell()
    try:
        source = _Source(fp)
        sizes, directory_start = _directory_sizes(source)
        _stream_check(source, sizes, directory_start)
    finally:
        fp.seek(position)


def _too_many() -> InvalidZip:
    return InvalidZip(f"ZIP has more than {MAX_ENTRIES} entries")


class _Source:
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


def _directory_sizes(source: _Source) -> tuple[dict[str, tuple[int, int]], int]:
    """Read the central directory the way ``zipfile.ZipFile`` does.

    Returns Warehouse's ``{original name: (compressed size, file size)}`` map (the
    last entry wins for a repeated name, as in a dict comprehension) and the offset
    where :mod:`zipfile` believes the directory starts.
    """
    end_at, directory_size = _find_end_record(source)
    location, directory_size = _apply_zip64_end(source, end_at, directory_size)
    # zipfile places the directory right before the end record(s), whatever offset
    # the record claims ("concat" tolerance for prepended data).
    start = location - directory_size
    if start < 0:
        raise InvalidZip("Bad offset for central directory")
    return _read_directory(source, start, location), start


def _find_end_record(source: _Source) -> tuple[int, int]:
    """Locate the end of central directory record; return its offset and the CD size."""
    if source.size < _END.size:
        raise InvalidZip(_NOT_A_ZIP)
    tail_at, tail = source.tail
    last = len(tail) - _END.size
    if tail.startswith(_SIG_END, last) and tail.endswith(b"\x00\x00"):
        found = last  # no archive comment: the record is the last 22 bytes
    else:
        # A comment follows; zipfile takes the last signature in the final 64 KiB.
        found = tail.rfind(_SIG_END)
        if found < 0 or found > last:
            raise InvalidZip(_NOT_A_ZIP)
    directory_size: int = _END.unpack_from(tail, found)[5]
    return tail_at + found, directory_size


def _apply_zip64_end(source: _Source, end_at: int, directory_size: int) -> tuple[int, int]:
    """Follow a ZIP64 locator, if one precedes the end record, as zipfile does.

    Returns where zipfile considers the end records to start and the directory size.
    """
    locator_at = end_at - _LOCATOR.size
    if locator_at < 0:
        return end_at, directory_size
    signature, disk, record_at, disks = _LOCATOR.unpack(source.read(locator_at, _LOCATOR.size))
    if signature != _SIG_LOCATOR:
        return end_at, directory_size
    if disk != 0 or disks > 1:
        raise InvalidZip("zipfiles that span multiple disks are not supported")
    expected_at = locator_at - _END64.size
    if record_at > expected_at:
        raise InvalidZip("Corrupt zip64 end of central directory locator")
    # Trust the locator's offset first; if nothing is there, the file may have
    # prepended data, so look right before the locator instead.
    data = source.read(record_at, _END64.size)
    extensible = expected_at - record_at
    if not data.startswith(_SIG_END64) and record_at != expected_at:
        data = source.read(expected_at, _END64.size)
        extensible = 0
    if not data.startswith(_SIG_END64):
        raise InvalidZip("Zip64 end of central directory record not found")
    fields = _END64.unpack(data)
    record_size: int = fields[1]
    size64: int = fields[8]
    offset64: int = fields[9]
    if offset64 + size64 != record_at or record_size + 12 != _END64.size + extensible:
        raise InvalidZip("Corrupt zip64 end of central directory record")
    return expected_at - extensible, size64


def _read_directory(source: _Source, start: int, end: int) -> dict[str, tuple[int, int]]:
    """Parse the central directory in ``[start, end)`` like ``ZipFile._RealGetContents``."""
    sizes: dict[str, tuple[int, int]] = {}
    pos = start
    entries = 0
    while pos < end:
        entries += 1
        if entries > MAX_ENTRIES:
            raise _too_many()
        header = source.read(pos, min(_CENTRAL.size, end - pos), _DIRECTORY_CHUNK)
        if len(header) != _CENTRAL.size:
            raise InvalidZip("Truncated central directory")
        fields = _CENTRAL.unpack(header)
        if fields[0] != _SIG_CENTRAL:
            raise InvalidZip("Bad magic number for central directory")
        extract_version: int = fields[3]
        flags: int = fields[5]
        compressed: int = fields[10]
        uncompressed: int = fields[11]
        name_len: int = fields[12]
        extra_len: int = fields[13]
        comment_len: int = fields[14]
        header_offset: int = fields[18]
        body_at = pos + _CENTRAL.size
        # Like zipfile's in-memory copy, the name and extra are cut at the directory end.
        body = source.read(body_at, min(name_len + extra_len, end - body_at), _DIRECTORY_CHUNK)
        raw_name = body[:name_len]
        extra = body[name_len:]
        name = _decode_directory_name(raw_name, flags)
        if extract_version > _MAX_EXTRACT_VERSION:
            raise InvalidZip(f"zip file version {extract_version / 10:.1f}")
        if extra:
            compressed, uncompressed = _directory_extra_sizes(
                extra, raw_name, compressed, uncompressed, header_offset
            )
        sizes[name] = (compressed, uncompressed)
        pos = body_at + name_len + extra_len + comment_len
    return sizes


def _decode_directory_name(raw: bytes, flags: int) -> str:
    """Decode a central-directory name as zipfile does (UTF-8 if flagged, else cp437)."""
    if not flags & _FLAG_UTF8:
        return raw.decode("cp437")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # zipfile lets this UnicodeDecodeError escape, so Warehouse cannot accept the
        # file; its streaming stage words the same problem like this.
        raise InvalidZip("Filename not unicode") from None


def _directory_extra_sizes(
    extra: bytes, raw_name: bytes, compressed: int, uncompressed: int, header_offset: int
) -> tuple[int, int]:
    """Apply a central entry's extra fields like ``ZipInfo._decodeExtra``.

    Returns the (compressed, uncompressed) sizes after any ZIP64 override.
    """
    pos = 0
    while len(extra) - pos >= 4:
        kind, size = _EXTRA_HEADER.unpack_from(extra, pos)
        data_at = pos + 4
        data_end = data_at + size
        if data_end > len(extra):
            raise InvalidZip(f"Corrupt extra field {kind:04x} (size={size})")
        if kind == _EXTRA_ZIP64:
            # Only the fields whose 32-bit value is the sentinel are present, in order.
            cursor = data_at
            if uncompressed in (_U32_SENTINEL, _U64_SENTINEL):
                uncompressed = _zip64_value(extra, cursor, data_end, "File size")
                cursor += 8
            if compressed == _U32_SENTINEL:
                compressed = _zip64_value(extra, cursor, data_end, "Compress size")
                cursor += 8
            if header_offset == _U32_SENTINEL:
                header_offset = _zip64_value(extra, cursor, data_end, "Header offset")
        elif kind == _EXTRA_UNICODE_PATH:
            _check_directory_unicode_path(extra[data_at:data_end], raw_name)
        pos = data_end
    return compressed, uncompressed


def _zip64_value(extra: bytes, at: int, end: int, field: str) -> int:
    if at + 8 > end:
        raise InvalidZip(f"Corrupt zip64 extra field. {field} not found.")
    value: int = _U64.unpack_from(extra, at)[0]
    return value


def _check_directory_unicode_path(data: bytes, raw_name: bytes) -> None:
    """zipfile's reading of an Info-ZIP Unicode Path field (version, name CRC, UTF-8)."""
    if len(data) < _UNICODE_PATH_HEADER.size:
        raise InvalidZip("Corrupt unicode path extra field (0x7075)")
    version, name_crc = _UNICODE_PATH_HEADER.unpack_from(data)
    if version != 1 or name_crc != zlib.crc32(raw_name):
        return  # stale field: zipfile ignores it
    try:
        data[_UNICODE_PATH_HEADER.size :].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidZip("Corrupt unicode path extra field (0x7075): invalid utf-8 bytes") from None


# -- stage 2: what a streaming unpacker sees ----------------------------------------


class _Walk:
    """State of the front-to-back walk: names met and the directory as walked."""

    __slots__ = (
        "central_names",
        "directory_at",
        "directory_bytes",
        "directory_records",
        "end64_at",
        "local_names",
        "locator_seen",
        "stated",
    )

    def __init__(self) -> None:
        self.local_names: set[bytes] = set()
        self.central_names: set[bytes] = set()
        self.directory_at: int | None = None
        self.directory_records = 0
        self.directory_bytes = 0
        self.end64_at: int | None = None
        self.locator_seen = False
        # (records, size, offset) claimed by the last ZIP64 or classic end record.
        self.stated: tuple[int, int, int] | None = None


def _stream_check(source: _Source, sizes: dict[str, tuple[int, int]], directory_at: int) -> None:
    """Walk the records from byte 0 as Warehouse does and cross-check with ``sizes``."""
    walk = _Walk()
    pos = 0
    for _ in range(2 * MAX_ENTRIES + _SPARE_RECORDS):
        chunk = _DIRECTORY_CHUNK if pos >= directory_at else _HEADER_CHUNK
        head = source.read(pos, _LONGEST_FIXED, chunk)
        if len(head) < 4:
            raise InvalidZip(_MALFORMED)
        signature = head[:4]
        if signature == _SIG_LOCAL:
            pos = _walk_local(source, head, pos, sizes, walk)
        elif signature == _SIG_CENTRAL:
            pos = _walk_central(source, head, pos, walk)
        elif signature == _SIG_END64:
            pos = _walk_end64(head, pos, walk)
        elif signature == _SIG_LOCATOR:
            if len(head) < _LOCATOR.size:
                raise InvalidZip(_MALFORMED)
            walk.locator_seen = True
            pos += _LOCATOR.size
        elif signature == _SIG_END:
            pos = _walk_end(head, pos, walk)
            break
        else:
            raise InvalidZip("Unknown record signature")
    else:
        raise _too_many()
    if walk.central_names != walk.local_names:
        raise InvalidZip("Mis-matched local headers and central directory")
    if pos != source.size:
        raise InvalidZip("Trailing data")


def _walk_local(
    source: _Source, head: bytes, pos: int, sizes: dict[str, tuple[int, int]], walk: _Walk
) -> int:
    """Check one local file header; return the offset after its data."""
    if len(head) < _LOCAL.size:
        raise InvalidZip(_MALFORMED)
    fields = _LOCAL.unpack_from(head)
    flags: int = fields[3]
    method: int = fields[4]
    compressed: int = fields[8]
    uncompressed: int = fields[9]
    name_len: int = fields[10]
    extra_len: int = fields[11]
    body = source.read(pos + _LOCAL.size, name_len + extra_len)
    if len(body) != name_len + extra_len:
        raise InvalidZip(_MALFORMED)
    name = body[:name_len]
    if _UNPRINTABLE.search(name):
        raise InvalidZip("Invalid character in filename")
    if extra_len:
        compressed, uncompressed = _local_extra_sizes(
            body[name_len:], method, compressed, uncompressed
        )
    if flags & _FLAG_DATA_DESCRIPTOR:
        # Sizes after the data: a streaming reader and the directory may disagree.
        raise InvalidZip("ZIP contains a data descriptor")
    try:
        text_name = name.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidZip("Filename not unicode") from None
    expected = sizes.get(text_name)
    if expected is None:
        raise InvalidZip("Filename not in central directory")
    if expected[0] != compressed:
        raise InvalidZip("Mis-matched data size")
    if expected[1] != uncompressed:
        raise InvalidZip("Mis-matched file size")
    if name in walk.local_names:
        raise InvalidZip("Duplicate filename in local headers")
    walk.local_names.add(name)
    return pos + _LOCAL.size + name_len + extra_len + compressed


def _local_extra_sizes(
    extra: bytes, method: int, compressed: int, uncompressed: int
) -> tuple[int, int]:
    """Check a local header's extra fields; return its sizes after any ZIP64 override."""
    seen: set[int] = set()
    pos = 0
    while pos < len(extra):
        if len(extra) - pos < 4:
            raise InvalidZip(_MALFORMED)
        kind, size = _EXTRA_HEADER.unpack_from(extra, pos)
        data_at = pos + 4
        data_end = data_at + size
        if data_end > len(extra):
            raise InvalidZip(_MALFORMED)
        if kind in seen and kind in _NO_DUPLICATE_EXTRAS:
            raise InvalidZip("Invalid duplicate extra in local file")
        seen.add(kind)
        if kind == _EXTRA_ZIP64:
            compressed, uncompressed = _local_zip64_sizes(
                extra, data_at, size, method, compressed, uncompressed
            )
        elif kind == _EXTRA_UNICODE_PATH:
            # Skip the version byte and name CRC; the rest must be a printable UTF-8 name.
            unicode_name = extra[data_at + 5 : data_end]
            if _UNPRINTABLE.search(unicode_name):
                raise InvalidZip("Invalid character in filename")
            try:
                unicode_name.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidZip("Filename not valid UTF-8") from None
        pos = data_end
    return compressed, uncompressed


def _local_zip64_sizes(
    extra: bytes, at: int, size: int, method: int, compressed: int, uncompressed: int
) -> tuple[int, int]:
    """Warehouse's reading of a local ZIP64 extra field (payload at ``at``)."""
    if size not in _ZIP64_LOCAL_EXTRA_SIZES:
        raise InvalidZip(_MALFORMED)
    if size == 0:
        # An empty field cannot stand in for a 32-bit size marked as "see ZIP64".
        if _U32_SENTINEL in (compressed, uncompressed):
            raise InvalidZip(_MALFORMED)
        return compressed, uncompressed
    first: int = _U64.unpack_from(extra, at)[0]
    if size == 8:
        # Only one size given: usable for both only when the data is stored.
        if method != _METHOD_STORED:
            raise InvalidZip(_MALFORMED)
        return first, first if uncompressed == _U32_SENTINEL else uncompressed
    second: int = _U64.unpack_from(extra, at + 8)[0]
    return second, first if uncompressed == _U32_SENTINEL else uncompressed


def _walk_central(source: _Source, head: bytes, pos: int, walk: _Walk) -> int:
    """Check one central directory record; return the offset after it."""
    if walk.directory_at is None:
        walk.directory_at = pos
    walk.directory_records += 1
    if len(head) < _CENTRAL.size:
        raise InvalidZip(_MALFORMED)
    lengths: tuple[int, int, int] = _CENTRAL_LENGTHS.unpack_from(head, 28)
    name_len, extra_len, comment_len = lengths
    if comment_len:
        raise InvalidZip("Comment in central directory")
    body = source.read(pos + _CENTRAL.size, name_len + extra_len, _DIRECTORY_CHUNK)
    if len(body) != name_len + extra_len:
        raise InvalidZip(_MALFORMED)
    name = body[:name_len]
    if _UNPRINTABLE.search(name):
        raise InvalidZip("Invalid character in filename")
    walk.directory_bytes += _CENTRAL.size + name_len + extra_len
    if name in walk.central_names:
        raise InvalidZip("Duplicate filename in central directory")
    if name not in walk.local_names:
        raise InvalidZip("Missing filename in local headers")
    walk.central_names.add(name)
    return pos + _CENTRAL.size + name_len + extra_len


def _walk_end64(head: bytes, pos: int, walk: _Walk) -> int:
    """Check a ZIP64 end of central directory record; return the offset after it."""
    walk.end64_at = pos
    if len(head) < _END64.size:
        raise InvalidZip(_MALFORMED)
    fields = _END64.unpack_from(head)
    record_size: int = fields[1]
    on_this_disk: int = fields[6]
    total: int = fields[7]
    if on_this_disk != total:
        raise InvalidZip(_MALFORMED)
    if record_size != _END64.size - 12:
        raise InvalidZip("ZIP64 extensible data not allowed")
    walk.stated = (total, fields[8], fields[9])
    return pos + _END64.size


def _walk_end(head: bytes, pos: int, walk: _Walk) -> int:
    """Check the end of central directory record against the walk; return the file end."""
    if walk.end64_at is not None and not walk.locator_seen:
        raise InvalidZip(_MALFORMED)  # a ZIP64 end record must be followed by its locator
    if walk.directory_at is None:
        walk.directory_at = pos  # empty archive: the directory is zero bytes long here
    if len(head) < _END.size:
        raise InvalidZip(_MALFORMED)
    fields = _END.unpack_from(head)
    on_this_disk: int = fields[3]
    total: int = fields[4]
    comment_len: int = fields[7]
    if on_this_disk != total:
        raise InvalidZip(_MALFORMED)
    # With a ZIP64 record and its locator, this record's fields are placeholders.
    if not (walk.locator_seen and walk.stated is not None):
        walk.stated = (total, fields[5], fields[6])
    records, size, offset = walk.stated
    if records != walk.directory_records:
        raise InvalidZip("Mismatched central directory records")
    if offset != walk.directory_at:
        raise InvalidZip("Mismatched central directory offset")
    if size != walk.directory_bytes:
        raise InvalidZip("Mismatched central directory size")
    return pos + _END.size + comment_len
