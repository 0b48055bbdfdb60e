"""The archive and filename checks PyPI runs on an uploaded distribution.

These are steps 19-21 of ``warehouse-contract.md`` §2.4: is the file the archive its
extension claims (with PyPI's ZIP container rules, compression-ratio limit and
required members), is an sdist's filename PEP 625-normalized, is a wheel's filename
consistent with the metadata and its platform tags on PyPI's allow-list, and are the
members installers rely on present.  Every function raises
:class:`~trustpub.local._responses.UploadError` with PyPI's text.

Usage::

    from trustpub.local import _archives

    _archives.check_dist_file(path, filename, filetype)
    _archives.check_sdist(path, filename, project_name, meta)      # sdists
    wheel_metadata = _archives.check_wheel(path, filename, project_name, meta)  # wheels
"""

from __future__ import annotations

import configparser
import contextlib
import csv
import logging
import os
import re
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from packaging.metadata import Metadata
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from trustpub.local._platforms import valid_platform_tag
from trustpub.local._responses import UploadError
from trustpub.local._zipfiles import zip_problem

__all__ = [
    "COMPRESSION_RATIO_MIN_SIZE",
    "COMPRESSION_RATIO_THRESHOLD",
    "check_dist_file",
    "check_sdist",
    "check_wheel",
    "valid_platform_tag",
]

_logger = logging.getLogger(__name__)

#: The ratio rule applies once this much would be decompressed.
COMPRESSION_RATIO_MIN_SIZE = 64 * 1024 * 1024
#: Decompressed/compressed ratio above which an archive counts as a bomb.
COMPRESSION_RATIO_THRESHOLD = 50

_MAX_MEMBER_READ = 16 * 1024 * 1024

#: What an entry point name may be (the entry-points spec's data model).
_ENTRY_POINT_NAME = re.compile(r"[\w.-]+")


def _top_level(names: Iterable[str]) -> str:
    """The folder every member lives in, by path components (``""`` when there is none).

    By components, not characters: ``pkg-1.0/PKG-INFO`` and ``pkg-1.0/PKG-INFO.orig``
    share ``pkg-1.0``, not ``pkg-1.0/PKG-INFO``.  Absolute and relative members
    together have no common folder.
    """
    listed = list(names)
    if not listed:
        return ""
    try:
        return os.path.commonpath(listed)
    except ValueError:
        return ""


def _invalid(reason: str | None) -> UploadError:
    return UploadError(400, f"Invalid distribution file. {reason}")


def _ratio_exceeded(decompressed: int, compressed: int) -> bool:
    return (
        decompressed > COMPRESSION_RATIO_MIN_SIZE
        and decompressed / max(compressed, 1) > COMPRESSION_RATIO_THRESHOLD
    )


def _ratio_reason() -> str:
    return f"File exceeds compression ratio of {COMPRESSION_RATIO_THRESHOLD}"


def check_dist_file(path: Path, filename: str, filetype: str) -> None:
    """Is the file a readable archive of its kind with the required members?

    Mirrors Warehouse's ``_is_valid_dist_file``; the reason can be the literal
    ``None`` for an archive that cannot be read at all, as on PyPI.
    """
    is_zip = zipfile.is_zipfile(path)
    if filename.endswith((".zip", ".whl")):
        if not is_zip:
            raise _invalid("File is not a zipfile")
        if _is_tar(path):
            raise _invalid("File is both a zip and a tar file")
        _check_zip(path, filename)
    elif filename.endswith(".tar.gz"):
        if not _is_tar(path):
            raise _invalid("File is not a tarfile")
        if is_zip:
            raise _invalid("File is both a zip and a tar file")
        _check_tar(path)


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, tarfile.TarError):
        return False


def _check_zip(path: Path, filename: str) -> None:
    try:
        with zipfile.ZipFile(path) as zfp:
            infos = zfp.infolist()
            compressed = path.stat().st_size
            if _ratio_exceeded(sum(info.file_size for info in infos), compressed):
                raise _invalid(_ratio_reason())
            if any(
                info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
                for info in infos
            ):
                raise _invalid("File does not use a supported compression type")
            names = set(zfp.namelist())
            if filename.endswith(".zip"):
                top_level = _top_level(names)
                if top_level in (".", "/", ""):
                    raise _invalid("Incorrect number of top-level directories in sdist")
                target = os.path.join(top_level, "PKG-INFO")
                if target not in names:
                    raise _invalid(f"PKG-INFO not found at {target}")
            else:
                try:
                    name, version, _ = os.path.basename(filename).split("-", 2)
                except ValueError:
                    raise _invalid("Unable to parse name and version from wheel filename") from None
                target = f"{name}-{version}.dist-info/WHEEL"
                if target not in names:
                    raise _invalid(f"WHEEL not found at {target}")
        reason = zip_problem(path)
        if reason is not None:
            raise _invalid(
                f"ZIP archive not accepted: {reason}. "
                "See https://docs.pypi.org/archives for more information"
            )
    except zipfile.BadZipFile:
        raise _invalid(None) from None


class _CountingReader:
    """Counts compressed bytes consumed, so the ratio rule can stop a tar bomb early."""

    def __init__(self, path: Path) -> None:
        self._fp = path.open("rb")
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        data = self._fp.read(size)
        self.consumed += len(data)
        return data

    def close(self) -> None:
        self._fp.close()


def _check_tar(path: Path) -> None:
    compressed = path.stat().st_size
    names: list[str] = []
    sparse: list[str] = []
    decompressed = 0
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                names.append(member.name)
                if member.issparse():
                    sparse.append(member.name)
                decompressed += member.size
                if _ratio_exceeded(decompressed, compressed):
                    raise _invalid(_ratio_reason())
    except (tarfile.ReadError, EOFError, OSError):
        raise _invalid(None) from None
    except tarfile.TarError:
        raise _invalid(None) from None
    if sparse:
        raise _invalid(f"Sparse tar members are not supported: {sparse[0]}")
    top_level = _top_level(names)
    if top_level in (".", "/", ""):
        raise _invalid("Incorrect number of top-level directories in sdist")
    target = os.path.join(top_level, "PKG-INFO")
    if target not in names:
        raise _invalid(f"PKG-INFO not found at {target}")


def _tar_top_level(path: Path) -> tuple[str, set[str]]:
    with tarfile.open(path, mode="r:gz") as tar:
        names = tar.getnames()
    return _top_level(names), set(names)


def check_sdist(path: Path, filename: str, project_name: str, meta: Metadata) -> None:
    """PEP 625 filename normalization, then every ``License-File`` present."""
    try:
        name_from_filename, _ = parse_sdist_filename(filename)
    except InvalidSdistFilename:
        raise UploadError(400, f"Invalid source distribution filename: {filename}") from None
    name_part = str(name_from_filename)
    # A post-release version may contain a hyphen ("1.0-1"): retry the split on the
    # second-to-last hyphen, as PyPI does, before deciding the name is wrong.
    if (
        meta.version.is_postrelease
        and name_from_filename != canonicalize_name(meta.name)
        and filename.count("-") >= 2
    ):
        # PyPI keeps the re-split name even when the version part then fails to
        # parse; so do we.
        name_part = filename.rpartition("-")[0].rpartition("-")[0]
        with contextlib.suppress(InvalidVersion):
            Version(filename[len(name_part) + 1 : -len(".tar.gz")])
    normalized = canonicalize_name(project_name)
    if canonicalize_name(name_part) != normalized:
        raise UploadError(
            400,
            f"Start filename for {project_name!r} with {normalized.replace('-', '_')!r}.",
        )
    expected = f"{normalized.replace('-', '_')}-{meta.version}.tar.gz"
    if filename != expected:
        raise UploadError(400, f"Filename {filename!r} is invalid, should be {expected!r}.")
    if meta.license_files:
        top_level, names = _tar_top_level(path)
        for license_file in meta.license_files:
            target = os.path.join(top_level, license_file)
            if target not in names:
                raise UploadError(
                    400,
                    f"License-File {license_file} does not exist in distribution file "
                    f"{filename} at {target}",
                )


def _read_member(zfp: zipfile.ZipFile, name: str) -> bytes:
    with zfp.open(name) as member:
        data = member.read(_MAX_MEMBER_READ + 1)
    if len(data) > _MAX_MEMBER_READ:
        raise UploadError(400, f"Invalid distribution file. {name} is too large")
    return data


def _entry_points_valid(data: bytes) -> bool:
    """UTF-8, an INI file with ``=`` only, and script names an installer can create.

    A ``console_scripts``/``gui_scripts`` name becomes a file name on install, so a
    name with a path separator or a space is refused, as on PyPI.
    """
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(data.decode("utf-8"))
    except (configparser.Error, UnicodeDecodeError):
        return False
    for section in ("console_scripts", "gui_scripts"):
        if parser.has_section(section) and not all(
            _ENTRY_POINT_NAME.fullmatch(name) for name in parser[section]
        ):
            return False
    return True


def _record_readable(data: bytes) -> bool:
    """RECORD must be UTF-8 CSV; PyPI treats an unreadable one as a missing one.

    Whether it lists the members correctly PyPI only reports to the owners by e-mail,
    so that is not checked here.
    """
    try:
        for _row in csv.reader(data.decode("utf-8").splitlines()):
            pass
    except (UnicodeDecodeError, csv.Error):
        return False
    return True


def check_wheel(path: Path, filename: str, project_name: str, meta: Metadata) -> bytes:
    """Wheel filename and content rules; returns the wheel's METADATA (PEP 658 file)."""
    try:
        name, version, _build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise UploadError(400, str(exc)) from None
    for tag in tags:
        if not valid_platform_tag(tag.platform):
            raise UploadError(
                400, f"Binary wheel '{filename}' has an unsupported platform tag '{tag.platform}'."
            )
    canonical = canonicalize_name(meta.name)
    if canonical != name:
        raise UploadError(
            400, f"Start filename for {project_name!r} with {canonical.replace('-', '_')!r}."
        )
    raw_name = filename.split("-", 1)[0]
    normalized = canonicalize_name(project_name).replace("-", "_")
    if raw_name != normalized:
        raise UploadError(
            400,
            f"Filename {filename!r} should contain the normalized project name "
            f"{normalized!r}, not {raw_name!r}.",
        )
    if meta.version != version:
        raise UploadError(
            400, f"Version in filename should be {str(meta.version)!r} not {str(version)!r}."
        )
    dist_name, dist_version, _ = filename.split("-", 2)
    dist_info = f"{dist_name}-{dist_version}.dist-info"
    with zipfile.ZipFile(path) as zfp:
        names = set(zfp.namelist())
        for license_file in meta.license_files or []:
            target = f"{dist_info}/licenses/{license_file}"
            if target not in names:
                raise UploadError(
                    400,
                    f"License-File {license_file} does not exist in distribution file "
                    f"{filename} at {target}",
                )
        record = f"{dist_info}/RECORD"
        if record not in names or not _record_readable(_read_member(zfp, record)):
            raise UploadError(
                400,
                f"Wheel '{filename}' does not contain the required RECORD file: {dist_info}/RECORD",
            )
        entry_points = f"{dist_info}/entry_points.txt"
        if entry_points in names and not _entry_points_valid(_read_member(zfp, entry_points)):
            raise UploadError(
                400,
                f"Wheel '{filename}' has invalid entry points in the metadata. "
                "See https://packaging.python.org/specifications/entry-points/ "
                "for more information.",
            )
        metadata_name = f"{dist_info}/METADATA"
        if metadata_name not in names:
            raise UploadError(
                400,
                f"Wheel '{filename}' does not contain the required METADATA file: {metadata_name}",
            )
        data = _read_member(zfp, metadata_name)
    _logger.debug("wheel %s passed the content checks", filename)
    return data
