"""The central-directory view of a ZIP, read as current CPython's :mod:`zipfile` reads it.

Stage 1 of :func:`trustpub.zipcheck.validate_zip`: ``{name: (compressed size, file size)}``
from the end record, the ZIP64 end record and the directory, with :mod:`zipfile`'s
error messages.
"""

from __future__ import annotations

import zlib

from trustpub.zipcheck._format import (
    _CENTRAL,
    _DIRECTORY_CHUNK,
    _END,
    _END64,
    _EXTRA_HEADER,
    _EXTRA_UNICODE_PATH,
    _EXTRA_ZIP64,
    _FLAG_UTF8,
    _LOCATOR,
    _MAX_EXTRACT_VERSION,
    _NOT_A_ZIP,
    _SIG_CENTRAL,
    _SIG_END,
    _SIG_END64,
    _SIG_LOCATOR,
    _U32_SENTINEL,
    _U64,
    _U64_SENTINEL,
    _UNICODE_PATH_HEADER,
    InvalidZip,
    Source,
    too_many,
)


def directory_sizes(source: Source, max_entries: int) -> tuple[dict[str, tuple[int, int]], int]:
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
    return _read_directory(source, start, location, max_entries), start


def _find_end_record(source: Source) -> tuple[int, int]:
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


def _apply_zip64_end(source: Source, end_at: int, directory_size: int) -> tuple[int, int]:
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


def _read_directory(
    source: Source, start: int, end: int, max_entries: int
) -> dict[str, tuple[int, int]]:
    """Parse the central directory in ``[start, end)`` like ``ZipFile._RealGetContents``."""
    sizes: dict[str, tuple[int, int]] = {}
    pos = start
    entries = 0
    while pos < end:
        entries += 1
        if entries > max_entries:
            raise too_many(max_entries)
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
