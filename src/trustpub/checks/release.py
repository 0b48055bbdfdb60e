"""Release rules: what must hold across all the files of one upload.

PyPI checks each file on its own, so a release that mixes projects or versions, or
carries two sdists, fails half-way: some files land, the rest are refused. Checking
the set as a whole refuses it before the first byte leaves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

from trustpub.checks import file_rule, release_rule
from trustpub.checks._model import FileContext, Finding, error, warning

#: PyPI's default per-file limit (100 MiB) and per-project limit (10 GiB).
FILE_SIZE_LIMIT = 100 * 1024 * 1024
PROJECT_SIZE_LIMIT = 10 * 1024 * 1024 * 1024

_LIMIT_HINT = (
    "ask for a larger limit for this project: https://github.com/pypi/support/issues/new?template=limit-request-file.yml"
)


@file_rule("file-size-limit", "each file is within PyPI's default 100 MB limit")
def file_size(ctx: FileContext) -> Iterator[Finding]:
    if ctx.dist.size > FILE_SIZE_LIMIT:
        name = ctx.project_name or ctx.dist.filename
        yield warning(
            f"File too large ({ctx.dist.size / 1024 / 1024:.1f} MiB). Limit for project {name!r} is 100 MB "
            "unless the project was granted a larger one",
            _LIMIT_HINT,
        )


@release_rule("release-size-limit", "the release fits in PyPI's default 10 GB project limit")
def release_size(contexts: Sequence[FileContext]) -> Iterator[Finding]:
    total = sum(c.dist.size for c in contexts)
    if total > PROJECT_SIZE_LIMIT:
        yield warning(
            f"Project size too large: this release alone is {total / 1024**3:.1f} GiB; the default limit for a project's total size is 10 GB",
            "ask for a larger project limit: https://github.com/pypi/support/issues/new?template=limit-request-project.yml",
        )


@release_rule("release-single-project", "all files belong to one project")
def single_project(contexts: Sequence[FileContext]) -> Iterator[Finding]:
    names = {c.canonical_name for c in contexts if c.canonical_name}
    if len(names) > 1:
        yield error(
            f"the files belong to {len(names)} projects ({', '.join(sorted(names))}); a release is one project",
            "publish each project separately",
        )


@release_rule("release-single-version", "all files carry one version")
def single_version(contexts: Sequence[FileContext]) -> Iterator[Finding]:
    versions = {c.version for c in contexts if c.version is not None}
    if len(versions) > 1:
        shown = ", ".join(sorted(str(v) for v in versions))
        yield error(f"the files carry {len(versions)} versions ({shown}); a release is one version", "remove stale files from dist/")


@release_rule("release-one-sdist", "at most one sdist per release")
def one_sdist(contexts: Sequence[FileContext]) -> Iterator[Finding]:
    sdists = [c.dist.filename for c in contexts if c.dist.is_sdist]
    if len(sdists) > 1:
        for name in sdists[1:]:
            yield error(
                f"Only one sdist may be uploaded per release ({', '.join(sdists)}).",
                "keep one .tar.gz",
                filename=name,
            )


@release_rule("release-duplicate-filename", "no two files share a filename")
def duplicate_filenames(contexts: Sequence[FileContext]) -> Iterator[Finding]:
    counts = Counter(c.dist.filename for c in contexts)
    for name, n in sorted(counts.items()):
        if n > 1:
            paths = [str(c.dist.path) for c in contexts if c.dist.filename == name]
            yield error(f"{n} files share the name {name!r}: {', '.join(paths)}", "PyPI stores one file per name; keep one")


@release_rule("release-duplicate-content", "no two files have the same bytes (PyPI refuses the second as a duplicate)")
def duplicate_content(contexts: Sequence[FileContext]) -> Iterator[Finding]:
    # Sizes and file ends first, hashes only where those agree (files that are not
    # regular are skipped), so the check does not read every byte before an upload.
    from trustpub.dists import identical_files

    same = identical_files([ctx.dist for ctx in contexts])
    for ctx in contexts:
        first = same.get(ctx.dist.filename)
        if first is not None:
            yield error(
                f"{ctx.dist.filename} has the same bytes as {first}; PyPI refuses it with 'File already exists'",
                "a renamed copy is not a new distribution; build each file separately",
                filename=ctx.dist.filename,
            )
