"""The release model: a project's name and version, parsed once (issue 13).

A release is what one publish run carries: one project name and one version over
several files.  The name and version used to be re-derived from filenames or from
``METADATA`` in every step that needed them (the orchestrator, the report, the
provenance file name, doctor's project guess), each with its own fallbacks.  This
module is the one place that reads them: :func:`parse_filename` for a filename on
its own, :meth:`Release.of` for a set of inspected distributions.

Packaging's parsers are imported lazily (they cost start-up time for commands that
never look at a filename).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trustpub.dists import Distribution

__all__ = ["FileRelease", "Release", "parse_filename", "single_release"]


@dataclass(frozen=True)
class FileRelease:
    """The project name and version a distribution filename states (as spelled there)."""

    name: str
    version: str

    @property
    def key(self) -> tuple[str, str]:
        """What makes two filenames the same release: the wheel-stem name and the version."""
        from packaging.utils import canonicalize_name

        return canonicalize_name(self.name).replace("-", "_"), self.version


def parse_filename(filename: str) -> FileRelease | None:
    """Name and version of a wheel or sdist filename; None when it is neither or invalid."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
        else:
            return None
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return FileRelease(str(name), str(version))


@dataclass(frozen=True)
class Release:
    """The project and version of one publish run, as the core metadata spells them.

    ``name`` and ``version`` are what the index shows (the metadata's spelling);
    :attr:`normalized_name` is the PEP 503 form URLs and state files use.
    """

    name: str
    version: str

    @property
    def normalized_name(self) -> str:
        from packaging.utils import canonicalize_name

        return canonicalize_name(self.name)

    @classmethod
    def of(cls, dists: Sequence[Distribution]) -> Release:
        """The release of inspected files: the first readable ``Name``/``Version`` pair.

        Preflight has already required one name and version over all files, so the
        first file with readable metadata speaks for all; without any (a dry run of
        damaged files), the first filename's stem parts stand in.
        """
        from packaging.metadata import parse_email

        for dist in dists:
            if dist.metadata:
                raw, _ = parse_email(dist.metadata)
                name, version = raw.get("name"), raw.get("version")
                if isinstance(name, str) and isinstance(version, str):
                    return cls(name, version)
        parts = dists[0].filename.split("-")
        return cls(parts[0], parts[1] if len(parts) > 1 else "")


def single_release(filenames: Iterable[str]) -> FileRelease | None:
    """The one release all ``filenames`` belong to, or None (several, or one unparsable)."""
    releases: dict[tuple[str, str], FileRelease] = {}
    for filename in filenames:
        parsed = parse_filename(filename)
        if parsed is None:
            return None
        releases.setdefault(parsed.key, parsed)
    return next(iter(releases.values())) if len(releases) == 1 else None
