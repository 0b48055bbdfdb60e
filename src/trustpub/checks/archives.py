"""Archive rules: the container and the members PyPI requires inside it.

PyPI opens every upload and refuses archives that different tools could read
differently (ambiguous ZIPs, sparse tar members), decompression bombs, and archives
missing the files installers rely on (``WHEEL``, ``METADATA``, ``RECORD``, the sdist's
``PKG-INFO``).
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator

from trustpub.checks import file_rule
from trustpub.checks._model import FileContext, Finding, error, warning

_ARCHIVE_HELP = "See https://docs.pypi.org/archives/ for more information."
_SCRIPT_NAME = re.compile(r"[\w.-]+")  # the entry-points spec's name pattern


@file_rule("archive-valid", "the archive opens as PyPI opens it: strict ZIP container, no sparse tar members, compression ratio, required members")
def archive_valid(ctx: FileContext) -> Iterator[Finding]:
    reason = ctx.dist.archive_error
    if reason is None:
        return
    hint = None
    if reason.startswith("ZIP archive not accepted"):
        hint = "rebuild the wheel with a standard build backend; the ZIP container is ambiguous"
    elif "compression ratio" in reason:
        hint = "PyPI refuses archives that expand more than 50x past 64 MiB"
    elif "not found at" in reason or "top-level" in reason:
        hint = "rebuild with `python -m build`; the archive layout is not a standard one"
    elif reason.startswith("Sparse"):
        hint = "create the sdist with a tar that does not write sparse members (python -m build does not)"
    yield error(f"Invalid distribution file. {reason}. {_ARCHIVE_HELP}", hint)


@file_rule("wheel-required-members", "a wheel carries {name}-{version}.dist-info/RECORD")
def wheel_members(ctx: FileContext) -> Iterator[Finding]:
    dist = ctx.dist
    if not dist.is_wheel or dist.archive_error is not None or ctx.wheel_parts is None or dist.oversized_member:
        return
    members = set(dist.members)
    record = f"{dist.dist_info_dir}/RECORD"
    if record not in members:
        yield error(f"RECORD not found at {record}", "rebuild the wheel with a standard build backend")
    elif f"{record} is not a UTF-8 CSV file" in dist.record_problems:
        # PyPI reads a RECORD it cannot decode as no RECORD at all, and refuses the wheel.
        yield error(f"RECORD at {record} is not a UTF-8 CSV file; PyPI treats it as missing", "rebuild the wheel with a standard build backend")


@file_rule("wheel-entry-points", "entry_points.txt parses as an INI file")
def entry_points(ctx: FileContext) -> Iterator[Finding]:
    data = ctx.dist.entry_points
    if data is None:
        return
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(data.decode("utf-8"))
    except (configparser.Error, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        yield error(
            f"Wheel {ctx.dist.filename!r} has invalid entry points in the metadata: {first}",
            "fix [project.scripts] / [project.entry-points] in pyproject.toml",
        )
        return
    # A script name becomes a file name on install; PyPI refuses one that is not
    # letters, digits, '_', '.' and '-' (a '/' or a space, say).
    for section in ("console_scripts", "gui_scripts"):
        bad = [n for n in parser[section] if not _SCRIPT_NAME.fullmatch(n)] if parser.has_section(section) else []
        if bad:
            yield error(
                f"Wheel {ctx.dist.filename!r} has invalid entry points in the metadata: "
                f"invalid entry point name {bad[0]!r} in {section!r}",
                "script names may hold letters, digits, '_', '.' and '-' only; fix [project.scripts] in pyproject.toml",
            )
            return


def _listed(items: tuple[str, ...]) -> str:
    shown = ", ".join(repr(p) for p in items[:3])
    return shown + (f" and {len(items) - 3} more" if len(items) > 3 else "")


# PyPI accepts every archive below (its checks do not look at member paths, links,
# WHEEL or RECORD contents: warehouse-contract.md section 2.4, steps 19 and 21), but
# installers refuse or mis-install them; so they are warnings (errors with --strict).


@file_rule("archive-member-paths", "no absolute, ../ or backslash member paths (unsafe for extracting tools)")
def member_paths(ctx: FileContext) -> Iterator[Finding]:
    unsafe = ctx.dist.unsafe_members
    if unsafe:
        yield warning(
            f"archive members with absolute, parent-directory or backslash paths: {_listed(unsafe)}; "
            "PyPI accepts them, installers refuse or misplace them",
            "an installer or unpacking tool could write outside its target folder; rebuild the archive",
        )


@file_rule("archive-member-links", "no sdist link member points outside the sdist's folder (absolute or ../ target)")
def member_links(ctx: FileContext) -> Iterator[Finding]:
    links = ctx.dist.unsafe_links
    if links:
        yield warning(
            f"sdist links that point outside the sdist's folder: {_listed(links)}; PyPI accepts them, "
            "pip and Python 3.14's tarfile 'data' filter refuse to unpack them",
            "replace the link with the file it points to (build backends copy, they do not link)",
        )


@file_rule("archive-member-size", "the core metadata, WHEEL and entry_points.txt members are at most 16 MiB")
def member_size(ctx: FileContext) -> Iterator[Finding]:
    from trustpub.dists.limits import MAX_MEMBER_READ

    oversized = ctx.dist.oversized_member
    if oversized is not None:
        name, size = oversized
        yield error(
            f"{name} is {size / 1024 / 1024:.1f} MiB; metadata files over {MAX_MEMBER_READ // (1024 * 1024)} MiB "
            "are not read, so nothing in it can be checked",
            "a metadata file this large usually embeds a generated README; shorten the long description",
        )


def _wheel_fields(ctx: FileContext) -> list[tuple[str, str]] | None:
    data = ctx.dist.wheel_file
    if data is None:
        return None
    fields: list[tuple[str, str]] = []
    for line in data.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields.append((name.strip().lower(), value.strip()))
    return fields


@file_rule("wheel-version", "WHEEL declares Wheel-Version 1.x (installers refuse other major versions)")
def wheel_version(ctx: FileContext) -> Iterator[Finding]:
    fields = _wheel_fields(ctx)
    if fields is None:
        return
    versions = [value for name, value in fields if name == "wheel-version"]
    where = f"{ctx.dist.dist_info_dir}/WHEEL"
    if not versions:
        yield warning(f"{where} has no Wheel-Version; installers refuse the wheel", "rebuild the wheel with a standard build backend")
    elif versions[0].split(".", 1)[0] != "1":
        yield warning(
            f"{where} declares Wheel-Version {versions[0]}; PyPI accepts it, pip and uv refuse to install "
            "a wheel whose major version is not 1",
            "rebuild the wheel with a standard build backend (Wheel-Version: 1.0)",
        )


@file_rule("wheel-tags-match", "the Tag lines of WHEEL are the tags in the wheel filename")
def wheel_tags(ctx: FileContext) -> Iterator[Finding]:
    fields = _wheel_fields(ctx)
    parts = ctx.wheel_parts
    if fields is None or parts is None:
        return
    from packaging.tags import parse_tag

    declared: set[str] = set()
    for name, value in fields:
        if name == "tag":
            try:
                declared.update(str(tag) for tag in parse_tag(value))
            except ValueError:
                declared.add(value)
    expected = {str(tag) for tag in parts[3]}
    if declared != expected:
        yield warning(
            f"{ctx.dist.dist_info_dir}/WHEEL declares Tag {sorted(declared)} but the filename says {sorted(expected)}; "
            "PyPI goes by the filename, installers that read WHEEL disagree",
            "rename the wheel with `wheel tags` (or rebuild) instead of renaming the file by hand",
        )


@file_rule("wheel-record", "RECORD lists every member with its right sha256 and size")
def wheel_record(ctx: FileContext) -> Iterator[Finding]:
    problems = ctx.dist.record_problems
    if problems:
        yield warning(
            f"{ctx.dist.dist_info_dir}/RECORD does not match the archive: {_listed(problems)}; PyPI accepts it "
            "(and e-mails the owners), installers that verify RECORD refuse the wheel",
            "rebuild the wheel instead of editing it in place (or run `wheel pack` after editing)",
        )
