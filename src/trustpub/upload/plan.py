"""Planning a release upload: what order files go in, and what the index already has.

Before the first byte: the index's simple API says which of the release's files it
lists and with which sha256.  Identical files count as published; a file with the same
name and other bytes stops the release (:class:`FileConflict`) before anything is
sent.  Wheels go before the sdist, so an interrupted release never shows an sdist
without its wheels.  :class:`~trustpub.upload.engine.UploadEngine` runs the plan.
"""

from __future__ import annotations

from collections.abc import Sequence

from trustpub.dists import Distribution
from trustpub.errors import TrustpubError
from trustpub.upload.simple import ExistingFiles

__all__ = ["FileConflict", "plan_release", "project_of", "upload_order"]


class FileConflict(TrustpubError):
    """The index holds a different file under a name this release wants to use."""


def upload_order(dists: Sequence[Distribution]) -> list[Distribution]:
    """Wheels (by filename), then sdists: the order outcomes are reported in."""
    return sorted(dists, key=lambda d: (d.filetype != "bdist_wheel", d.filename))


def plan_release(dists: Sequence[Distribution], lookup: ExistingFiles | None) -> dict[str, str]:
    """Files of this release already on the index, by name; raise :class:`FileConflict`
    when one holds other bytes, before anything is uploaded.

    By name first: only the files whose names the index already lists are hashed here
    (in parallel); the others are hashed while they stream.
    """
    if lookup is None or not dists:
        return {}
    existing = lookup.files(project_of(dists[0]))
    from trustpub.dists import ensure_hashes

    ensure_hashes([d for d in dists if d.filename in existing], blake2=False)
    present: dict[str, str] = {}
    for dist in dists:
        sha = existing.get(dist.filename)
        if sha is None:
            continue
        if sha.lower() != dist.sha256:
            raise FileConflict(
                f"{dist.filename}: the index already has a different file with this name "
                f"(sha256 {sha[:16]}…, ours {dist.sha256[:16]}…); nothing was uploaded",
                hint="a published filename can never be replaced; bump the version and rebuild",
            )
        present[dist.filename] = sha
    return present


def project_of(dist: Distribution) -> str:
    """The project name the index's simple API is asked about (the filename's first part)."""
    return dist.filename.split("-", 1)[0]
