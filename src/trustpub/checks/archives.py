"""Archive rules: the container and the members PyPI requires inside it.

PyPI opens every upload and refuses archives that different tools could read
differently (ambiguous ZIPs, sparse tar members), decompression bombs, and archives
missing the files installers rely on (``WHEEL``, ``METADATA``, ``RECORD``, the sdist's
``PKG-INFO``).
"""

from __future__ import annotations

import configparser
from collections.abc import Iterator

from trustpub.checks import file_rule
from trustpub.checks._model import FileContext, Finding, error, warning

_ARCHIVE_HELP = "See https://docs.pypi.org/archives/ for more information."


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
    if not dist.is_wheel or dist.archive_error is not None:
        return
    members = set(dist.members)
    record = f"{dist.dist_info_dir}/RECORD"
    if record not in members:
        yield error(f"RECORD not found at {record}", "rebuild the wheel with a standard build backend")


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


@file_rule("archive-member-paths", "no absolute or ../ member paths (unsafe for extracting tools)")
def member_paths(ctx: FileContext) -> Iterator[Finding]:
    unsafe = ctx.dist.unsafe_members
    if unsafe:
        shown = ", ".join(repr(p) for p in unsafe[:3])
        more = f" and {len(unsafe) - 3} more" if len(unsafe) > 3 else ""
        yield warning(
            f"archive members with absolute or parent-directory paths: {shown}{more}",
            "an installer or unpacking tool could write outside its target folder; rebuild the archive",
        )
