"""The legacy upload API of the local index (``POST /legacy/``), in PyPI's order.

The steps are numbered as in Warehouse's ``file_upload`` (see
``warehouse-contract.md``): uploads allowed, authentication, the form, the project,
permission, the release, the file, size, digests, duplicates, release rules, the
archive, attestations, and the store.  Upload 2.0 sessions reuse the same steps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.metadata import Metadata
from packaging.utils import canonicalize_name, canonicalize_version

from trustpub.local import _archives, _validate
from trustpub.local._forms import FilePart, Form, FormError, FormTooLarge, parse_form
from trustpub.local._http import AbortConnection, Request, Response
from trustpub.local._index_state import IndexState
from trustpub.local._responses import (
    UploadError,
    render_error,
)
from trustpub.local._storage import (
    FileRecord,
    IndexStore,
    ProjectRecord,
    ReleaseRecord,
)
from trustpub.local._upload_auth import Identity, check_permission, identify
from trustpub.local._upload_rules import (
    RELEASE_UPLOAD_WINDOW,
    check_digests,
    check_size,
    new_project,
)
from trustpub.local._validate import UploadFields, help_url

if TYPE_CHECKING:
    pass

_logger = logging.getLogger(__name__)


_UPLOAD_PAGE = b"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Warehouse \xc2\xb7 The Python Package Index</title>
  </head>
  <body>
    <h1>API endpoint</h1>
    <p>This URL is an API endpoint for uploading files to PyPI.</p>
    <p>For more information on uploading projects to PyPI, visit the
      <a href="https://packaging.python.org/tutorials/packaging-projects/#uploading-the-distribution-archives">Python Packaging User Guide</a>.</p>
  </body>
</html>
"""


class LegacyUploadAPI(IndexState):
    """``POST /legacy/`` and the upload steps Upload 2.0 shares (:mod:`._staging`)."""

    def _missing_slash(self, request: Request) -> Response:
        return render_error(
            308,
            "An upload was attempted to /legacy but the expected upload URL is "
            "/legacy/ (with a trailing slash)",
            request.header("Accept"),
            location=self.upload_url,
        )

    def _upload_page(self, request: Request) -> Response:
        return Response(200, _UPLOAD_PAGE, "text/html; charset=UTF-8")

    def _take_fault(self) -> tuple[bool, tuple[int, int | None] | None]:
        with self._lock:
            if self._reset_next:
                self._reset_next -= 1
                return True, None
            if self._fail_next:
                return False, self._fail_next.pop(0)
        return False, None

    def _legacy(self, request: Request) -> Response:
        accept = request.header("Accept")
        reset, failure = self._take_fault()
        stream = request.stream
        assert stream is not None, "the upload route streams its body"
        if reset:
            length = int(request.header("Content-Length") or 0)
            stream.read(max(1, length // 2))
            _logger.debug("fault knob: resetting an upload connection mid-body")
            raise AbortConnection("reset_next_uploads")
        if failure is not None:
            fail_status, retry_after = failure
            while stream.read(1024 * 1024):
                pass
            _logger.debug("fault knob: failing an upload with %d", fail_status)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
            response = render_error(fail_status, "", accept, headers=headers)
        else:
            response = self._handle_upload(request, accept)
        if self.upload_delay:
            time.sleep(self.upload_delay)
        return response

    def _handle_upload(self, request: Request, accept: str | None) -> Response:
        assert request.stream is not None
        with tempfile.TemporaryDirectory(prefix="upload-", dir=self._store.tmp_dir) as spool:
            try:
                form = parse_form(
                    request.stream,
                    request.header("Content-Type"),
                    Path(spool),
                    max_file_bytes=self.max_file_size,
                )
            except FormTooLarge as exc:
                return render_error(413, str(exc), accept)
            except FormError as exc:
                return render_error(400, f"Invalid request body: {exc}", accept)
            # request.params: the query string first, then the body; last value wins.
            action = request.param(":action") or form.last(":action")
            if action in ("submit", "submit_pkg_info"):
                return render_error(
                    410,
                    "Project pre-registration is no longer required or supported, "
                    "upload your files instead.",
                    accept,
                )
            if action == "doc_upload":
                return render_error(
                    410,
                    "Uploading documentation is no longer supported, we recommend using "
                    "https://readthedocs.org/.",
                    accept,
                )
            if action != "file_upload":
                # PyPI's catch-all: the "API endpoint" page, with a 200.
                return Response(200, _UPLOAD_PAGE, "text/html; charset=UTF-8")
            try:
                return self._file_upload(form, request, accept)
            except UploadError as exc:
                _logger.debug("upload refused: %s", exc)
                return render_error(exc.status, exc.message, accept)

    def _identity(self, authorization: str | None) -> Identity | None:
        with self._lock:
            return identify(self._store, authorization)

    def _file_upload(self, form: Form, request: Request, accept: str | None) -> Response:
        # 1. ensure_uploads_allowed
        if self.read_only:
            raise UploadError(403, "Read-only mode: Uploads are temporarily disabled.")
        if self.disallow_new_uploads:
            raise UploadError(
                403,
                "New uploads are temporarily disabled. "
                f"See {help_url('admin-intervention')} for more information.",
            )
        identity = self._identity(request.header("Authorization"))
        if identity is None:
            raise UploadError(
                403,
                "Invalid or non-existent authentication information. "
                f"See {help_url('invalid-auth')} for more information.",
            )
        # 2.-4. the request itself
        _validate.sanitize(form)
        _validate.check_protocol_version(form)
        _validate.check_no_file_fields(form)
        fields = _validate.validate_upload_form(form)
        meta = _validate.parse_metadata(form)
        # 5. the file
        content = form.file("content")
        if content is None:
            raise UploadError(400, "Upload payload does not have a file.")
        with self._lock:
            return self._upload_with_state(form, fields, meta, content, identity, accept)

    def _new_project(self, name: str) -> ProjectRecord:
        return new_project(self._store, name)

    def _check_size(self, content: FilePart, project: ProjectRecord) -> None:
        check_size(
            self._store,
            content,
            project,
            max_file_size=self.max_file_size,
            max_project_size=self.max_project_size,
        )

    def _upload_with_state(
        self,
        form: Form,
        fields: UploadFields,
        meta: Metadata,
        content: FilePart,
        identity: Identity,
        accept: str | None,
    ) -> Response:
        now = time.time()
        # 6. project lookup (creation only for user identities)
        project = self._store.project(fields.name)
        creating_project = project is None
        # Upload 2.0 reservations: a staged first release's name, a publish's filenames.
        self.upload2.check_legacy_upload(fields.name, content.filename, creating=creating_project)
        if project is None:
            if identity.is_oidc:
                raise UploadError(
                    400,
                    "Non-user identities cannot create new projects. This was probably "
                    "caused by successfully using a pending publisher but specifying the "
                    "project name incorrectly (either in the publisher or in your "
                    "project's metadata). Please ensure that both match. "
                    "See: https://docs.pypi.org/trusted-publishers/troubleshooting/",
                )
            project = self._new_project(fields.name)
        # 7. permission
        check_permission(identity, project)
        # 9. description
        _validate.render_description(meta)
        # 10. release
        canonical_version = canonicalize_version(meta.version)
        release = project.releases.get(canonical_version)
        creating_release = release is None
        if release is None:
            release = ReleaseRecord(
                version=str(meta.version),
                canonical_version=canonical_version,
                created=now,
                summary=meta.summary,
                requires_python=str(meta.requires_python) if meta.requires_python else None,
            )
        # 11.-12. filename and content type
        filename = content.filename
        _validate.validate_filename(filename, fields.filetype)
        _validate.check_content_type(content)
        # 13.-14. size and digests
        self._check_size(content, project)
        check_digests(fields, content)
        # 15. duplicates
        existing = self._store.files.get(filename) or self._store.file_by_blake2(content.blake2_256)
        if existing is not None:
            if (
                existing.filename == filename
                and existing.sha256 == content.sha256
                and existing.blake2_256 == content.blake2_256
            ):
                _logger.debug("identical re-upload of %s: nothing to do", filename)
                return render_error(200, "", accept)
            raise UploadError(
                400,
                f"File already exists ({filename!r}, with blake2_256 hash "
                f"{content.blake2_256!r}). See {help_url('file-name-reuse')} "
                "for more information.",
            )
        # 16.-18. release rules
        if filename in self._store.deleted_filenames:
            raise UploadError(
                400,
                "This filename was previously used by a file that has since been deleted. "
                f"Use a different version. See {help_url('file-name-reuse')} for more "
                "information.",
            )
        if not creating_release and now - release.created > RELEASE_UPLOAD_WINDOW:
            raise UploadError(
                400, "Uploading new files to releases older than 14 days is not allowed."
            )
        if fields.filetype == "sdist" and any(
            self._store.files[f].packagetype == "sdist"
            for f in release.files
            if f in self._store.files
        ):
            raise UploadError(400, "Only one sdist may be uploaded per release.")
        # 19.-21. archive
        _archives.check_dist_file(content.path, filename, fields.filetype)
        wheel_metadata: bytes | None = None
        if fields.filetype == "sdist":
            _archives.check_sdist(content.path, filename, project.name, meta)
        else:
            wheel_metadata = _archives.check_wheel(content.path, filename, project.name, meta)
        # 22. attestations
        provenance = self._attestations(form, filename, content, identity)
        # 23. store
        self._commit(
            project=project,
            release=release,
            creating_project=creating_project,
            creating_release=creating_release,
            fields=fields,
            meta=meta,
            content=content,
            wheel_metadata=wheel_metadata,
            provenance=provenance,
        )
        return Response(200, b"", "text/html; charset=UTF-8")

    def _attestations(
        self, form: Form, filename: str, content: FilePart, identity: Identity
    ) -> dict[str, Any] | None:
        if "attestations" not in form or self.disallow_pep740:
            return None
        if not identity.is_oidc or identity.publisher is None:
            raise UploadError(
                400,
                "Invalid attestations supplied during upload: "
                "Attestations are only supported when using Trusted Publishing",
            )
        from pypi_attestations import AttestationBundle, Provenance

        from trustpub.local import _pep740

        # WebOb's MultiDict returns the last value of a repeated key.
        raw = form.last("attestations") or ""
        publisher = identity.publisher.attestation_identity()
        if publisher is None:
            raise UploadError(
                400,
                "Invalid attestations supplied during upload: "
                f"Attestations are not currently supported with {identity.publisher.kind} publishers",
            )
        try:
            attestations = _pep740.parse_attestations(
                raw, filename, content.sha256, publisher, self._verifier_for_attestations()
            )
        except _pep740.AttestationsRefused as exc:
            raise UploadError(400, f"Invalid attestations supplied during upload: {exc}") from None
        except RuntimeError as exc:
            raise UploadError(
                400,
                "Invalid attestations supplied during upload: "
                f"Unknown error while trying to verify included attestations: {exc}",
            ) from None
        bundle = AttestationBundle(publisher=publisher, attestations=attestations)
        document: dict[str, Any] = Provenance(attestation_bundles=[bundle]).model_dump(mode="json")
        return document

    def _commit(
        self,
        *,
        project: ProjectRecord,
        release: ReleaseRecord,
        creating_project: bool,
        creating_release: bool,
        fields: UploadFields,
        meta: Metadata,
        content: FilePart,
        wheel_metadata: bytes | None,
        provenance: dict[str, Any] | None,
    ) -> None:
        filename = content.filename
        self.stored_log.append(filename)
        relative = IndexStore.content_path(content.blake2_256, filename)
        destination = self._store.files_dir / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(content.path, destination)
        metadata_sha256 = metadata_blake2 = None
        if wheel_metadata is not None:
            Path(f"{destination}.metadata").write_bytes(wheel_metadata)
            metadata_sha256 = hashlib.sha256(wheel_metadata).hexdigest()
            metadata_blake2 = hashlib.blake2b(wheel_metadata, digest_size=32).hexdigest()
        if provenance is not None:
            Path(f"{destination}.provenance").write_text(json.dumps(provenance), encoding="utf-8")
        # PyPI renames the project when the metadata spells it differently.
        if project.name != meta.name and canonicalize_name(meta.name) == project.normalized_name:
            project.name = meta.name
        if creating_project:
            self._store.projects[project.normalized_name] = project
        if creating_release:
            project.releases[release.canonical_version] = release
        release.files.append(filename)
        self._store.files[filename] = FileRecord(
            filename=filename,
            project=project.normalized_name,
            version=release.version,
            packagetype=fields.filetype,
            python_version=fields.pyversion,
            size=content.size,
            sha256=content.sha256,
            blake2_256=content.blake2_256,
            md5=content.md5,
            path=relative,
            upload_time=time.time(),
            requires_python=release.requires_python,
            comment=fields.comment,
            metadata_sha256=metadata_sha256,
            metadata_blake2_256=metadata_blake2,
            has_provenance=provenance is not None,
        )
        self._store.save()
        _logger.debug(
            "stored %s (%d bytes%s)",
            filename,
            content.size,
            ", with provenance" if provenance else "",
        )
