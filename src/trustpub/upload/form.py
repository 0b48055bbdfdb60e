"""The legacy upload form: the artifact's own metadata under PyPI's raw field names.

PyPI reads metadata only from the form, never from the file (warehouse-contract.md
§2.3), and silently drops names it does not know, so the names here matter: most
multi-value fields are plural (``classifiers``, ``requires_dist``), five stay singular
(``platform``, ``supported_platform``, ``license_file``, ``import_name``,
``import_namespace``), ``keywords`` is one comma-joined string and each
``project_urls`` value is ``"Label, URL"``.

    >>> fields = form_fields(dist)                      # doctest: +SKIP
    >>> fields[:3]                                      # doctest: +SKIP
    [(':action', 'file_upload'), ('protocol_version', '1'), ('filetype', 'bdist_wheel')]
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from trustpub.dists import Distribution
from trustpub.errors import TrustpubError

__all__ = ["FORM_NAMES", "form_fields", "metadata_fields"]

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
    from packaging.metadata import parse_email

    raw, _ = parse_email(dist.metadata)
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
    return fields


def form_fields(dist: Distribution, *, attestations: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Every text field of the upload form for ``dist`` (the file part is added by the caller).

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
        ("sha256_digest", dist.sha256),
        ("blake2_256_digest", dist.blake2_256),
    ]
    fields.extend(metadata_fields(dist))
    if attestations:
        fields.append(("attestations", "[" + ",".join(json.dumps(json.loads(a), separators=(",", ":")) for a in attestations) + "]"))
    return fields
