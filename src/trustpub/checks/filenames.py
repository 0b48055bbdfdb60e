"""Filename rules: what PyPI refuses by looking at the name of the uploaded file.

PyPI derives the project and version from the filename as well as from the metadata
and insists they agree and are normalized (PEP 625 for sdists, PEP 491 for wheels):
installers find files by name, so a name that parses differently from its metadata
would install the wrong thing.
"""

from __future__ import annotations

from collections.abc import Iterator

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from trustpub.checks import file_rule
from trustpub.checks._model import FileContext, Finding, error
from trustpub.checks.platforms import is_allowed_platform

_NAME_HELP = "https://packaging.python.org/specifications/binary-distribution-format/"


@file_rule("file-regular", "an entry named like a distribution is a regular file (not a folder, FIFO or dangling link)")
def regular_file(ctx: FileContext) -> Iterator[Finding]:
    from trustpub.discovery import not_regular_message

    if ctx.dist.not_regular is not None:
        yield error(
            not_regular_message(ctx.dist.not_regular),
            "remove the entry or rebuild the distributions (python -m build)",
        )


@file_rule("filename-extension", "the extension is .whl or .tar.gz and matches the filetype")
def extension(ctx: FileContext) -> Iterator[Finding]:
    name = ctx.dist.filename
    if not name.endswith((".whl", ".tar.gz", ".zip")):
        yield error(
            "Invalid file extension: Use .tar.gz, .whl or .zip extension. "
            "See https://www.python.org/dev/peps/pep-0527 for more information.",
            "PyPI takes wheels (.whl) and sdists (.tar.gz) only; build them with `python -m build`",
        )
    elif name.endswith(".zip"):
        yield error(
            f"Invalid source distribution filename: {name} (sdists must be .tar.gz since PEP 625)",
            "build the sdist as .tar.gz (`python -m build --sdist`)",
        )


@file_rule("filename-characters", "no control characters or path separators in the filename")
def characters(ctx: FileContext) -> Iterator[Finding]:
    name = ctx.dist.filename
    if not ctx.filename_is_utf8:
        yield error(
            "Cannot upload a file whose name is not valid UTF-8.",
            "rename the file; its name came from a build step that wrote bytes in another encoding",
        )
        return
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        yield error("Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL character (ordinal 127) in the name.")
    if "/" in name or "\\" in name:
        yield error("Cannot upload a file with '/' or '\\' in the name.")


@file_rule("sdist-name-pep625", "sdist filename is exactly {normalized_name}-{normalized_version}.tar.gz")
def sdist_name(ctx: FileContext) -> Iterator[Finding]:
    fn = ctx.dist.filename
    if not fn.endswith(".tar.gz") or not ctx.filename_parseable:
        return
    meta_name = ctx.raw.get("name")
    meta_version = ctx.raw.get("version")
    expected = _expected_sdist_name(meta_name, meta_version)
    try:
        fname, _ = parse_sdist_filename(fn)
    except (InvalidSdistFilename, InvalidVersion):
        should = f" (should be {expected!r})" if expected else ""
        yield error(
            f"Invalid source distribution filename: {fn}{should}",
            "name sdists {name}-{version}.tar.gz as `python -m build --sdist` does",
        )
        return
    if not isinstance(meta_name, str) or expected is None:
        return  # reported by the metadata rules
    expected_stem = canonicalize_name(meta_name).replace("-", "_")
    if fname != canonicalize_name(meta_name):
        yield error(f"Start filename for {meta_name!r} with {expected_stem!r}.")
        return
    if fn != expected:
        yield error(
            f"Filename {fn!r} is invalid, should be {expected!r}.",
            "upgrade your build backend (setuptools >= 69.3, hatchling >= 1.22, flit-core >= 3.11 write PEP 625 names)",
        )


def _expected_sdist_name(name: object, version: object) -> str | None:
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    try:
        return f"{canonicalize_name(name).replace('-', '_')}-{Version(version)}.tar.gz"
    except InvalidVersion:
        return None


@file_rule("wheel-filename", "wheel filename parses as PEP 491 name-version[-build]-python-abi-platform.whl")
def wheel_filename(ctx: FileContext) -> Iterator[Finding]:
    fn = ctx.dist.filename
    if not fn.endswith(".whl") or not ctx.filename_parseable:
        return
    try:
        parse_wheel_filename(fn)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        yield error(str(exc), f"see {_NAME_HELP}")


@file_rule("wheel-platform-tag", "every platform tag is on PyPI's allow-list (no plain linux_*)")
def wheel_platform(ctx: FileContext) -> Iterator[Finding]:
    parts = ctx.wheel_parts
    if parts is None:
        return
    for plat in sorted({t.platform for t in parts[3]}):
        if not is_allowed_platform(plat):
            hint = (
                "repair the wheel with auditwheel to get a manylinux/musllinux tag"
                if plat.startswith("linux_")
                else "build for a platform PyPI accepts (manylinux, musllinux, macosx, win, ios, android)"
            )
            yield error(f"Binary wheel {ctx.dist.filename!r} has an unsupported platform tag {plat!r}.", hint)


@file_rule("wheel-name-matches-metadata", "the project in the wheel filename is the metadata Name")
def wheel_name_matches(ctx: FileContext) -> Iterator[Finding]:
    parts = ctx.wheel_parts
    meta_name = ctx.raw.get("name")
    if parts is None or not isinstance(meta_name, str):
        return
    if parts[0] != canonicalize_name(meta_name):
        expected = canonicalize_name(meta_name).replace("-", "_")
        yield error(f"Start filename for {meta_name!r} with {expected!r}.")


@file_rule("wheel-name-normalized", "the wheel filename's name part is lowercase with underscores")
def wheel_name_normalized(ctx: FileContext) -> Iterator[Finding]:
    parts = ctx.wheel_parts
    meta_name = ctx.raw.get("name")
    if parts is None or not isinstance(meta_name, str):
        return
    if parts[0] != canonicalize_name(meta_name):
        return  # the name-matches rule reports this one
    raw_name = ctx.dist.filename.split("-", 1)[0]
    expected = canonicalize_name(meta_name).replace("-", "_")
    if raw_name != expected:
        yield error(
            f"Filename {ctx.dist.filename!r} should contain the normalized project name {expected!r}, not {raw_name!r}.",
            "upgrade the build backend; recent ones write normalized wheel names",
        )


@file_rule("filename-version-matches-metadata", "the version in the filename equals the metadata Version")
def version_matches(ctx: FileContext) -> Iterator[Finding]:
    file_version = None
    if ctx.wheel_parts:
        file_version = ctx.wheel_parts[1]
    elif ctx.sdist_parts and ctx.dist.filename.endswith(".tar.gz"):
        return  # PEP 625 rule compares the whole sdist filename
    meta_version = ctx.version
    if file_version is None or meta_version is None:
        return
    if file_version != meta_version:
        yield error(f"Version in filename should be {str(meta_version)!r} not {str(file_version)!r}.")
