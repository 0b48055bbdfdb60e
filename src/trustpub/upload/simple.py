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
from trustpub.transport import Transport

__all__ = ["ExistingFiles", "SimpleIndex", "parse_simple_html", "parse_simple_json"]

_logger = logging.getLogger(__name__)

_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


class ExistingFiles(Protocol):
    def files(self, project: str, *, refresh: bool = False) -> dict[str, str]:
        """{filename: sha256} for the project; empty when the project does not exist."""
        ...


def parse_simple_json(data: bytes) -> dict[str, str]:
    doc = json.loads(data)
    result: dict[str, str] = {}
    for entry in doc.get("files", []):
        name = entry.get("filename")
        sha = (entry.get("hashes") or {}).get("sha256")
        if isinstance(name, str) and isinstance(sha, str):
            result[name] = sha.lower()
    return result


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
            found = parse_simple_json(response.data) if "json" in ctype else parse_simple_html(response.data)
        else:
            raise TrustpubError(
                f"could not list the files of {project!r} at {url}: HTTP {response.status} {response.reason}",
                hint="trustpub asks the index's simple API which files exist before uploading",
            )
        _logger.debug("%s: %d file(s) on the index", key, len(found))
        with self._lock:
            self._cache[key] = found
        return found
