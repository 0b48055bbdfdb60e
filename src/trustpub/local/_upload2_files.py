"""Upload 2.0 file upload sessions on the local index: create, bytes, attestations, complete.

Each file of a publishing session is its own resource; its bytes arrive through
``http-post-bytes`` and the index's upload rules (:mod:`._staging`) run when the
client completes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import tempfile
import time
from typing import TYPE_CHECKING

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from trustpub.local import _staging
from trustpub.local._http import Request, Response
from trustpub.local._problems import MEDIA_TYPE, Problem
from trustpub.local._responses import UploadError
from trustpub.local._upload2_core import Upload2Core
from trustpub.local._upload2_model import (
    CHUNK,
    EDITABLE,
    MAX_ATTESTATIONS,
    MECHANISM,
    SECURE,
    FileUpload,
    PublishingSession,
)

if TYPE_CHECKING:
    pass

_logger = logging.getLogger(__name__)


class FileSessions(Upload2Core):
    """The file upload session endpoints (``/2.0/sessions/<sid>/files/...``)."""

    def _create_file(self, request: Request, sid: str) -> Response:
        session, _ = self._session(request, sid)
        body = self._json(request)
        filename, size, hashes, mechanism = (
            body.get(k) for k in ("filename", "size", "hashes", "mechanism")
        )
        source = filename if isinstance(filename, str) else "filename"
        self._check_filename(session, filename)
        assert isinstance(filename, str)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise Problem(
                400,
                "Invalid file upload session",
                f"size must be the file's size in bytes, not {size!r}",
                errors=[(source, "invalid size")],
            )
        checked = self._check_hashes(source, hashes)
        if mechanism != MECHANISM:
            raise Problem(
                422,
                "Unsupported mechanism",
                f"this index supports the {MECHANISM} mechanism only",
                errors=[(source, f"mechanism {mechanism!r} is not supported")],
            )
        index = self._index
        if size > index.max_file_size:
            raise Problem(
                400,
                "File too large",
                f"{filename}: File too large. Limit for project {session.name!r} is "
                f"{index.max_file_size // (1024 * 1024)} MB.",
                errors=[(filename, "size exceeds the file size limit")],
            )
        with index._lock:
            if session.status not in EDITABLE:
                raise Problem(
                    409, "Session closed", f"files cannot be added to a {session.status} session"
                )
            problem = _staging.name_conflict(
                index, filename, None, reserved=self._publishing, session_id=sid
            )
            if problem is not None:
                raise Problem(
                    409,
                    "File exists",
                    f"{filename} cannot be uploaded to this release",
                    errors=[(filename, problem)],
                )
            previous = session.files.get(filename)
            if previous is not None:
                old = session.uploads[previous]
                if old.status in ("pending", "processing"):
                    raise Problem(
                        409,
                        "Upload in progress",
                        f"{filename} is still {old.status}; cancel that file upload session first",
                        errors=[(filename, f"status is {old.status}")],
                    )
                old.status = "canceled"
                self._drop_file(session, old)
            fid = secrets.token_urlsafe(18)
            upload = FileUpload(
                fid=fid,
                filename=filename,
                size=size,
                hashes=checked,
                expires=min(self.clock() + self.session_lifetime, session.expires),
            )
            session.uploads[fid] = upload
            session.files[filename] = fid
            return self._file_answer(session, upload, 202)

    def _check_filename(self, session: PublishingSession, filename: object) -> None:
        if not isinstance(filename, str) or "/" in filename or "\\" in filename:
            raise Problem(
                400,
                "Invalid filename",
                f"{filename!r} is not a distribution file name",
                errors=[("filename", "not a file name")],
            )
        filetype = _staging.filetype_of(filename)
        try:
            if filetype == "bdist_wheel":
                name, version, _, _ = parse_wheel_filename(filename)
            elif filetype == "sdist":
                name, version = parse_sdist_filename(filename)
            else:
                raise Problem(
                    400,
                    "Invalid filename",
                    f"{filename}: use the wheel (.whl) or source distribution (.tar.gz) file name convention",
                    errors=[(filename, "unknown file name convention")],
                    kind="invalid-filename",
                )
        except (InvalidWheelFilename, InvalidSdistFilename) as exc:
            raise Problem(
                400,
                "Invalid filename",
                f"{filename}: {exc}",
                errors=[(filename, str(exc))],
                kind="invalid-filename",
            ) from None
        if name != session.normalized or version != Version(session.version):
            raise Problem(
                400,
                "File does not belong to this session",
                f"{filename} is not a file of {session.name} {session.version}",
                errors=[(filename, f"name/version in the filename: {name} {version}")],
            )

    @staticmethod
    def _check_hashes(source: str, hashes: object) -> dict[str, str]:
        if not isinstance(hashes, dict) or not hashes:
            raise Problem(
                400,
                "Invalid hashes",
                "hashes must map hash names to hex digests",
                errors=[(source, "no hashes")],
            )
        checked: dict[str, str] = {}
        for algorithm, value in hashes.items():
            try:
                expected_length = hashlib.new(algorithm).digest_size * 2
            except (ValueError, TypeError):
                raise Problem(
                    400,
                    "Invalid hashes",
                    f"{algorithm!r} is not a hash hashlib knows",
                    errors=[(source, f"unknown hash {algorithm!r}")],
                ) from None
            if (
                algorithm.startswith("shake_")
                or not isinstance(value, str)
                or len(value) != expected_length
                or not all(c in "0123456789abcdefABCDEF" for c in value)
            ):
                raise Problem(
                    400,
                    "Invalid hashes",
                    f"{algorithm}: {value!r} is not a hex digest of that hash",
                    errors=[(source, f"invalid {algorithm} digest")],
                )
            checked[algorithm] = value.lower()
        if not set(checked) & SECURE:
            raise Problem(
                400,
                "Invalid hashes",
                "include at least one secure hash, such as sha256",
                errors=[(source, "no secure hash")],
            )
        return checked

    def _upload_of(self, session: PublishingSession, fid: str) -> FileUpload:
        upload = session.uploads.get(fid)
        if upload is None or session.status == "canceled":
            raise Problem(404, "Not found", "no such file upload session")
        return upload

    def _file_status(self, request: Request, sid: str, fid: str) -> Response:
        session, _ = self._session(request, sid, mutating=False)
        with self._index._lock:
            upload = self._upload_of(session, fid)
            if upload.status == "processing":
                upload.polls_left -= 1
                if upload.polls_left <= 0:
                    self._finish_file(session, upload)
            return self._file_answer(session, upload)

    def _cancel_file(self, request: Request, sid: str, fid: str) -> Response:
        session, _ = self._session(request, sid)
        with self._index._lock:
            upload = self._upload_of(session, fid)
            if upload.status == "processing" or upload.checking:
                raise Problem(
                    409,
                    "Processing",
                    f"{upload.filename} is being processed; wait for it to resolve",
                    errors=[(upload.filename, "status is processing")],
                )
            if session.status not in EDITABLE:
                raise Problem(
                    409, "Session closed", f"files of a {session.status} session cannot be changed"
                )
            if upload.status != "canceled":
                upload.status = "canceled"
                self._drop_file(session, upload)
        return Response(204, b"", MEDIA_TYPE)

    def _extend_file(self, request: Request, sid: str, fid: str) -> Response:
        session, _ = self._session(request, sid)
        seconds = self._extend_for(self._json(request))
        with self._index._lock:
            upload = self._upload_of(session, fid)
            if upload.status == "pending":
                upload.expires = max(upload.expires, min(self.clock() + seconds, session.expires))
            return self._file_answer(session, upload)

    def _pending(self, session: PublishingSession, fid: str) -> FileUpload:
        upload = self._upload_of(session, fid)
        if session.status not in EDITABLE or upload.status != "pending" or upload.checking:
            state = "being completed" if upload.checking else upload.status
            raise Problem(
                409,
                "Not accepting data",
                f"{upload.filename} is {state}, not pending",
                errors=[(upload.filename, f"status is {state}")],
            )
        return upload

    def _bytes(self, request: Request, sid: str, fid: str) -> Response:
        session, _ = self._session(request, sid)
        with self._index._lock:
            upload = self._pending(session, fid)
        content_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/octet-stream":
            raise Problem(
                415,
                "Unsupported media type",
                "send the file as application/octet-stream",
                errors=[(upload.filename, f"Content-Type {content_type or 'missing'}")],
            )
        length = request.header("Content-Length")
        if length is not None and length.isdigit() and int(length) > upload.size:
            raise Problem(
                413,
                "Too many bytes",
                f"{upload.filename} was declared as {upload.size} bytes",
                errors=[(upload.filename, f"{length} bytes sent")],
            )
        received = self._receive(request, session, upload)
        if self.delay:
            time.sleep(self.delay)
        with self._index._lock:
            if upload.status != "pending" or session.status not in EDITABLE:
                received.path.unlink(missing_ok=True)
                raise Problem(
                    409, "Not accepting data", f"{upload.filename} was {upload.status} meanwhile"
                )
            upload.received = received
        return Response(204, b"", MEDIA_TYPE)

    def _receive(
        self, request: Request, session: PublishingSession, upload: FileUpload
    ) -> _staging.Received:
        """Stream the body to the file's folder, hashing it; the file replaces an earlier try."""
        assert request.stream is not None
        folder = session.folder / upload.fid
        folder.mkdir(parents=True, exist_ok=True)
        digests = {name: hashlib.new(name) for name in upload.hashes}
        digests.update(sha256=hashlib.sha256(), md5=hashlib.md5(usedforsecurity=False))
        blake = hashlib.blake2b(digest_size=32)
        fd, tmp = tempfile.mkstemp(prefix=".part-", dir=folder)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = request.stream.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > upload.size:
                        raise Problem(
                            413,
                            "Too many bytes",
                            f"{upload.filename} was declared as {upload.size} bytes",
                            errors=[(upload.filename, "more bytes than declared")],
                        )
                    out.write(chunk)
                    for digest in digests.values():
                        digest.update(chunk)
                    blake.update(chunk)
            if size != upload.size:
                raise Problem(
                    400,
                    "Incomplete file",
                    f"{upload.filename}: got {size} of {upload.size} bytes",
                    errors=[(upload.filename, "fewer bytes than declared")],
                )
            target = folder / upload.filename
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        values = {name: digest.hexdigest() for name, digest in digests.items()}
        values["blake2_256"] = blake.hexdigest()
        return _staging.Received(upload.filename, target, size, values)

    def _attestations(self, request: Request, sid: str, fid: str) -> Response:
        session, identity = self._session(request, sid)
        with self._index._lock:
            upload = self._pending(session, fid)
        if self._index.disallow_pep740:
            raise Problem(404, "Not found", "attestations are disabled on this index")
        content_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            raise Problem(
                415,
                "Unsupported media type",
                "send attestations as application/json",
                errors=[(upload.filename, f"Content-Type {content_type or 'missing'}")],
            )
        raw = self._read(request, MAX_ATTESTATIONS)
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            parsed = None
        if not isinstance(parsed, list):
            raise Problem(
                400,
                "Invalid attestations",
                f"{upload.filename}: the body must be a JSON array",
                errors=[(upload.filename, "not a JSON array of attestation objects")],
            )
        with self._index._lock:
            upload.attestations = raw.decode("utf-8")
            upload.attestation_identity = identity
        return Response(204, b"", MEDIA_TYPE)

    def _complete(self, request: Request, sid: str, fid: str) -> Response:
        session, identity = self._session(request, sid)
        self._json(request)
        with self._index._lock:
            upload = self._upload_of(session, fid)
            if upload.status == "completed":
                return self._file_answer(session, upload, 201)  # a retried completion
            if upload.status == "processing":
                return self._file_answer(session, upload, 202)
            upload = self._pending(session, fid)
            upload.completing_identity = identity
            upload.checking = True
            if self.processing_polls > 0:
                upload.status = "processing"
                upload.polls_left = self.processing_polls
                return self._file_answer(session, upload, 202)
        self._check(session, upload)
        with self._index._lock:
            if upload.status == "error":
                message = upload.notices[-1] if upload.notices else "the file was refused"
                raise Problem(
                    400,
                    "File refused",
                    f"{upload.filename}: {message}",
                    errors=[(upload.filename, message)],
                    headers={"Location": self._file_url(session, upload)},
                )
            return self._file_answer(session, upload, 201)

    def _finish_file(self, session: PublishingSession, upload: FileUpload) -> None:
        self._check(session, upload)

    def _check(self, session: PublishingSession, upload: FileUpload) -> None:
        """Run the index's upload rules on the received file: completed, or error with the reason."""
        received = upload.received
        try:
            if received is None:
                raise UploadError(
                    400, "no bytes were uploaded for this file (POST them to the file_url first)"
                )
            staged = _staging.check_file(
                self._index,
                project_name=session.name,
                version=session.version,
                received=received,
                declared=upload.hashes,
                attestations=upload.attestations,
                identity=upload.attestation_identity,
            )
            with self._index._lock:
                found = _staging.conflicts(
                    self._index,
                    session.name,
                    session.version,
                    [
                        *(s for s in self._completed(session) if s.filename != upload.filename),
                        staged,
                    ],
                )
                mine = [message for filename, _, message in found if filename == upload.filename]
                if mine:
                    raise UploadError(409, mine[0])
        except UploadError as exc:
            with self._index._lock:
                upload.checking = False
                if upload.status in ("pending", "processing"):
                    upload.status = "error"
                    upload.notices.append(exc.message)
            _logger.debug("Upload 2.0 file %s refused: %s", upload.filename, exc.message)
            return
        with self._index._lock:
            upload.checking = False
            if upload.status in ("pending", "processing"):
                upload.staged = staged
                upload.status = "completed"
