"""The read side of the local index: the simple API, file downloads and the integrity API.

What pip and a verifying client read back after an upload: PEP 691 pages, the files
and their ``.metadata``, and PEP 740 provenance with PyPI's caching headers.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from packaging.utils import canonicalize_name, canonicalize_version

from trustpub.local._http import LocalServer, Request, Response
from trustpub.local._index_state import IndexState
from trustpub.local._responses import (
    best_offer,
    json_response,
    not_found,
)
from trustpub.local._simple import INTEGRITY_TYPES, simple_index, simple_page

if TYPE_CHECKING:
    pass

_logger = logging.getLogger(__name__)


_SIMPLE_PROJECT = re.compile(r"/simple/(?P<name>[^/]+)(?P<slash>/?)")
_INTEGRITY = re.compile(
    r"/integrity/(?P<project>[^/]+)/(?P<version>[^/]+)/(?P<filename>[^/]+)/provenance"
)
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": (
        "Content-Type, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since"
    ),
    "Access-Control-Allow-Methods": "GET",
    "Access-Control-Max-Age": "86400",
    "Access-Control-Expose-Headers": "X-PyPI-Last-Serial",
}


class ReadAPI(IndexState):
    """The read-only endpoints of :class:`~trustpub.local.index.LocalIndex`."""

    def _register_read_side(self, server: LocalServer) -> None:
        server.route("GET", "/simple/", self._simple_index)
        server.route("GET", _SIMPLE_PROJECT, self._simple_project)
        server.route("GET", "/files/", self._download, prefix=True)
        server.route("GET", _INTEGRITY, self._provenance)

    def _simple_index(self, request: Request) -> Response:
        with self._lock:
            names = [p.name for p in self._store.projects.values() if p.releases]
        return simple_index(names, accept=request.header("Accept"))

    def _simple_project(self, request: Request) -> Response:
        assert request.match is not None
        name = unquote(request.match.group("name"))
        normalized = canonicalize_name(name)
        if name != normalized or not request.match.group("slash"):
            return Response(
                301, b"", "text/plain", {"Location": f"{self.url}/simple/{normalized}/"}
            )
        with self._lock:
            project = self._store.project(name)
            if project is None:
                return not_found()
            files = self._store.project_files(project)
            display = project.name
        return simple_page(display, files, self.url, accept=request.header("Accept"))

    def _download(self, request: Request) -> Response:
        relative = unquote(request.path[len("/files/") :])
        path = self._store.resolve(relative)
        if path is None:
            return not_found()
        content_type = "application/octet-stream"
        if path.name.endswith(".provenance"):
            return not_found()  # provenance is served by the integrity API only
        if path.name.endswith(".metadata"):
            content_type = "text/plain; charset=utf-8"
        return Response(200, b"", content_type, file=path.open("rb"))

    def _provenance(self, request: Request) -> Response:
        assert request.match is not None
        project_name = unquote(request.match.group("project"))
        version = unquote(request.match.group("version"))
        filename = unquote(request.match.group("filename"))
        with self._lock:
            project = self._store.project(project_name)
            if project is None:
                return not_found()
            release = project.releases.get(canonicalize_version(version)) or next(
                (r for r in project.releases.values() if r.version == version), None
            )
            if release is None or filename not in release.files:
                return not_found()
            record = self._store.files[filename]
            path = self._store.path_of(record)
        headers = {"Vary": "Accept", "Cache-Control": "max-age=600, public"}
        content_type = best_offer(request.header("Accept"), INTEGRITY_TYPES)
        if content_type is None:
            return json_response({"message": "Request not acceptable"}, 406, headers)
        if self.disallow_pep740:
            return json_response({"message": "Attestations temporarily disabled"}, 403, headers)
        if not record.has_provenance:
            return json_response(
                {"message": f"No provenance available for {filename}"}, 404, headers
            )
        body = Path(f"{path}.provenance").read_bytes()
        headers.update(_CORS_HEADERS)
        headers["Surrogate-Control"] = (
            "max-age=86400, stale-while-revalidate=300, stale-if-error=86400"
        )
        return Response(200, body, content_type, headers)
