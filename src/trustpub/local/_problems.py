"""RFC 9457 problem details and content negotiation for the local Upload 2.0 API.

PEP 694 asks every error (4xx, 5xx) of the Upload 2.0 API to be a problem-details
JSON object with the extension members ``meta`` and ``errors`` (each a ``source`` and
a ``message``), and every other answer to carry the versioned media type
``application/vnd.pypi.upload.v2+json``.  Clients read these shapes, so the local
index builds them in one place.  The PEP spells the human explanation ``details``
(RFC 9457 says ``detail``); the index writes the PEP's key, as a PEP 694 client reads.

Usage::

    raise Problem(409, "File already staged", "demo-1.0.tar.gz is still uploading",
                  errors=[("demo-1.0.tar.gz", "status is pending")])
    ...
    except Problem as problem:
        return problem.response()
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from trustpub.local._http import Response

__all__ = [
    "API_VERSION",
    "MEDIA_TYPE",
    "OFFERS",
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "document",
]

#: The only API version the local index speaks (PEP 694).
API_VERSION = "2.0"
#: Request and response media type of every non-upload-mechanism request.
MEDIA_TYPE = "application/vnd.pypi.upload.v2+json"
#: What error bodies are sent as.
PROBLEM_MEDIA_TYPE = "application/problem+json"
#: What the server can answer with, best first (server-driven negotiation).
OFFERS = (MEDIA_TYPE, "application/vnd.pypi.upload.latest+json", "application/json")

_ERROR_TYPES = "https://docs.pypi.org/api/errors/error-types#"


class Problem(Exception):
    """An Upload 2.0 error answer: status, title, details and the specific errors.

    ``errors`` are ``(source, message)`` pairs; ``source`` names what the error is
    about (a filename, a JSON key).  ``headers`` are added to the answer (``Location``
    on a 409 for an existing session, ``WWW-Authenticate`` on a 401).
    """

    def __init__(
        self,
        status: int,
        title: str,
        details: str,
        *,
        errors: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {details}")
        self.status = status
        self.title = title
        self.details = details
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        self.kind = kind or _slug(title)

    def body(self) -> dict[str, Any]:
        """The problem-details JSON object."""
        return {
            "type": _ERROR_TYPES + self.kind,
            "status": self.status,
            "title": self.title,
            "details": self.details,
            "meta": {"api-version": API_VERSION},
            "errors": [{"source": source, "message": message} for source, message in self.errors],
        }

    def response(self) -> Response:
        return Response(
            self.status,
            json.dumps(self.body()).encode(),
            PROBLEM_MEDIA_TYPE,
            dict(self.headers),
        )


def document(data: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A successful Upload 2.0 answer: ``data`` with ``meta.api-version`` first."""
    body = {"meta": {"api-version": API_VERSION}, **data}
    return Response(status, json.dumps(body).encode(), MEDIA_TYPE, dict(headers or {}))


def _slug(title: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())
