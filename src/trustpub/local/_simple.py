"""The read side of the local index: PEP 691/503 simple pages and the integrity API.

Shapes follow ``warehouse-contract.md`` §4: the simple project page is HTML by
default and PEP 691 JSON (``api-version`` 1.4) when asked for it, each file entry
carrying its sha256, size, upload time, PEP 658 metadata hash and the PEP 740
provenance URL; the provenance endpoint negotiates
``application/vnd.pypi.integrity.v1+json`` / ``application/json``.

pip sends ``Accept: application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;
q=0.1, text/html; q=0.01`` and so reads the JSON variant; browsers and older tools
get HTML.

Usage::

    page = simple_page(project_name, files, base_url, accept=request.header("Accept"))
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from trustpub.local._http import Response
from trustpub.local._responses import acceptable_offers
from trustpub.local._storage import FileRecord

__all__ = [
    "INTEGRITY_TYPES",
    "SIMPLE_TYPES",
    "file_url",
    "provenance_url",
    "simple_index",
    "simple_page",
]

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
SIMPLE_LATEST_JSON = "application/vnd.pypi.simple.latest+json"
SIMPLE_LATEST_HTML = "application/vnd.pypi.simple.latest+html"
#: Offers of the simple API, in Warehouse's order (HTML first: it is the default).
SIMPLE_TYPES = ("text/html", SIMPLE_HTML, SIMPLE_LATEST_HTML, SIMPLE_JSON, SIMPLE_LATEST_JSON)
#: Offers of the integrity API (the v1 type first: it is the default).
INTEGRITY_TYPES = ("application/vnd.pypi.integrity.v1+json", "application/json")

API_VERSION = "1.4"


def file_url(base_url: str, record: FileRecord) -> str:
    """Download URL of a stored file."""
    return f"{base_url}/files/{record.path}"


def provenance_url(base_url: str, record: FileRecord) -> str:
    """Integrity API URL of a file's provenance (built from the normalized name)."""
    return f"{base_url}/integrity/{record.project}/{record.version}/{record.filename}/provenance"


def _negotiate_simple(accept: str | None) -> str:
    # Nothing acceptable falls back to HTML, as on PyPI (never a 406 here).
    offers = acceptable_offers(accept, SIMPLE_TYPES)
    return offers[0] if offers else "text/html"


def _iso(timestamp: float) -> str:
    micros = round((timestamp % 1) * 1_000_000) % 1_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + f".{micros:06d}Z"


def _sort_key(record: FileRecord) -> tuple[Version | str, str]:
    try:
        return Version(record.version), record.filename
    except InvalidVersion:  # pragma: no cover - versions were validated on upload
        return Version("0"), record.filename


def simple_page(
    name: str, files: Sequence[FileRecord], base_url: str, *, accept: str | None
) -> Response:
    """The ``/simple/<project>/`` page for ``files`` in the negotiated format."""
    content_type = _negotiate_simple(accept)
    ordered = sorted(files, key=_sort_key)
    headers = {"Vary": "Accept", "X-PyPI-Last-Serial": str(len(ordered))}
    if content_type.endswith("+json"):
        versions = sorted({f.version for f in ordered}, key=Version)
        document = {
            "meta": {"api-version": API_VERSION, "_last-serial": len(ordered)},
            "name": canonicalize_name(name),
            "project-status": {"status": "active"},
            "versions": versions,
            "alternate-locations": [],
            "files": [_json_file(base_url, record) for record in ordered],
        }
        body = json.dumps(document).encode()
        return Response(200, body, content_type, headers)
    links = "\n".join(_html_link(base_url, record) for record in ordered)
    page = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        '    <meta name="pypi:project-status" content="active">\n'
        f"    <title>Links for {html.escape(name)}</title>\n  </head>\n  <body>\n"
        f"    <h1>Links for {html.escape(name)}</h1>\n{links}\n  </body>\n</html>\n"
    )
    html_type = "text/html; charset=utf-8" if content_type == "text/html" else content_type
    return Response(200, page.encode(), html_type, headers)


def _json_file(base_url: str, record: FileRecord) -> dict[str, object]:
    metadata: dict[str, str] | bool = (
        {"sha256": record.metadata_sha256} if record.metadata_sha256 else False
    )
    return {
        "filename": record.filename,
        "url": file_url(base_url, record),
        "hashes": {"sha256": record.sha256},
        "requires-python": record.requires_python,
        "size": record.size,
        "upload-time": _iso(record.upload_time),
        "yanked": False,
        "data-dist-info-metadata": metadata,
        "core-metadata": metadata,
        "provenance": provenance_url(base_url, record) if record.has_provenance else None,
    }


def _html_link(base_url: str, record: FileRecord) -> str:
    attributes = [f'href="{html.escape(file_url(base_url, record))}#sha256={record.sha256}"']
    if record.requires_python:
        attributes.append(f'data-requires-python="{html.escape(record.requires_python)}"')
    if record.metadata_sha256:
        value = f"sha256={record.metadata_sha256}"
        attributes.append(f'data-dist-info-metadata="{value}"')
        attributes.append(f'data-core-metadata="{value}"')
    if record.has_provenance:
        attributes.append(f'data-provenance="{html.escape(provenance_url(base_url, record))}"')
    return f"    <a {' '.join(attributes)}>{html.escape(record.filename)}</a><br />"


def simple_index(names: Sequence[str], *, accept: str | None) -> Response:
    """The ``/simple/`` root: every project."""
    content_type = _negotiate_simple(accept)
    ordered = sorted(names, key=canonicalize_name)
    if content_type.endswith("+json"):
        document = {
            "meta": {"api-version": API_VERSION, "_last-serial": len(ordered)},
            "projects": [{"name": name, "_last-serial": 0} for name in ordered],
        }
        return Response(200, json.dumps(document).encode(), content_type, {"Vary": "Accept"})
    links = "\n".join(
        f'    <a href="/simple/{canonicalize_name(name)}/">{html.escape(name)}</a><br />'
        for name in ordered
    )
    page = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        "    <title>Simple index</title>\n  </head>\n  <body>\n"
        f"{links}\n  </body>\n</html>\n"
    )
    html_type = "text/html; charset=utf-8" if content_type == "text/html" else content_type
    return Response(200, page.encode(), html_type, {"Vary": "Accept"})
