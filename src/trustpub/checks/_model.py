"""Findings, and the per-file context every rule reads (parsed once, shared by all rules)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from packaging.utils import (
    BuildTag,
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from trustpub.dists import Distribution
from trustpub.text import printable

if TYPE_CHECKING:
    from packaging.metadata import Metadata, RawMetadata
    from packaging.tags import Tag

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem: which rule, how bad, which file, PyPI's words, and what to do."""

    severity: Severity
    message: str
    hint: str | None = None
    rule: str = ""
    filename: str | None = None

    def stamped(self, rule: str, filename: str | None) -> Finding:
        return dataclasses.replace(self, rule=self.rule or rule, filename=self.filename or filename)

    def to_json(self) -> dict[str, object]:
        return {"rule": self.rule, "message": self.message, "hint": self.hint}

    def line(self) -> str:
        """The one-line form printed by ``trustpub check``: file, rule, message, hint.

        Escaped (:func:`trustpub.text.printable`): the filename and the message quote
        the file itself, and a name with a newline or an ESC must not steer the log.
        """
        where = self.filename or "release"
        text = f"{where}: {self.severity} [{self.rule}] {self.message}"
        return printable(f"{text} ({self.hint})" if self.hint else text)


def error(message: str, hint: str | None = None, *, filename: str | None = None) -> Finding:
    return Finding("error", message, hint, filename=filename)


def warning(message: str, hint: str | None = None, *, filename: str | None = None) -> Finding:
    return Finding("warning", message, hint, filename=filename)


@dataclass(frozen=True)
class ParsedMetadata:
    """Core metadata as PyPI would read it from the upload form.

    ``raw`` is packaging's raw dict; ``unparsed`` holds fields the email parser could
    not place (a single-value field given twice, a malformed Project-URL), which PyPI
    answers with "'<key>' has invalid data."; ``metadata`` is the validated object, or
    ``None`` when validation failed (``errors`` then says why).
    """

    raw: RawMetadata
    unparsed: dict[str, list[str]]
    metadata: Metadata | None
    errors: tuple[tuple[str, str], ...]  # (field, message)


class FileContext:
    """One distribution and the parses every rule needs, each computed at most once."""

    def __init__(self, dist: Distribution) -> None:
        self.dist = dist

    # -- filename ------------------------------------------------------------------

    @cached_property
    def filename_is_utf8(self) -> bool:
        """False for a name with bytes that are not UTF-8 (they arrive as surrogates).

        Such a name cannot be sent to PyPI as it is, and any parse of it is meaningless,
        so only the filename-characters rule speaks about it.
        """
        try:
            self.dist.filename.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True

    @cached_property
    def filename_parseable(self) -> bool:
        """False when PyPI refuses the name's characters (not UTF-8, controls, separators).

        PyPI refuses such a name before parsing it, so every rule that parses the
        filename stays silent and the filename-characters rule is the one error.
        """
        name = self.dist.filename
        if not self.filename_is_utf8 or "/" in name or "\\" in name:
            return False
        return not any(ord(c) < 32 or ord(c) == 127 for c in name)

    @cached_property
    def wheel_parts(self) -> tuple[NormalizedName, Version, BuildTag, frozenset[Tag]] | None:
        if not self.dist.filename.endswith(".whl") or not self.filename_parseable:
            return None
        try:
            return parse_wheel_filename(self.dist.filename)
        except (InvalidWheelFilename, InvalidVersion):
            return None

    @cached_property
    def sdist_parts(self) -> tuple[NormalizedName, Version] | None:
        if not self.dist.filename.endswith((".tar.gz", ".zip")) or not self.filename_parseable:
            return None
        try:
            return parse_sdist_filename(self.dist.filename)
        except (InvalidSdistFilename, InvalidVersion):
            return None

    # -- metadata ------------------------------------------------------------------

    @cached_property
    def parsed(self) -> ParsedMetadata | None:
        if self.dist.metadata is None:
            return None
        return _parse_metadata(self.dist.metadata)


    @property
    def raw(self) -> RawMetadata | dict[str, object]:
        return self.parsed.raw if self.parsed else {}

    @cached_property
    def project_name(self) -> str | None:
        """The metadata Name, else the name from the filename."""
        name = self.raw.get("name")
        if isinstance(name, str) and name:
            return name
        if self.wheel_parts:
            return str(self.wheel_parts[0])
        if self.sdist_parts:
            return str(self.sdist_parts[0])
        return None

    @cached_property
    def version_string(self) -> str | None:
        version = self.raw.get("version")
        if isinstance(version, str) and version:
            return version
        if self.wheel_parts:
            return str(self.wheel_parts[1])
        if self.sdist_parts:
            return str(self.sdist_parts[1])
        return None

    @cached_property
    def version(self) -> Version | None:
        if self.version_string is None:
            return None
        try:
            return Version(self.version_string)
        except InvalidVersion:
            return None

    @cached_property
    def canonical_name(self) -> NormalizedName | None:
        return canonicalize_name(self.project_name) if self.project_name else None


@functools.lru_cache(maxsize=32)
def _parse_metadata(data: bytes) -> ParsedMetadata:
    """Parse and validate core metadata once per distinct content.

    The wheels of one release usually carry byte-identical METADATA, and parsing and
    validating it is the costliest part of checking a small file; rules only read the
    result, so files with the same bytes share one parse.
    """
    from packaging.metadata import ExceptionGroup, InvalidMetadata, Metadata

    from trustpub.dists import read_metadata

    raw, unparsed = read_metadata(data)  # UNKNOWN placeholders dropped, as PyPI does
    errors: list[tuple[str, str]] = []
    metadata: Metadata | None = None
    try:
        metadata = Metadata.from_raw(raw, validate=True)
    except ExceptionGroup as group:
        for exc in group.exceptions:
            if isinstance(exc, InvalidMetadata):
                errors.append((exc.field, str(exc)))
            else:  # pragma: no cover - packaging only raises InvalidMetadata here
                errors.append(("metadata", str(exc)))
    except (InvalidMetadata, ValueError, TypeError) as exc:
        errors.append((getattr(exc, "field", "metadata"), str(exc)))
    return ParsedMetadata(raw, unparsed, metadata, tuple(errors))
