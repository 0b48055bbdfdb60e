"""The streaming view of a ZIP: every record walked from byte 0, cross-checked.

Stage 2 of :func:`trustpub.zipcheck.validate_zip`: what a streaming unpacker meets must
agree with the central-directory view, as Warehouse requires.
"""

from __future__ import annotations

from trustpub.zipcheck._format import (
    _CENTRAL,
    _CENTRAL_LENGTHS,
    _DIRECTORY_CHUNK,
    _END,
    _END64,
    _EXTRA_HEADER,
    _EXTRA_UNICODE_PATH,
    _EXTRA_ZIP64,
    _FLAG_DATA_DESCRIPTOR,
    _HEADER_CHUNK,
    _LOCAL,
    _LOCATOR,
    _LONGEST_FIXED,
    _MALFORMED,
    _METHOD_STORED,
    _NO_DUPLICATE_EXTRAS,
    _SIG_CENTRAL,
    _SIG_END,
    _SIG_END64,
    _SIG_LOCAL,
    _SIG_LOCATOR,
    _SPARE_RECORDS,
    _U32_SENTINEL,
    _U64,
    _UNPRINTABLE,
    _ZIP64_LOCAL_EXTRA_SIZES,
    InvalidZip,
    Source,
    too_many,
)


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


def stream_check(
    source: Source, sizes: dict[str, tuple[int, int]], directory_at: int, max_entries: int
) -> None:
    """Walk the records from byte 0 as Warehouse does and cross-check with ``sizes``."""
    walk = _Walk()
    pos = 0
    for _ in range(2 * max_entries + _SPARE_RECORDS):
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
        raise too_many(max_entries)
    if walk.central_names != walk.local_names:
        raise InvalidZip("Mis-matched local headers and central directory")
    if pos != source.size:
        raise InvalidZip("Trailing data")


def _walk_local(
    source: Source, head: bytes, pos: int, sizes: dict[str, tuple[int, int]], walk: _Walk
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


def _walk_central(source: Source, head: bytes, pos: int, walk: _Walk) -> int:
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
