"""Where attestation files live, what they are called, and how they are written.

Names (the ones twine, uv and gh-action-pypi-publish look for):

* ``<dist filename>.publish.attestation``: the publish/v1 attestation, PEP 740 JSON;
* ``<dist filename>.slsa.attestation``: the per-file SLSA Provenance v1 attestation;
* ``<dist filename>.attestation``: read (older tools wrote it), never written;
* ``<name>-<version>.provenance.sigstore.json``: the release provenance, a Sigstore
  bundle v0.3 (DSSE), ``<name>`` being the project name as in an sdist filename.
  A folder holding several projects or versions gets ``release.provenance.sigstore.json``.
  By default it goes into trustpub's per-user state folder (:func:`default_provenance_dir`,
  :mod:`trustpub.state`), neither into the dist folder (``twine check dist/*`` and
  ``twine upload dist/*``, and so gh-action-pypi-publish, stop with "Unknown
  distribution format" on any file there that is not a distribution, a ``.asc``
  signature or a ``<dist>.<kind>.attestation``) nor next to it (the project folder,
  where hatchling, or setuptools with a broad ``MANIFEST.in``, packs it into the next
  sdist).

The per-file attestations stay beside the dists, where twine and the official action
look for them: that is the dist folder, which hatchling never packs and setuptools
packs only when ``MANIFEST.in`` takes the dist folder, old distributions and all.

Files are written atomically (a temporary file renamed over the target), so an
interrupted run never leaves half an attestation that a re-run would trip over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pypi_attestations import Attestation

__all__ = [
    "KINDS",
    "Kind",
    "attestation_path",
    "default_provenance_dir",
    "existing_attestations",
    "int_or_none",
    "load_attestation",
    "log_position",
    "release_provenance_name",
    "validation_reason",
    "write_atomic",
]

_logger = logging.getLogger(__name__)

Kind = Literal["publish", "slsa"]
#: Attestation kinds in upload order (PyPI takes at most one of each per file).
KINDS: tuple[Kind, ...] = ("publish", "slsa")

RELEASE_PROVENANCE_SUFFIX = ".provenance.sigstore.json"


def attestation_path(directory: Path, filename: str, kind: Kind) -> Path:
    """``directory/<filename>.<kind>.attestation``."""
    return directory / f"{filename}.{kind}.attestation"


def existing_attestations(directory: Path, filename: str) -> list[Path]:
    """The attestation files for ``filename`` in ``directory``, in a stable order."""
    names = [f"{filename}.publish.attestation", f"{filename}.slsa.attestation", f"{filename}.attestation"]
    return [directory / name for name in names if (directory / name).is_file()]


def load_attestation(path: Path) -> Attestation:
    """Parse a PEP 740 attestation file. Raises ``ValueError`` with a one-line reason."""
    from pydantic import ValidationError
    from pypi_attestations import Attestation

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read it: {exc.strerror}") from None
    try:
        return Attestation.model_validate_json(data)
    except ValidationError as exc:
        raise ValueError(f"not a PEP 740 attestation ({validation_reason(exc)})") from None


def validation_reason(exc: ValidationError) -> str:
    """``where: what`` of a document pydantic refused, its first error only: one line for a reason."""
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
    where = ".".join(str(p) for p in first.get("loc", ())) or "document"
    return f"{where}: {first.get('msg')}"


def log_position(attestation: Attestation) -> tuple[int | None, int | None]:
    """(log index, integrated time) of the attestation's first transparency entry."""
    entries: Sequence[Any] = attestation.verification_material.transparency_entries
    if not entries:
        return None, None
    entry = entries[0]
    return int_or_none(entry.get("logIndex")), int_or_none(entry.get("integratedTime"))


def int_or_none(value: Any) -> int | None:
    """A log entry's number as an int, or None: what a document holds is read, never trusted."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def default_provenance_dir(
    attestations_dir: Path | None = None, *, state_dir: Path | None = None, registry: str | None = None
) -> Path:
    """Where the release provenance goes: ``attestations_dir``, else the state folder.

    ``<state dir>/provenance/<index key>/`` for a release to the index whose upload URL
    is ``registry``, ``<state dir>/provenance/`` without one (``trustpub attest``).
    ``state_dir`` defaults to :func:`trustpub.state.default_state_dir`. Never the dist
    folder nor the project (module docstring). Not created here.
    """
    from trustpub.state import default_state_dir, index_key

    if attestations_dir is not None:
        return attestations_dir
    base = (state_dir if state_dir is not None else default_state_dir()) / "provenance"
    return base / index_key(registry) if registry is not None else base


def release_provenance_name(filenames: Iterable[str]) -> str:
    """``<name>-<version>.provenance.sigstore.json`` for one project version, else ``release...``."""
    from trustpub.release import single_release

    release = single_release(filenames)
    if release is None:
        return "release" + RELEASE_PROVENANCE_SUFFIX
    name, version = release.key
    return f"{name}-{version}{RELEASE_PROVENANCE_SUFFIX}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp makes 0600 files; attestations and provenance are public documents.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _logger.debug("wrote %s (%d bytes)", path, len(data))
