"""Build wheels and sdists byte by byte for tests, good ones and crafted bad ones.

Real builds by real backends cover the good cases (see ``tests/checks/conftest.py``);
this module makes the bad ones: every knob here exists so a test can break exactly
one rule and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["build_demo", "make_metadata", "make_sdist", "make_wheel"]


def make_metadata(
    name: str = "demo-pkg",
    version: str = "1.0.0",
    *,
    metadata_version: str = "2.4",
    summary: str | None = "A demo package",
    description: str | None = "# Demo\n\nA demo package.\n",
    content_type: str | None = "text/markdown",
    fields: Sequence[tuple[str, str]] = (),
    drop: Sequence[str] = (),
) -> bytes:
    """Core metadata as an RFC 822 message; ``fields`` appends headers, ``drop`` removes."""
    headers: list[tuple[str, str]] = [
        ("Metadata-Version", metadata_version),
        ("Name", name),
        ("Version", version),
    ]
    if summary is not None:
        headers.append(("Summary", summary))
    if content_type is not None:
        headers.append(("Description-Content-Type", content_type))
    headers.extend(fields)
    dropped = {d.lower() for d in drop}
    lines = [f"{k}: {v}" for k, v in headers if k.lower() not in dropped]
    text = "\n".join(lines) + "\n"
    if description is not None and "description" not in dropped:
        text += "\n" + description
    return text.encode("utf-8")


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def make_wheel(
    directory: Path,
    name: str = "demo_pkg",
    version: str = "1.0.0",
    *,
    filename: str | None = None,
    tag: str = "py3-none-any",
    metadata: bytes | None = None,
    dist_info: str | None = None,
    extra_files: Mapping[str, bytes] = {},
    omit: Sequence[str] = (),
    entry_points: str | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """A wheel; ``omit`` names dist-info members to leave out (``WHEEL``, ``RECORD``...)."""
    filename = filename or f"{name}-{version}-{tag}.whl"
    dist_info = dist_info or f"{filename.split('-')[0]}-{filename.split('-')[1]}.dist-info"
    if metadata is None:
        metadata = make_metadata(name.replace("_", "-"), version)
    files: dict[str, bytes] = {f"{name}/__init__.py": b"__version__ = '1.0.0'\n"}
    files.update(extra_files)
    files[f"{dist_info}/METADATA"] = metadata
    files[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: trustpub-tests\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
    )
    if entry_points is not None:
        files[f"{dist_info}/entry_points.txt"] = entry_points.encode()
    for member in omit:
        files.pop(f"{dist_info}/{member}", None)
    record_path = f"{dist_info}/RECORD"
    if "RECORD" not in omit:
        record = [_record_line(p, d) for p, d in files.items()] + [f"{record_path},,"]
        files[record_path] = ("\n".join(record) + "\n").encode()
    path = directory / filename
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for member, data in files.items():
            zf.writestr(member, data)
    return path


def make_sdist(
    directory: Path,
    name: str = "demo_pkg",
    version: str = "1.0.0",
    *,
    filename: str | None = None,
    metadata: bytes | None = None,
    top_dir: str | None = None,
    extra_files: Mapping[str, bytes] = {},
    omit_pkg_info: bool = False,
    sparse: bool = False,
) -> Path:
    """A .tar.gz sdist; ``extra_files`` are relative to the top folder unless they start with '/'."""
    filename = filename or f"{name}-{version}.tar.gz"
    top_dir = top_dir if top_dir is not None else filename.removesuffix(".tar.gz").removesuffix(".zip")
    if metadata is None:
        metadata = make_metadata(name.replace("_", "-"), version)
    files: dict[str, bytes] = {
        "pyproject.toml": b"[project]\nname = 'demo'\n",
        f"src/{name}/__init__.py": b"",
    }
    if not omit_pkg_info:
        files["PKG-INFO"] = metadata
    files.update(extra_files)
    path = directory / filename
    if filename.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as zf:
            for member, data in files.items():
                zf.writestr(member.lstrip("/") if member.startswith("/") else f"{top_dir}/{member}", data)
        return path
    buf = io.BytesIO()
    fmt = tarfile.GNU_FORMAT if sparse else tarfile.PAX_FORMAT
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for member, data in files.items():
            info = tarfile.TarInfo(member.lstrip("/") if member.startswith("/") else f"{top_dir}/{member}")
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
        if sparse:
            info = tarfile.TarInfo(f"{top_dir}/sparse.bin")
            info.type = tarfile.GNUTYPE_SPARSE
            info.size = 0
            tf.addfile(info)
    import gzip

    path.write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    return path


#: The example project every end-to-end test releases (hatchling, a real backend).
DEMO_PROJECT = Path(__file__).resolve().parent.parent / "examples" / "demo"


def build_demo(out: Path, *, timeout: float = 300) -> Path:
    """Build examples/demo's wheel and sdist into ``out`` with ``python -m build``; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(DEMO_PROJECT)],
        check=True, capture_output=True, timeout=timeout,
    )
    return out
