"""Discovery: which files a command's PATHS name (the first step of the pipeline).

A folder contributes what looks like a distribution; sidecar files (attestations,
signatures) are skipped with a note; a file named explicitly is always taken; an
entry named like a distribution that is not a regular file is an error of its own
(:class:`NotRegularFiles`), never a silent omission.  Inspecting the files is
:mod:`trustpub.dists`; checking them is :mod:`trustpub.checks`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trustpub.errors import CheckFailed

__all__ = ["CollectedPaths", "NotRegularFiles", "collect_entries", "collect_paths", "not_regular_message"]


#: File names in a dist folder that are never distributions and are skipped quietly.
_SIDECAR_SUFFIXES = (".attestation", ".asc", ".sig", ".sigstore", ".sigstore.json", ".provenance", ".intoto.jsonl", ".publish.json")


def _looks_like_distribution(path: Path) -> bool:
    from trustpub.dists import LEGACY_EXTENSIONS

    name = path.name
    if name.endswith(_SIDECAR_SUFFIXES):
        return False
    return name.endswith((".whl", ".tar.gz", ".zip", *LEGACY_EXTENSIONS))


class NotRegularFiles(CheckFailed):
    """Entries named like distributions that are not regular files (rule ``file-regular``).

    A folder, a dangling symbolic link or a FIFO named ``*.whl`` is a broken build
    output, not a file to leave out quietly: a release that silently lacks it is
    incomplete.
    """

    def __init__(self, entries: Sequence[tuple[Path, str]]) -> None:
        lines = "; ".join(f"{path}: error [file-regular] {not_regular_message(what)}" for path, what in entries)
        super().__init__(lines, hint="remove the entry or rebuild the distributions (python -m build)")
        self.entries = tuple(entries)


def not_regular_message(what: str) -> str:
    """The ``file-regular`` rule's message (shared by discovery and by the check)."""
    return f"named like a distribution but is {what}, not a regular file"


@dataclass(frozen=True)
class CollectedPaths:
    """What PATHS expand to: distribution files, skipped files, and non-regular entries."""

    files: tuple[Path, ...]
    skipped: tuple[Path, ...]
    not_regular: tuple[tuple[Path, str], ...]


def collect_entries(paths: Sequence[str | Path]) -> CollectedPaths:
    """Expand PATHS (files or folders) into files, skipped files and non-regular entries.

    A folder contributes the files directly inside it that look like distributions;
    everything else there (attestations, signatures, ``.DS_Store``) is skipped with a
    note. A file named explicitly is always checked, whatever its name, so a typo
    cannot silently drop it. An entry that looks like a distribution (or is named
    explicitly) but is not a regular file (a folder, a FIFO, a dangling link) is
    reported in ``not_regular`` with what it is; it is never opened.
    """
    from trustpub.dists import describe_entry
    from trustpub.errors import ConfigurationError

    files: list[Path] = []
    skipped: list[Path] = []
    irregular: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.iterdir()):
                what = describe_entry(child)
                if what is not None:
                    if _looks_like_distribution(child):
                        irregular.append((child, what))
                    continue
                if _looks_like_distribution(child):
                    if child.resolve() not in seen:
                        seen.add(child.resolve())
                        files.append(child)
                else:
                    skipped.append(child)
        elif path.is_file():
            if path.resolve() not in seen:
                seen.add(path.resolve())
                files.append(path)
        elif os.path.lexists(path):
            irregular.append((path, describe_entry(path) or "not a regular file"))
        else:
            raise ConfigurationError(f"{raw}: no such file or folder")
    return CollectedPaths(tuple(files), tuple(skipped), tuple(irregular))


def collect_paths(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """Expand PATHS into (distribution files, skipped files); see :func:`collect_entries`.

    Raises :class:`NotRegularFiles` (exit status 1) when an entry named like a
    distribution is not a regular file, so no caller can skip one silently.
    """
    collected = collect_entries(paths)
    if collected.not_regular:
        raise NotRegularFiles(collected.not_regular)
    return list(collected.files), list(collected.skipped)
