"""Post-upload verification: the index lists every file of the release with our sha256.

The last step of an upload, after the engine: an upload that answered 2xx may still
not be what the index serves (a proxy that swallowed the body, an index that stored
something else).  What the index already confirmed needs no second look, so this asks
only about the rest, in one listing: on some indexes (pypiserver) a listing hashes
every file of the project again, which for large files costs more than the upload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from trustpub.errors import TrustpubError
from trustpub.upload.plan import project_of

if TYPE_CHECKING:
    from trustpub.dists import Distribution
    from trustpub.upload._types import UploadResult
    from trustpub.upload.simple import ExistingFiles

__all__ = ["VerificationFailed", "verify_uploaded"]


class VerificationFailed(TrustpubError):
    """After the upload, the index does not list our bytes for some file."""

    #: The files the index does not list with our sha256.
    filenames: tuple[str, ...] = ()


def verify_uploaded(
    dists: Sequence[Distribution],
    lookup: ExistingFiles,
    outcomes: Mapping[str, UploadResult],
    present: Mapping[str, str],
) -> str:
    """Check every file is on the index with our sha256; returns the line to report.

    Files listed with our sha256 at plan time (``present``), and uploads the index
    confirmed (an empty 2xx to a form carrying the sha256 of exactly the bytes sent,
    which PyPI checks; or a listing after a failure) count as verified. Raises
    :class:`VerificationFailed` naming the files the index lists otherwise.
    """
    unconfirmed = [
        d
        for d in dists
        if d.filename not in present and not (d.filename in outcomes and outcomes[d.filename].confirmed)
    ]
    if not unconfirmed:
        return f"verified: the index confirmed our sha256 for all {len(dists)} file(s)"
    listed = lookup.files(project_of(dists[0]), refresh=True)
    wrong = [d.filename for d in unconfirmed if listed.get(d.filename, "").lower() != d.sha256]
    if wrong:
        error = VerificationFailed(
            f"after the upload the index does not list our sha256 for: {', '.join(wrong)}",
            hint="look at the project page; re-run the same command to complete the release",
        )
        error.filenames = tuple(wrong)
        raise error
    return f"verified: the index lists all {len(dists)} file(s) with our sha256"
