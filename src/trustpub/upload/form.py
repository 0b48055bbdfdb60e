"""The legacy upload form: the artifact's own metadata under PyPI's raw field names.

PyPI reads metadata only from the form, never from the file (warehouse-contract.md
§2.3), and silently drops names it does not know, so the names here matter: most
multi-value fields are plural (``classifiers``, ``requires_dist``), five stay singular
(``platform``, ``supported_platform``, ``license_file``, ``import_name``,
``import_namespace``), ``keywords`` is one comma-joined string and each
``project_urls`` value is ``"Label, URL"``.

The digests are not among these fields: they travel AFTER the file part
(:func:`digest_fields`, placed by :class:`trustpub.upload.native.MultipartBody`), so
a file nobody needed to hash before can be hashed while it streams, in the one read
that sends it. PyPI (WebOb), pypiserver, devpi and the local index parse the whole
form before they look at any field, so the order of parts is free.

    >>> fields = form_fields(dist)                      # doctest: +SKIP
    >>> fields[:3]                                      # doctest: +SKIP
    [(':action', 'file_upload'), ('protocol_version', '1'), ('filetype', 'bdist_wheel')]
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

from trustpub.dists import Distribution
from trustpub.errors import TrustpubError

__all__ = ["FORM_NAMES", "digest_fields", "form_fields", "metadata_fields"]

#: packaging's raw metadata key -> the form field PyPI reads it from.
FORM_NAMES: dict[str, str] = {
    "platforms": "platform",
    "supported_platforms": "supported_platform",
    "license_files": "license_file",
    "import_names": "import_name",
    "import_namespaces": "import_namespace",
}

# The order fields are sent in: identity first, then the rest alphabetically; stable so
# that requests are reproducible and comparable byte for byte.
_FIRST = ("metadata_version", "name", "version")


def metadata_fields(dist: Distribution) -> list[tuple[str, str]]:
    """The core metadata of ``dist`` as (form name, value) pairs, multi-value keys repeated."""
    if dist.metadata is None:
        raise TrustpubError(f"{dist.filename}: no core metadata found in the file; run `trustpub check` on it")
    return list(_metadata_fields(dist.metadata))


@functools.lru_cache(maxsize=32)
def _metadata_fields(metadata: bytes) -> tuple[tuple[str, str], ...]:
    # Cached by content: the wheels of a release usually share their METADATA bytes,
    # so a 40-wheel release parses it once, not 40 times.
    from packaging.metadata import parse_email

    raw, _ = parse_email(metadata)
    keys = [k for k in _FIRST if k in raw] + sorted(k for k in raw if k not in _FIRST)
    fields: list[tuple[str, str]] = []
    for key in keys:
        value = raw[key]  # type: ignore[literal-required]
        name = FORM_NAMES.get(key, key)
        if key == "keywords":
            assert isinstance(value, list)
            fields.append((name, ",".join(value)))
        elif key == "project_urls":
            assert isinstance(value, dict)
            fields.extend((name, f"{label}, {url}") for label, url in value.items())
        elif isinstance(value, list):
            fields.extend((name, item) for item in value)
        else:
            fields.append((name, str(value)))
    return tuple(fields)


def form_fields(dist: Distribution, *, attestations: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Every text field of the upload form for ``dist`` but the digests (see :func:`digest_fields`).

    ``attestations`` are PEP 740 attestation JSON documents; they travel as ONE plain
    field holding a JSON array (a file part would be refused with "Should not be a tuple").
    """
    if dist.filetype is None:
        raise TrustpubError(f"{dist.filename}: not a wheel or sdist; PyPI would refuse it")
    pyversion = "source"
    if dist.filetype == "bdist_wheel":
        # The Python tag of the wheel, as twine sends it (e.g. "py3", "cp312").
        parts = dist.filename[: -len(".whl")].split("-")
        pyversion = parts[-3] if len(parts) >= 5 else "py3"
    fields: list[tuple[str, str]] = [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("filetype", dist.filetype),
        ("pyversion", pyversion),
    ]
    fields.extend(metadata_fields(dist))
    if attestations:
        fields.append(("attestations", "[" + ",".join(json.dumps(json.loads(a), separators=(",", ":")) for a in attestations) + "]"))
    return fields


def digest_fields(sha256: str, blake2_256: str | None = None) -> list[tuple[str, str]]:
    """The digest fields, sent after the file part: sha256 always, BLAKE2b-256 when known.

    PyPI needs at least one digest and checks every one sent (warehouse-contract.md
    §2.3); sha256 is the one the simple API, the attestations and the journal name,
    so BLAKE2b-256 is added only when it was computed anyway (hashing it just to
    send it would cost more CPU than the whole upload on loopback). No md5: PyPI's
    docs and code disagree on its encoding.
    """
    fields = [("sha256_digest", sha256)]
    if blake2_256 is not None:
        fields.append(("blake2_256_digest", blake2_256))
    return fields
