"""Crafted distributions that ``tests.distfactory`` cannot make: edited wheels, tar links.

Each helper breaks one thing in an otherwise good file, so a test can tell which rule
fires for which defect.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.distfactory import make_metadata

__all__ = ["Member", "make_tar", "rewrite_wheel"]


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def rewrite_wheel(path: Path, changes: Mapping[str, bytes | None], *, fix_record: bool = True) -> Path:
    """Replace (or with ``None`` drop) members of the wheel at ``path``, in place.

    With ``fix_record`` the RECORD is rewritten to match, so only the change itself is
    wrong; without it, RECORD still describes the old bytes.
    """
    with zipfile.ZipFile(path) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    for name, data in changes.items():
        if data is None:
            members.pop(name, None)
        else:
            members[name] = data
    record = next((n for n in members if n.endswith(".dist-info/RECORD")), None)
    if fix_record and record is not None:
        lines = [_record_line(n, d) for n, d in members.items() if n != record] + [f"{record},,"]
        members[record] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    return path


Member = tuple[str, bytes | None, bytes, str]  # (name, data, tar type, link target)


def make_tar(
    directory: Path,
    filename: str = "demo_pkg-1.0.0.tar.gz",
    *,
    metadata: bytes | None = None,
    members: Sequence[Member] = (),
) -> Path:
    """A .tar.gz sdist with ``PKG-INFO`` and extra raw ``members`` (any tar type, links included)."""
    top = filename.removesuffix(".tar.gz")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        entries: list[Member] = [(f"{top}/PKG-INFO", metadata or make_metadata(), tarfile.REGTYPE, "")]
        entries += list(members)
        for name, data, kind, link in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = link
            info.mtime = 1_700_000_000
            info.size = len(data) if data is not None and kind == tarfile.REGTYPE else 0
            tf.addfile(info, io.BytesIO(data or b"") if info.size else None)
    path = directory / filename
    path.write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    return path
