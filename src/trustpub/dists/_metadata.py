"""Core metadata as PyPI reads it from the upload form: ``UNKNOWN`` placeholders dropped."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:

    from packaging.metadata import RawMetadata


#: The placeholder distutils and old setuptools (58 still did, 65 no longer does) wrote
#: for a field left unset, e.g. ``Home-page: UNKNOWN`` or ``Author-email: UNKNOWN``.
UNKNOWN = "UNKNOWN"


def is_unknown_placeholder(value: str) -> bool:
    """True when PyPI would treat ``value`` as absent: ``UNKNOWN``, surrounding blanks ignored."""
    return value.strip() == UNKNOWN


def read_metadata(data: bytes) -> tuple[RawMetadata, dict[str, list[str]]]:
    """Parse core metadata as PyPI reads it from the upload form: ``UNKNOWN`` fields dropped.

    Before validating anything, Warehouse deletes every form field whose value is the
    placeholder ``UNKNOWN`` (warehouse-contract.md, section 2.3), so an old setuptools
    file with ``Home-page: UNKNOWN`` is accepted although ``UNKNOWN`` is no URL. A
    preflight that validated the placeholder would refuse files PyPI takes. PyPI looks
    at the *last* value sent under a key and then removes all of them; the form sends
    one value per item of a multi-value field (``keywords`` joined by commas, each
    project URL as ``"Label, URL"``), so the same is done here per field. Returns
    packaging's ``(raw, unparsed)`` pair with those fields removed from both.
    """
    from packaging.metadata import parse_email

    raw, unparsed = parse_email(data)
    kept = {key: value for key, value in raw.items() if not _placeholder_field(key, value)}
    left = {key: values for key, values in unparsed.items() if not (values and is_unknown_placeholder(values[-1]))}
    return cast("RawMetadata", kept), left


def _placeholder_field(key: str, value: object) -> bool:
    if isinstance(value, str):
        return is_unknown_placeholder(value)
    if key == "keywords" and isinstance(value, list):
        return is_unknown_placeholder(",".join(value))
    if isinstance(value, dict):
        items = list(value.items())
        return bool(items) and is_unknown_placeholder(f"{items[-1][0]}, {items[-1][1]}")
    if isinstance(value, list) and value:
        return isinstance(value[-1], str) and is_unknown_placeholder(value[-1])
    return False
