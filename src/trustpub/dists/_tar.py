"""Reading a tar.gz sdist: one streaming pass, its PKG-INFO read bounded, no member extracted.

PyPI's compression-ratio rule is applied while the gzip stream is decompressed
(:class:`~trustpub.dists.limits._CountingReader`). Facts and problems go into a dict of
:class:`~trustpub.dists.Distribution` fields.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from trustpub.dists import limits
from trustpub.dists.limits import (
    _CHUNK,
    MAX_MEMBERS,
    _CountingReader,
    _MemberTooLarge,
    _ratio_message,
    _RatioExceeded,
    _unsafe_path,
)


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
                        if member.size > limits.MAX_MEMBER_READ:
                            raise _MemberTooLarge(pkg_info_name, member.size)
                        extracted = tf.extractfile(member)
                        if extracted is not None:
                            facts["metadata"] = extracted.read(limits.MAX_MEMBER_READ)
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
