"""Which files of a project an index holds, and with which sha256 (PEP 691, PEP 503).

Asked before a release (to skip identical files and stop on conflicting ones) and
after a failed upload (it may have landed). PEP 691 JSON is preferred; indexes that
only speak HTML (PEP 503) give the digest in each link's ``#sha256=`` fragment.
"""

from __future__ import annotations

import json
import logging
import threading
from html.parser import HTMLParser
from typing import Protocol
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from trustpub.errors import TrustpubError
from trustpub.secrets import Secret
from trustpub.transport import Transport, safe_url

__all__ = ["ExistingFiles", "MalformedIndexResponse", "SimpleIndex", "parse_simple_html", "parse_simple_json"]

_logger = logging.getLogger(__name__)

_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


class ExistingFiles(Protocol):
    def files(self, project: str, *, refresh: bool = False) -> dict[str, str]:
        """{filename: sha256} for the project; empty when the project does not exist."""
        ...


class MalformedIndexResponse(TrustpubError):
    """The index answered the simple API with something that is not a PEP 691 project page.

    Raised instead of guessing: a release planned from a misread answer could upload a
    file the index already holds, or miss a conflicting one.
    """


def parse_simple_json(data: bytes, *, source: str = "the index") -> dict[str, str]:
    """``{filename: lowercase sha256}`` from a PEP 691 JSON project page.

    The shape is checked, not assumed: the document must be an object whose ``files``
    is a list of objects, each with a string ``filename``; anything else raises
    :class:`MalformedIndexResponse` naming ``source``. An entry without a sha256 is
    left out, as before: only a digest lets the plan compare bytes.
    """
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _malformed(source, f"not JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise _malformed(source, f"expected a JSON object, got {_kind(doc)}")
    files = doc.get("files", [])
    if not isinstance(files, list):
        raise _malformed(source, f"'files' is {_kind(files)}, not a list")
    result: dict[str, str] = {}
    for position, entry in enumerate(files):
        if not isinstance(entry, dict):
            raise _malformed(source, f"files[{position}] is {_kind(entry)}, not an object")
        name = entry.get("filename")
        if not isinstance(name, str) or not name:
            raise _malformed(source, f"files[{position}] has no string 'filename'")
        hashes = entry.get("hashes", {})
        if hashes is None:
            hashes = {}
        if not isinstance(hashes, dict):
            raise _malformed(source, f"files[{position}] ({name!r}): 'hashes' is {_kind(hashes)}, not an object")
        sha = hashes.get("sha256")
        if sha is not None and not isinstance(sha, str):
            raise _malformed(source, f"files[{position}] ({name!r}): 'hashes.sha256' is {_kind(sha)}, not a string")
        if sha:
            result[name] = sha.lower()
    return result


def _kind(value: object) -> str:
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")


def _malformed(source: str, detail: str) -> MalformedIndexResponse:
    return MalformedIndexResponse(
        f"the simple API answer from {source} is not a valid PEP 691 project page: {detail}",
        hint="check that --simple-url names the index's simple API root (PEP 691); trustpub does not guess from a malformed answer",
    )


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        href = dict(attrs).get("href") or ""
        parts = urlsplit(href)
        name = unquote(parts.path.rsplit("/", 1)[-1])
        if parts.fragment.startswith("sha256="):
            self.files[name] = parts.fragment[len("sha256="):].lower()
        elif name:
            self.files.setdefault(name, "")


def parse_simple_html(data: bytes) -> dict[str, str]:
    parser = _Links()
    parser.feed(data.decode("utf-8", "replace"))
    return parser.files


class SimpleIndex:
    """Reads a project's file list from ``{simple_root}/{project}/``, caching one answer per project."""

    def __init__(self, transport: Transport, simple_root: str, *, authorization: Secret | None = None) -> None:
        self.transport = transport
        self.simple_root = simple_root.rstrip("/") + "/"
        self.authorization = authorization
        self._cache: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def files(self, project: str, *, refresh: bool = False) -> dict[str, str]:
        key = canonicalize_name(project)
        with self._lock:
            if not refresh and key in self._cache:
                return self._cache[key]
        url = f"{self.simple_root}{key}/"
        response = self.transport.request("GET", url, headers={"Accept": _ACCEPT}, authorization=self.authorization)
        if response.status == 404:
            found: dict[str, str] = {}
        elif response.ok:
            ctype = (response.header("Content-Type") or "").lower()
            found = parse_simple_json(response.data, source=safe_url(url)) if "json" in ctype else parse_simple_html(response.data)
        else:
            raise TrustpubError(
                f"could not list the files of {project!r} at {url}: HTTP {response.status} {response.reason}",
                hint="trustpub asks the index's simple API which files exist before uploading",
            )
        _logger.debug("%s: %d file(s) on the index", key, len(found))
        with self._lock:
            self._cache[key] = found
        return found
