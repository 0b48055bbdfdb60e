"""Reading a ZIP archive: a wheel (WHEEL, METADATA, entry points, RECORD) or a legacy .zip sdist.

The container is validated first (:func:`trustpub.zipcheck.validate_zip`, as strict as
PyPI); then only the members inspection needs are read, each bounded. Facts and
problems go into a dict of :class:`~trustpub.dists.Distribution` fields.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path

from trustpub.dists import limits
from trustpub.dists.limits import (
    _CHUNK,
    COMPRESSION_RATIO_LIMIT,
    COMPRESSION_RATIO_THRESHOLD,
    MAX_MEMBERS,
    _MemberTooLarge,
    _ratio_message,
    _RatioExceeded,
    _unsafe_path,
)
from trustpub.zipcheck import InvalidZip, validate_zip


def _dist_info_dir(filename: str) -> str:
    parts = filename.removesuffix(".whl").split("-")
    return f"{parts[0]}-{parts[1] if len(parts) > 1 else ''}.dist-info"


def _wheel_filename_parses(filename: str) -> bool:
    """PyPI refuses a wheel by its filename before it opens the archive, so neither do we."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename
    from packaging.version import InvalidVersion

    try:
        parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return False
    return True


def _inspect_zip(path: Path, filename: str) -> dict[str, object]:
    facts: dict[str, object] = {}
    with open(path, "rb") as fp:
        try:
            validate_zip(fp)
        except InvalidZip as exc:
            # PyPI reports "File is not a zipfile" for non-ZIP data and the
            # container reason otherwise.
            if exc.reason == "File is not a zip file":
                facts["archive_error"] = "File is not a zipfile"
            else:
                facts["archive_error"] = f"ZIP archive not accepted: {exc.reason}"
            return facts
        fp.seek(0)
        try:
            with zipfile.ZipFile(fp) as zf:
                infos = zf.infolist()[:MAX_MEMBERS]
                names = tuple(i.filename for i in infos)
                facts["members"] = names
                for info in infos:
                    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                        facts["archive_error"] = "Invalid compression method"
                        return facts
                declared = sum(i.file_size for i in infos)
                if (
                    declared > COMPRESSION_RATIO_THRESHOLD
                    and declared / max(path.stat().st_size, 1) > COMPRESSION_RATIO_LIMIT
                ):
                    facts["archive_error"] = _ratio_message()
                    return facts
                facts["unsafe_members"] = tuple(n for n in names if _unsafe_path(n))
                by_name = {i.filename: i for i in infos}
                if filename.endswith(".whl"):
                    if _wheel_filename_parses(filename):
                        _wheel_members(zf, by_name, filename, facts)
                else:
                    _zip_sdist_members(zf, by_name, filename, facts)
        except _MemberTooLarge as exc:
            facts["oversized_member"] = (exc.name, exc.size)
        except _RatioExceeded:
            facts["archive_error"] = _ratio_message()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            facts["archive_error"] = f"File is not a zipfile ({exc})"
    return facts


def _read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > limits.MAX_MEMBER_READ:
        raise _MemberTooLarge(info.filename, info.file_size)
    with zf.open(info) as member:
        data = member.read(limits.MAX_MEMBER_READ + 1)
    if len(data) > limits.MAX_MEMBER_READ:
        raise _MemberTooLarge(info.filename, len(data))
    return data


def _record_problems(zf: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], record: bytes, record_path: str) -> tuple[str, ...]:
    """Members whose RECORD line disagrees with their bytes, or that RECORD leaves out.

    PyPI accepts such wheels (it only e-mails the owners); installers that verify
    RECORD refuse them. Each member is hashed in chunks; the archive's declared sizes
    already passed the compression-ratio rule, so the work is bounded.
    """
    import base64
    import csv

    problems: list[str] = []
    listed: set[str] = set()
    try:
        rows = list(csv.reader(record.decode("utf-8").splitlines()))
    except (UnicodeDecodeError, csv.Error):
        return (f"{record_path} is not a UTF-8 CSV file",)
    for row in rows[:MAX_MEMBERS]:
        if not row:
            continue
        name = row[0]
        listed.add(name)
        if name == record_path or name.endswith((".dist-info/RECORD.jws", ".dist-info/RECORD.p7s")):
            continue
        info = by_name.get(name)
        if info is None:
            problems.append(f"{name} (listed, not in the archive)")
            continue
        digest = row[1] if len(row) > 1 else ""
        algorithm, _, expected = digest.partition("=")
        if algorithm not in ("sha256", "sha384", "sha512"):
            problems.append(f"{name} (no sha256 hash in RECORD)")
            continue
        state = hashlib.new(algorithm)
        size = 0
        with zf.open(info) as member:
            while chunk := member.read(_CHUNK):
                state.update(chunk)
                size += len(chunk)
        actual = base64.urlsafe_b64encode(state.digest()).rstrip(b"=").decode()
        if actual != expected.rstrip("="):
            problems.append(f"{name} (hash differs)")
        elif len(row) > 2 and row[2] and row[2] != str(size):
            problems.append(f"{name} (size differs)")
    for name in by_name:
        if name not in listed and not name.endswith("/") and not name.endswith((".dist-info/RECORD.jws", ".dist-info/RECORD.p7s")):
            problems.append(f"{name} (not listed)")
    return tuple(problems)


def _wheel_members(
    zf: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], filename: str, facts: dict[str, object]
) -> None:
    dist_info = _dist_info_dir(filename)
    wheel_path = f"{dist_info}/WHEEL"
    if wheel_path not in by_name:
        facts["archive_error"] = f"WHEEL not found at {wheel_path}"
        return
    facts["wheel_file"] = _read_zip_member(zf, by_name[wheel_path])
    meta_path = f"{dist_info}/METADATA"
    if meta_path in by_name:
        facts["metadata"] = _read_zip_member(zf, by_name[meta_path])
        facts["metadata_path"] = meta_path
    ep_path = f"{dist_info}/entry_points.txt"
    if ep_path in by_name:
        facts["entry_points"] = _read_zip_member(zf, by_name[ep_path])
    record_path = f"{dist_info}/RECORD"
    if record_path in by_name:
        record = _read_zip_member(zf, by_name[record_path])
        facts["record_problems"] = _record_problems(zf, by_name, record, record_path)


def _zip_sdist_members(
    zf: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], filename: str, facts: dict[str, object]
) -> None:
    tops = sorted({n.split("/", 1)[0] for n in by_name if n})
    facts["top_level_dirs"] = tuple(tops)
    if len(tops) != 1:
        facts["archive_error"] = "Incorrect number of top-level directories in sdist"
        return
    pkg_info = f"{tops[0]}/PKG-INFO"
    if pkg_info not in by_name:
        facts["archive_error"] = f"PKG-INFO not found at {pkg_info}"
        return
    facts["metadata"] = _read_zip_member(zf, by_name[pkg_info])
    facts["metadata_path"] = pkg_info
