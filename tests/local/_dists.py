"""Tiny, correct wheels and sdists for upload tests, plus the upload form they go with.

Each builder writes a real archive (``METADATA``/``WHEEL``/``RECORD`` or
``PKG-INFO``) and returns a :class:`Dist` that knows its filename, digest and the
form fields a client would send, so a test can break exactly one thing::

    dist = build_wheel(tmp_path, "demo", "1.0")
    fields = dist.form()                      # the fields twine would send
    fields = dist.form(version="2.0")         # ...with one field changed
    body, content_type = multipart(fields, [("content", dist.filename, dist.data)])
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

Field = tuple[str, str]
FilePart = tuple[str, str, bytes, str]


@dataclass
class Dist:
    """A built distribution and its upload metadata."""

    path: Path
    name: str
    version: str
    filetype: str
    pyversion: str
    metadata_version: str = "2.1"
    extra: list[Field] = field(default_factory=list)

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def form(self, *, drop: Iterable[str] = (), **overrides: str | list[str]) -> list[Field]:
        """The upload form fields (twine's names), with overrides and removals.

        A list value repeats the key; ``drop`` removes keys entirely.
        """
        base: dict[str, str | list[str]] = {
            ":action": "file_upload",
            "protocol_version": "1",
            "metadata_version": self.metadata_version,
            "name": self.name,
            "version": self.version,
            "filetype": self.filetype,
            "pyversion": self.pyversion,
            "summary": "A tiny test distribution",
            "sha256_digest": self.sha256,
        }
        for key, value in self.extra:
            existing = base.get(key)
            if existing is None:
                base[key] = value
            elif isinstance(existing, list):
                existing.append(value)
            else:
                base[key] = [existing, value]
        base.update(overrides)
        dropped = set(drop)
        fields: list[Field] = []
        for key, value in base.items():
            if key in dropped:
                continue
            for item in [value] if isinstance(value, str) else value:
                fields.append((key, item))
        return fields


def _metadata(name: str, version: str, metadata_version: str, extra: Sequence[Field]) -> bytes:
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    lines += [f"{key}: {value}" for key, value in extra]
    return ("\n".join(lines) + "\n").encode()


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(
    directory: Path,
    name: str = "demo",
    version: str = "1.0",
    *,
    tag: str = "py3-none-any",
    filename: str | None = None,
    metadata_version: str = "2.1",
    metadata: Sequence[Field] = (),
    members: dict[str, bytes] | None = None,
    omit: Sequence[str] = (),
    entry_points: str | None = None,
    licenses: dict[str, bytes] | None = None,
    payload: bytes | None = None,
    dist_name: str | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Dist:
    """A wheel for ``name``/``version``; ``omit`` drops dist-info members by name.

    ``payload`` is the content of the package's module (to make files of a chosen
    size or to make two wheels differ); ``dist_name`` overrides the name part of the
    filename and ``.dist-info`` folder (for non-normalized names).
    """
    module = canonicalize_name(name).replace("-", "_")
    stem_name = dist_name or module
    dist_info = f"{stem_name}-{version}.dist-info"
    files: dict[str, bytes] = {
        f"{module}/__init__.py": payload
        if payload is not None
        else f"# {uuid.uuid4()}\n__version__ = {version!r}\n".encode(),
    }
    files.update(members or {})
    files[f"{dist_info}/METADATA"] = _metadata(name, version, metadata_version, metadata)
    files[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: trustpub-tests\nRoot-Is-Purelib: true\nTag: {tag}\n"
    ).encode()
    if entry_points is not None:
        files[f"{dist_info}/entry_points.txt"] = entry_points.encode()
    for license_path, data in (licenses or {}).items():
        files[f"{dist_info}/licenses/{license_path}"] = data
    record_path = f"{dist_info}/RECORD"
    files = {path: data for path, data in files.items() if path.rsplit("/", 1)[-1] not in omit}
    record = [_record_line(path, data) for path, data in files.items()]
    record.append(f"{record_path},,")
    if "RECORD" not in omit:
        files[record_path] = ("\n".join(record) + "\n").encode()
    target = directory / (filename or f"{stem_name}-{version}-{tag}.whl")
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    pyversion = tag.split("-")[0]
    return Dist(target, name, version, "bdist_wheel", pyversion, metadata_version, list(metadata))


def build_sdist(
    directory: Path,
    name: str = "demo",
    version: str = "1.0",
    *,
    filename: str | None = None,
    metadata_version: str = "2.1",
    metadata: Sequence[Field] = (),
    top_level: str | None = None,
    members: dict[str, bytes] | None = None,
    with_pkg_info: bool = True,
) -> Dist:
    """A ``.tar.gz`` sdist with ``PKG-INFO`` and ``pyproject.toml`` under one top folder."""
    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    top = top_level if top_level is not None else stem
    files: dict[str, bytes] = {
        "pyproject.toml": f'[project]\nname = "{name}"\nversion = "{version}"\n'.encode(),
        "src/__init__.py": f"# {uuid.uuid4()}\n".encode(),
    }
    if with_pkg_info:
        files["PKG-INFO"] = _metadata(name, version, metadata_version, metadata)
    files.update(members or {})
    target = directory / (filename or f"{stem}.tar.gz")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(f"{top}/{path}" if top else path)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return Dist(target, name, version, "sdist", "source", metadata_version, list(metadata))


def multipart(fields: Sequence[Field], files: Sequence[FilePart] = ()) -> tuple[bytes, str]:
    """Encode ``fields`` and ``files`` ((name, filename, data, content type)) as form data."""
    boundary = "trustpub-" + uuid.uuid4().hex
    out = io.BytesIO()
    for key, value in fields:
        out.write(f"--{boundary}\r\n".encode())
        out.write(f'Content-Disposition: form-data; name="{key}"\r\n\r\n'.encode())
        out.write(value.encode())
        out.write(b"\r\n")
    for key, filename, data, content_type in files:
        out.write(f"--{boundary}\r\n".encode())
        out.write(
            f'Content-Disposition: form-data; name="{key}"; filename="{filename}"\r\n'.encode()
        )
        if content_type is not None:  # None: no header at all (as uv sends it)
            out.write(f"Content-Type: {content_type}\r\n".encode())
        out.write(b"\r\n")
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"
