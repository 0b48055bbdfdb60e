"""The Upload 2.0 stage preview of the local index: a simple index of staged files.

The stage URL is a capability (its token is the only credential), so pip can install
a staged release before it is published.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import unquote

from packaging.utils import (
    canonicalize_name,
)

from trustpub.local import _staging
from trustpub.local._http import Request, Response
from trustpub.local._simple import simple_index, simple_page
from trustpub.local._storage import FileRecord
from trustpub.local._upload2_core import Upload2Core
from trustpub.local._upload2_model import (
    PublishingSession,
)

if TYPE_CHECKING:
    pass

_logger = logging.getLogger(__name__)


class StagePreview(Upload2Core):
    """``GET /2.0/stage/<token>/simple/...`` and the staged files behind it."""

    def _stage(self, request: Request, token: str, parts: list[str]) -> Response:
        with self._index._lock:
            sid = self._by_token.get(token)
            session = self._sessions.get(sid) if sid else None
            if session is not None:
                self._expire(session)
            if session is None or session.status in ("published", "canceled"):
                return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
            base = f"{self.url}stage/{token}"
            if parts[0] == "files":
                return self._stage_file(session, "/".join(parts[1:]))
            if parts[0] != "simple":
                return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
            records = self._stage_records(session)
            accept = request.header("Accept")
            if parts[1:] in ([], [""]):
                names = {p.name for p in self._index._store.projects.values() if p.releases}
                if records:
                    names.add(self._display_name(session))
                return simple_index(sorted(names), accept=accept)
            name = unquote(parts[1])
            if canonicalize_name(name) != name or len(parts) < 3:
                return Response(
                    301,
                    b"",
                    "text/plain",
                    {"Location": f"{base}/simple/{canonicalize_name(name)}/"},
                )
            store = self._index._store
            project = store.project(name)
            files: list[FileRecord] = store.project_files(project) if project is not None else []
            if canonicalize_name(name) == session.normalized:
                files = files + records
            if project is None and not files:
                return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
            display = project.name if project is not None else session.name
            return simple_page(display, files, base, accept=accept)

    def _display_name(self, session: PublishingSession) -> str:
        project = self._index._store.project(session.name)
        return project.name if project is not None else session.name

    def _stage_records(self, session: PublishingSession) -> list[FileRecord]:
        records = []
        for fid in session.files.values():
            upload = session.uploads[fid]
            if upload.staged is not None and upload.status == "completed":
                relative = f"staged/{fid}/{upload.filename}"
                records.append(_staging.preview_record(upload.staged, session.name, relative))
        return records

    def _stage_file(self, session: PublishingSession, relative: str) -> Response:
        relative = unquote(relative)
        if relative.startswith("staged/"):
            _, fid, filename = [*relative.split("/", 2), "", ""][:3]
            upload = session.uploads.get(fid)
            metadata = filename.endswith(".metadata")
            wanted = filename[: -len(".metadata")] if metadata else filename
            if (
                upload is None
                or upload.staged is None
                or upload.status != "completed"
                or upload.filename != wanted
            ):
                return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
            if metadata:
                if upload.staged.wheel_metadata is None:
                    return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
                return Response(200, upload.staged.wheel_metadata, "text/plain; charset=utf-8")
            return Response(
                200, b"", "application/octet-stream", file=upload.staged.path.open("rb")
            )
        path = self._index._store.resolve(relative)
        if path is None or path.name.endswith(".provenance"):
            return Response(404, b"404 Not Found\n", "text/plain; charset=utf-8")
        content_type = (
            "text/plain; charset=utf-8"
            if path.name.endswith(".metadata")
            else "application/octet-stream"
        )
        return Response(200, b"", content_type, file=path.open("rb"))
