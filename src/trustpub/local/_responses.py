"""How Warehouse delivers errors, and HTTP content negotiation.

PyPI's upload API reports an error twice: in the reason phrase of the status line
(``400 File already exists ...``) and in a body that Pyramid renders from the
``Accept`` header: plain text when there is none, an HTML page for ``*/*`` or
``text/html``, and ``{"message", "code", "title"}`` JSON for ``application/json``
(``warehouse-contract.md`` §2.6).  Clients built against PyPI parse exactly these
shapes, so the local index reproduces them byte for byte.

Usage::

    from trustpub.local._responses import UploadError, render_error

    try:
        ...
    except UploadError as exc:
        response = render_error(exc.status, exc.message, request.header("Accept"))
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trustpub.local._http import Response

__all__ = [
    "UploadError",
    "acceptable_offers",
    "best_offer",
    "render_error",
    "status_line_reason",
]

# Pyramid 2.1's titles and explanations for the statuses the upload path uses.
_TITLES: dict[int, tuple[str, str]] = {
    200: ("OK", ""),
    308: ("Permanent Redirect", "The resource has been moved to"),
    400: (
        "Bad Request",
        "The server could not comply with the request since it is either malformed "
        "or otherwise incorrect.",
    ),
    403: ("Forbidden", "Access was denied to this resource."),
    404: ("Not Found", "The resource could not be found."),
    409: ("Conflict", "There was a conflict when trying to complete your request."),
    410: ("Gone", "This resource is no longer available.  No forwarding address is given."),
    413: ("Request Entity Too Large", "The body of your request was too large for this server."),
    429: (
        "Too Many Requests",
        "The action could not be performed because there were too many requests by the client.",
    ),
    500: (
        "Internal Server Error",
        "The server has either erred or is incapable of performing the requested operation.",
    ),
    503: (
        "Service Unavailable",
        "The server is currently unavailable. Please try again at a later time.",
    ),
}


@dataclass
class UploadError(Exception):
    """An upload rejection: HTTP ``status`` plus the message PyPI would send."""

    status: int
    message: str

    def __str__(self) -> str:
        return f"{self.status} {self.message}"


def status_line_reason(message: str) -> str:
    """``message`` made safe for a status line, as Warehouse does (non-Latin-1 -> ``?``).

    Line breaks (pydantic errors contain them) would end the status line early, so
    they become spaces; the full text stays in the body.
    """
    safe = message.encode("iso-8859-1", "replace").decode("iso-8859-1")
    return safe.replace("\r", " ").replace("\n", " ")


def _parse_accept(header: str) -> list[tuple[str, str, float]] | None:
    """Parse an Accept header into (type, subtype, q); None when it is invalid."""
    ranges: list[tuple[str, str, float]] = []
    for item in header.split(","):
        item = item.strip()
        if not item:
            continue
        mime, *params = (part.strip() for part in item.split(";"))
        if mime.count("/") != 1:
            return None
        main, sub = (p.strip().lower() for p in mime.split("/"))
        if not main or not sub or (main == "*" and sub != "*"):
            return None
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    return None
                if not 0.0 <= q <= 1.0:
                    return None
        ranges.append((main, sub, q))
    return ranges


def acceptable_offers(header: str | None, offers: Sequence[str]) -> list[str]:
    """The ``offers`` the Accept ``header`` allows, best first (WebOb's semantics).

    No header accepts everything; an empty header accepts nothing; an invalid header
    accepts everything.  Each offer takes the q of the most specific matching range,
    ties keep the order of ``offers``.
    """
    if header is None:
        return list(offers)
    ranges = _parse_accept(header)
    if ranges is None:
        return list(offers)
    scored: list[tuple[float, int, str]] = []
    for index, offer in enumerate(offers):
        main, _, sub = offer.lower().partition("/")
        best: tuple[int, float] | None = None
        for r_main, r_sub, q in ranges:
            if r_main == main and r_sub == sub:
                specificity = 3
            elif r_main == main and r_sub == "*":
                specificity = 2
            elif r_main == "*":
                specificity = 1
            else:
                continue
            if best is None or specificity > best[0]:
                best = (specificity, q)
        if best is not None and best[1] > 0:
            scored.append((-best[1], index, offer))
    return [offer for _, _, offer in sorted(scored)]


def best_offer(header: str | None, offers: Sequence[str]) -> str | None:
    """The best acceptable offer, or None."""
    found = acceptable_offers(header, offers)
    return found[0] if found else None


def render_error(
    status: int,
    message: str,
    accept: str | None,
    *,
    headers: dict[str, str] | None = None,
    location: str | None = None,
) -> Response:
    """Pyramid's rendering of ``HTTPException(detail=message)`` with a custom status line.

    The reason phrase carries ``message`` (the legacy API's error channel); the body
    follows the Accept header like Pyramid's default exception view.
    """
    title, explanation = _TITLES.get(status, ("Error", ""))
    reason = status_line_reason(message) if message else title
    status_text = f"{status} {reason}"
    kind = best_offer(accept or "", ["text/html", "application/json"]) or "text/plain"
    if location is not None:
        plain_body = (
            f"{explanation} {location}; you should be redirected automatically.\n{message}\n"
        )
        html_body = (
            f"{html.escape(explanation)} {html.escape(location)}; "
            f"you should be redirected automatically.\n{_html_detail(message)}\n"
        )
    else:
        plain_body = f"{explanation}\n\n\n{message}\n\n"
        html_body = f"{html.escape(explanation)}<br/><br/>\n{_html_detail(message)}\n\n"
    if kind == "application/json":
        body = json.dumps({"message": plain_body, "code": status_text, "title": title})
        content_type = "application/json"
    elif kind == "text/html":
        body = (
            f"<html>\n <head>\n  <title>{status_text}</title>\n </head>\n <body>\n"
            f"  <h1>{status_text}</h1>\n  {html_body}\n </body>\n</html>"
        )
        content_type = "text/html; charset=UTF-8"
    else:
        body = f"{status_text}\n\n{plain_body}"
        content_type = "text/plain; charset=UTF-8"
    all_headers = dict(headers or {})
    if location is not None:
        all_headers["Location"] = location
    return Response(status, body.encode("utf-8"), content_type, all_headers, reason=reason)


def _html_detail(message: str) -> str:
    # Pyramid escapes the detail and writes non-ASCII as numeric character references.
    escaped = html.escape(message, quote=True)
    return escaped.encode("ascii", "xmlcharrefreplace").decode("ascii")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer as Pyramid's renderer writes it (``json.dumps``, default separators)."""
    return Response(status, json.dumps(data).encode(), "application/json", dict(headers or {}))


def not_found() -> Response:
    """Warehouse's plain 404."""
    return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
