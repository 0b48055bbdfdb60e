"""Streamed, bounded parsing of upload request bodies (``multipart/form-data``).

The legacy upload API sends the distribution as one part of a ``multipart/form-data``
body, next to dozens of small text fields.  A file can be hundreds of megabytes, so
the parser never holds it in memory: file parts are written to a spool folder while
their sha256, blake2b-256 and md5 digests are computed, and only the text fields are
kept in memory, up to a fixed total.  Like Warehouse (WebOb), the whole body is read
before any validation runs, and a file part keeps counting past the size limit
without storing the excess, so the size error can be reported in PyPI's order.

Usage::

    from trustpub.local._forms import parse_form

    form = parse_form(stream, content_type, spool_dir, max_file_bytes=100 * 2**20)
    form.getall("classifiers")      # every value, in order
    content = form.file("content")  # a FilePart: filename, path, size, sha256, ...

A part with a ``filename`` parameter (even an empty one) is a file part, as in
Python's ``cgi.FieldStorage`` that Warehouse relies on; every other part is text.
``application/x-www-form-urlencoded`` bodies are accepted too (they cannot carry a
file, which the upload validation then reports).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl

__all__ = [
    "DEFAULT_MAX_TEXT_BYTES",
    "FilePart",
    "Form",
    "FormError",
    "FormTooLarge",
    "Readable",
    "parse_form",
]

_logger = logging.getLogger(__name__)

#: Total size of all text fields of one request; descriptions are the big ones.
DEFAULT_MAX_TEXT_BYTES = 32 * 1024 * 1024

_CHUNK = 64 * 1024
_MAX_HEADER_BLOCK = 16 * 1024
_MAX_PARTS = 10_000


class Readable(Protocol):
    """Anything with ``read(n)`` returning ``b""`` at the end (a file, a request body)."""

    def read(self, size: int = -1, /) -> bytes: ...


class FormError(ValueError):
    """The request body is not a well-formed form (the client's fault: 400)."""


class FormTooLarge(FormError):
    """The text fields exceed the server's bound (413)."""


@dataclass(frozen=True)
class FilePart:
    """A file part, spooled to disk.

    ``size`` counts every byte received.  When it exceeds the parser's
    ``max_file_bytes`` only the first ``max_file_bytes`` are kept in ``path`` and
    ``truncated`` is true; the digests then cover nothing useful and must not be used.
    """

    name: str
    filename: str
    content_type: str
    path: Path
    size: int
    truncated: bool
    sha256: str
    blake2_256: str
    md5: str


FormValue = str | FilePart


class Form:
    """The fields of one request body, in order, with repeated keys kept.

    Mirrors the small part of WebOb's ``MultiDict`` the upload view uses.
    """

    def __init__(self, items: list[tuple[str, FormValue]] | None = None) -> None:
        self._items: list[tuple[str, FormValue]] = list(items or [])

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def keys(self) -> list[str]:
        """Distinct field names, in first-seen order."""
        return list(dict.fromkeys(key for key, _ in self._items))

    def items(self) -> list[tuple[str, FormValue]]:
        """Every (name, value) pair, in order."""
        return list(self._items)

    def getall(self, name: str) -> list[FormValue]:
        """Every value sent under ``name``, in order."""
        return [value for key, value in self._items if key == name]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first *text* value of ``name``, or ``default``."""
        for key, value in self._items:
            if key == name and isinstance(value, str):
                return value
        return default

    def last(self, name: str, default: str | None = None) -> str | None:
        """The last value of ``name`` if it is text (WebOb's ``MultiDict[name]``)."""
        for key, value in reversed(self._items):
            if key == name:
                return value if isinstance(value, str) else default
        return default

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` by one ``value`` (WebOb's ``__setitem__``)."""
        self.remove(name)
        self._items.append((name, value))

    def file(self, name: str) -> FilePart | None:
        """The first *file* value of ``name``, if any."""
        for key, value in self._items:
            if key == name and isinstance(value, FilePart):
                return value
        return None

    def remove(self, name: str) -> None:
        """Drop every value of ``name``."""
        self._items = [(key, value) for key, value in self._items if key != name]

    def files(self) -> list[FilePart]:
        """Every file part, in order."""
        return [value for _, value in self._items if isinstance(value, FilePart)]


def parse_form(
    stream: Readable,
    content_type: str | None,
    spool_dir: Path,
    *,
    max_file_bytes: int,
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
) -> Form:
    """Read a whole request body from ``stream`` and return its fields.

    ``stream.read(n)`` must return ``b""`` at the end of the body (the caller limits
    it to ``Content-Length`` or decodes chunking).  Raises :class:`FormError` for a
    malformed body and :class:`FormTooLarge` when the text fields exceed
    ``max_text_bytes``; the rest of the body is then left unread.
    """
    mime, params = _split_content_type(content_type or "")
    if mime == "multipart/form-data":
        boundary = params.get("boundary")
        if not boundary:
            raise FormError("multipart body without a boundary")
        return _MultipartParser(
            stream, boundary.encode("latin-1"), spool_dir, max_file_bytes, max_text_bytes
        ).parse()
    if mime in ("application/x-www-form-urlencoded", ""):
        data = stream.read(max_text_bytes + 1)
        if len(data) > max_text_bytes:
            raise FormTooLarge("form fields exceed the size limit")
        text = data.decode("utf-8", errors="replace")
        return Form([(k, v) for k, v in parse_qsl(text, keep_blank_values=True)])
    raise FormError(f"unsupported form content type {mime!r}")


def _split_content_type(value: str) -> tuple[str, dict[str, str]]:
    message = Message()
    message["content-type"] = value or "application/octet-stream"
    params = {k.lower(): str(v) for k, v in message.get_params(failobj=[])[1:]}
    mime = value.split(";", 1)[0].strip().lower()
    return mime, params


class _Spool:
    """Writes one file part to disk, hashing as it goes, up to a byte limit."""

    def __init__(self, spool_dir: Path, limit: int) -> None:
        fd, name = tempfile.mkstemp(prefix="part-", dir=spool_dir)
        self.path = Path(name)
        self._fp = os.fdopen(fd, "wb")
        self._limit = limit
        self.size = 0
        self.truncated = False
        self._sha256 = hashlib.sha256()
        self._blake2 = hashlib.blake2b(digest_size=32)
        self._md5 = hashlib.md5(usedforsecurity=False)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        room = self._limit - self.size
        self.size += len(data)
        if room <= 0:
            self.truncated = True
            return
        kept = data if len(data) <= room else memoryview(data)[:room]
        if len(kept) < len(data):
            self.truncated = True
        self._fp.write(kept)
        self._sha256.update(kept)
        self._blake2.update(kept)
        self._md5.update(kept)

    def close(self, name: str, filename: str, content_type: str) -> FilePart:
        self._fp.close()
        return FilePart(
            name=name,
            filename=filename,
            content_type=content_type,
            path=self.path,
            size=self.size,
            truncated=self.truncated,
            sha256=self._sha256.hexdigest(),
            blake2_256=self._blake2.hexdigest(),
            md5=self._md5.hexdigest(),
        )

    def discard(self) -> None:
        self._fp.close()
        self.path.unlink(missing_ok=True)


class _MultipartParser:
    def __init__(
        self,
        stream: Readable,
        boundary: bytes,
        spool_dir: Path,
        max_file_bytes: int,
        max_text_bytes: int,
    ) -> None:
        self._stream = stream
        self._buf = bytearray()
        self._eof = False
        self._delimiter = b"--" + boundary
        self._spool_dir = spool_dir
        self._max_file_bytes = max_file_bytes
        self._text_budget = max_text_bytes
        self._spools: list[_Spool] = []

    def parse(self) -> Form:
        try:
            return self._parse()
        except BaseException:
            for spool in self._spools:
                spool.discard()
            raise

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._stream.read(_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def _read_until(self, pattern: bytes, sink: Callable[[bytes], None]) -> bool:
        """Feed ``sink`` everything before ``pattern`` and consume the pattern.

        Returns False when the body ends first (everything read went to ``sink``).
        Memory stays bounded: at most one chunk plus ``len(pattern)`` bytes are held.
        """
        keep = len(pattern) - 1
        while True:
            index = self._buf.find(pattern)
            if index >= 0:
                sink(bytes(self._buf[:index]))
                del self._buf[: index + len(pattern)]
                return True
            if len(self._buf) > keep:
                cut = len(self._buf) - keep
                sink(bytes(self._buf[:cut]))
                del self._buf[:cut]
            if not self._fill():
                sink(bytes(self._buf))
                self._buf.clear()
                return False

    def _need(self, count: int) -> bool:
        while len(self._buf) < count:
            if not self._fill():
                return False
        return True

    def _parse(self) -> Form:
        items: list[tuple[str, FormValue]] = []
        if not self._read_until(self._delimiter, lambda _data: None):
            raise FormError("multipart body has no opening boundary")
        while True:
            if not self._need(2):
                raise FormError("multipart body ends after a boundary")
            if self._buf.startswith(b"--"):
                break  # closing delimiter; the epilogue is ignored
            headers = self._read_headers()
            name, filename, content_type = self._describe(headers)
            if len(items) >= _MAX_PARTS:
                raise FormTooLarge("too many form parts")
            if filename is None:
                items.append((name, self._read_text()))
            else:
                items.append((name, self._read_file(name, filename, content_type)))
        _logger.debug("parsed multipart body with %d parts", len(items))
        return Form(items)

    def _read_headers(self) -> list[tuple[str, str]]:
        block = bytearray()

        def collect(data: bytes) -> None:
            block.extend(data)
            if len(block) > _MAX_HEADER_BLOCK:
                raise FormTooLarge("multipart part headers too large")

        # The block starts with the CRLF ending the boundary line, so an empty
        # header block is found as the pattern at offset 0.
        if not self._read_until(b"\r\n\r\n", collect):
            raise FormError("multipart part headers are not terminated")
        text = bytes(block).decode("utf-8", errors="replace")
        lines = text.split("\r\n")
        if lines and lines[0].strip() == "":
            lines = lines[1:]
        elif lines:
            # Transport padding after the boundary ("--b   \r\n") is allowed.
            lines[0] = lines[0].lstrip(" \t")
            if lines[0]:
                raise FormError("malformed multipart boundary line")
            lines = lines[1:]
        headers: list[tuple[str, str]] = []
        for line in lines:
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            if not sep:
                raise FormError(f"malformed multipart header line {line[:60]!r}")
            headers.append((key.strip().lower(), value.strip()))
        return headers

    @staticmethod
    def _describe(headers: list[tuple[str, str]]) -> tuple[str, str | None, str]:
        disposition = next((v for k, v in headers if k == "content-disposition"), None)
        if disposition is None:
            raise FormError("multipart part without Content-Disposition")
        message = Message()
        message["content-disposition"] = disposition
        name = message.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise FormError("multipart part without a field name")
        filename: str | None = None
        if any(
            key.lower() in ("filename", "filename*")
            for key, _ in message.get_params(header="content-disposition", failobj=[])
        ):
            filename = message.get_filename("") or ""
        # A part without the header is text/plain, as Warehouse's parser (webob over
        # ``cgi``) reads it; uv sends its file part that way and PyPI accepts it.
        content_type = next((v for k, v in headers if k == "content-type"), "text/plain")
        return name, filename, content_type

    def _read_text(self) -> str:
        data = bytearray()

        def collect(chunk: bytes) -> None:
            data.extend(chunk)
            if len(data) > self._text_budget:
                raise FormTooLarge("form fields exceed the size limit")

        if not self._read_until(b"\r\n" + self._delimiter, collect):
            raise FormError("multipart body ends inside a field")
        self._text_budget -= len(data)
        return bytes(data).decode("utf-8", errors="replace")

    def _read_file(self, name: str, filename: str, content_type: str) -> FilePart:
        spool = _Spool(self._spool_dir, self._max_file_bytes)
        self._spools.append(spool)
        if not self._read_until(b"\r\n" + self._delimiter, spool.write):
            raise FormError("multipart body ends inside a file")
        part = spool.close(name, filename, content_type)
        _logger.debug("spooled file part %r (%d bytes)", filename, part.size)
        return part
