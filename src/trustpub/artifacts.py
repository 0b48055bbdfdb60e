"""Explicit targets: the artifacts a build tool already knows, handed over with their digests.

A build tool that drives trustpub as a library knows what it built: the distribution
name and version, and per file its path, kind, sha256 and size. It hands them over as
:class:`Target` values (:meth:`trustpub.request.PublishRequest.from_targets`) instead
of a folder to search::

    >>> t = Target(Path("dist/demo-1.0.tar.gz"), "sdist", "ab" * 32, 1234)
    >>> t.filename
    'demo-1.0.tar.gz'

Two steps check them, each where it costs nothing extra:

* :func:`validate_targets`, called by ``validate()``, does no I/O beyond one ``stat``
  per file: every field is present, the kind and extension agree, the size is the file's.
* :func:`check_declared`, called by the preflight once the files are inspected, checks
  each file is of the declared release and that its sha256 is the declared one. Hashing
  is the expensive part, so it is not in ``validate()``; the preflight hashes these
  files once (both digests in one read, which the upload and attestations then reuse)
  and refuses with :class:`~trustpub.request_errors.DigestMismatch` before any network
  call. The cost: a publish without attestations reads each file twice (hash, then
  send) instead of hashing while it streams, the price of refusing before the upload
  rather than aborting during it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from trustpub.request_errors import (
    DigestMismatch,
    DuplicateTarget,
    EmptyField,
    MalformedDigest,
    NoTargets,
    ReleaseMismatch,
    SizeMismatch,
    TargetNotFound,
    UnknownTargetKind,
    WrongExtension,
)

if TYPE_CHECKING:
    from trustpub.dists import Distribution

__all__ = ["KINDS", "Target", "TargetKind", "check_declared", "validate_targets"]

TargetKind = Literal["sdist", "wheel"]
#: Each kind and the only filename ending PyPI takes for it.
KINDS: dict[str, str] = {"sdist": ".tar.gz", "wheel": ".whl"}

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Target:
    """One artifact of the release: where it is, what it is, and the digest and size the build tool measured.

    ``sha256`` is hexadecimal (any case; compared in lowercase, as indexes write it).
    """

    path: Path
    kind: TargetKind
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return Path(self.path).name

    @classmethod
    def of(cls, path: str | Path) -> Target:
        """A target measured from the file itself (reads it once): for callers that did not hash it."""
        from trustpub.digests import hash_file

        file = Path(path)
        kind: TargetKind = "wheel" if file.name.endswith(".whl") else "sdist"
        return cls(file, kind, hash_file(file).sha256, file.stat().st_size)


def validate_targets(distribution: str | None, version: str | None, targets: Sequence[Target]) -> None:
    """Refuse what cannot be a release (see the module docstring); one ``stat`` per file, nothing read."""
    if not targets:
        raise NoTargets()
    if not (distribution or "").strip():
        raise EmptyField("distribution")
    if not (version or "").strip():
        raise EmptyField("version")
    seen: set[str] = set()
    for target in targets:
        _validate_one(target)
        if target.filename in seen:
            raise DuplicateTarget(target.filename)
        seen.add(target.filename)


def _validate_one(target: Target) -> None:
    if not str(target.path or "").strip() or str(target.path) == ".":
        raise EmptyField("path", target=f"#{target.filename or '?'}")
    path = Path(target.path)
    suffix = KINDS.get(str(target.kind))
    if suffix is None:
        raise UnknownTargetKind(path, str(target.kind))
    if not path.name.endswith(suffix):
        raise WrongExtension(path, str(target.kind), suffix)
    if not target.sha256:
        raise EmptyField("sha256", target=str(path))
    if not _HEX64.fullmatch(target.sha256):
        raise MalformedDigest(path, target.sha256)
    if not target.size or target.size < 0:
        raise EmptyField("size", target=str(path))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise TargetNotFound(path, "no such file") from None
    except OSError as exc:
        raise TargetNotFound(path, f"cannot stat it: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise TargetNotFound(path, "not a regular file")
    if st.st_size != target.size:
        raise SizeMismatch(path, target.size, st.st_size)


def check_declared(
    distribution: str, version: str, targets: Sequence[Target], dists: Sequence[Distribution]
) -> None:
    """After inspection: each file is of the declared release and has the declared sha256.

    Names compare as PEP 503 normalizes them, versions as PEP 440 does. The files are
    hashed here, in parallel, both digests in one read (:func:`trustpub.dists.ensure_hashes`).
    """
    from packaging.utils import canonicalize_name, canonicalize_version

    from trustpub.dists import ensure_hashes
    from trustpub.release import Release

    by_name = {d.filename: d for d in dists}
    for target in targets:
        dist = by_name.get(target.filename)
        if dist is None:  # collect_paths skipped it: not a distribution file
            raise TargetNotFound(Path(target.path), "not a distribution file trustpub can read")
        found = Release.of([dist])
        if canonicalize_name(found.name) != canonicalize_name(distribution):
            raise ReleaseMismatch(Path(target.path), "distribution", distribution, found.name)
        if canonicalize_version(found.version) != canonicalize_version(version):
            raise ReleaseMismatch(Path(target.path), "version", version, found.version)
    ensure_hashes([by_name[t.filename] for t in targets], blake2=True)
    for target in targets:
        actual = by_name[target.filename].sha256
        if actual != target.sha256.lower():
            raise DigestMismatch(Path(target.path), target.sha256.lower(), actual)
