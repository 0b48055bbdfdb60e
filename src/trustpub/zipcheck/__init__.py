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
   whole directory in one go); :func:`directory_sizes` re-implements the reading
   rules of current CPython (3.13.9+/3.14, including the stricter ZIP64 end-record
   checks), with the same messages, so the verdict does not depend on the Python
   that runs trustpub.
2. **Streaming view.** Warehouse then walks the file from byte 0, record by record,
   exactly as a streaming unpacker would, and checks that what it meets agrees with
   the first view: every local name is printable UTF-8, known to the central
   directory with the same sizes, unique, has no data descriptor; central records
   carry no comment, are unique and follow their local header; ZIP64 records have no
   extensible data; the end record matches what was walked; nothing follows it.
   :func:`stream_check` does the same walk.

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

from typing import BinaryIO

from trustpub.zipcheck._directory import directory_sizes
from trustpub.zipcheck._format import InvalidZip, Source
from trustpub.zipcheck._stream import stream_check

__all__ = ["MAX_ENTRIES", "InvalidZip", "validate_zip"]

# The two views live in their own modules: _format (records, limits, the bounded
# reader), _directory (stage 1) and _stream (stage 2).

#: More central-directory entries than this is refused outright (far more than any
#: real wheel carries); it bounds the time and memory one archive can cost.
MAX_ENTRIES = 100_000


def validate_zip(fp: BinaryIO) -> None:
    """Raise InvalidZip if the container would be refused. fp is seekable, positioned anywhere.

    The archive is taken to start at byte 0 of ``fp``; the position of ``fp`` is
    restored afterwards. Errors of ``fp`` itself (``OSError``) are not caught.
    """
    position = fp.tell()
    try:
        source = Source(fp)
        sizes, directory_start = directory_sizes(source, MAX_ENTRIES)
        stream_check(source, sizes, directory_start, MAX_ENTRIES)
    finally:
        fp.seek(position)
