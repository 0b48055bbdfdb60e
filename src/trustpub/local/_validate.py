"""The form-level checks of PyPI's upload view, with PyPI's messages.

Each function here is one step of ``warehouse-contract.md`` §2.4 that looks only at
the request itself (no stored state): the form cleanup, ``protocol_version``, the
upload form (WTForms in Warehouse), core-metadata validation (packaging's
``Metadata.from_raw`` plus Warehouse's own rules), description rendering and the
filename rules.  They raise :class:`~trustpub.local._responses.UploadError` with the
status and text PyPI sends; the index calls them in PyPI's order.

Usage::

    from trustpub.local import _validate

    _validate.sanitize(form)
    _validate.check_protocol_version(form)
    _validate.check_no_file_fields(form)
    fields = _validate.validate_upload_form(form)
    meta = _validate.parse_metadata(form)
    _validate.render_description(meta)
    _validate.validate_filename(filename, fields.filetype)
"""

from __future__ import annotations

import email.utils
import logging
import re
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import email_validator
import readme_renderer.markdown
import readme_renderer.rst
import readme_renderer.txt
from packaging.metadata import (
    _LIST_FIELDS,
    _RAW_TO_EMAIL_MAPPING,
    _STRING_FIELDS,
    ExceptionGroup,
    InvalidMetadata,
    Metadata,
    RawMetadata,
    _parse_keywords,
    _parse_project_urls,
)
from packaging.requirements import InvalidRequirement, Requirement
from trove_classifiers import all_classifiers, deprecated_classifiers

from trustpub.local._forms import FilePart, Form
from trustpub.local._responses import UploadError

__all__ = [
    "CORE_METADATA_HELP",
    "SUPPORTED_METADATA_VERSIONS",
    "UploadFields",
    "check_content_type",
    "check_no_file_fields",
    "check_protocol_version",
    "help_url",
    "parse_metadata",
    "render_description",
    "sanitize",
    "validate_filename",
    "validate_upload_form",
]

_logger = logging.getLogger(__name__)

#: Metadata versions Warehouse accepts (packaging also knows 2.6; PyPI does not yet).
SUPPORTED_METADATA_VERSIONS = frozenset({"1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"})

CORE_METADATA_HELP = (
    "See https://packaging.python.org/specifications/core-metadata for more information."
)
_LOCAL_VERSION_HELP = (
    "See https://packaging.python.org/specifications/version-specifiers/"
    "#local-version-identifiers for more information."
)

# Warehouse's PROJECT_NAME_RE: ASCII letters/digits at both ends, "._-" inside.
_PROJECT_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_HEX64_RE = re.compile(r"^[A-F0-9]{64}$", re.IGNORECASE)

#: filetype -> allowed extensions (Warehouse's ``_filetype_extension_mapping``).
FILETYPE_EXTENSIONS: dict[str, frozenset[str]] = {
    "sdist": frozenset({".zip", ".tar.gz"}),
    "bdist_wheel": frozenset({".whl"}),
}
_DIST_FILE_RE = re.compile(r".+?(?P<extension>\.(tar\.gz|zip|whl))$", re.IGNORECASE)

# Fields allowed in Dynamic (PEP 643 plus the deprecated ones and PEP 794).
_DYNAMIC_FIELDS = frozenset(
    name.lower()
    for name in (
        "Platform",
        "Supported-Platform",
        "Summary",
        "Description",
        "Description-Content-Type",
        "Keywords",
        "Home-Page",
        "Download-Url",
        "Author",
        "Author-Email",
        "Maintainer",
        "Maintainer-Email",
        "License",
        "License-Expression",
        "License-File",
        "Classifier",
        "Requires-Dist",
        "Requires-Python",
        "Requires-External",
        "Project-Url",
        "Provides-Extra",
        "Provides-Dist",
        "Obsoletes-Dist",
        "Requires",
        "Provides",
        "Obsoletes",
        "Import-Name",
        "Import-Namespace",
    )
)

# Form names are packaging's raw names, except these multi-use ones stay singular.
_FORM_NAME_OVERRIDES = {
    "platforms": "platform",
    "supported_platforms": "supported_platform",
    "license_files": "license_file",
    "import_names": "import_name",
    "import_namespaces": "import_namespace",
}
_FORM_TO_RAW = {_FORM_NAME_OVERRIDES.get(raw, raw): raw for raw in _RAW_TO_EMAIL_MAPPING}

# Errors on these fields influence all others, so PyPI reports them first.
_ERROR_ORDER = ("metadata-version", "name", "version")


def help_url(anchor: str) -> str:
    """A link into PyPI's help page, as Warehouse's ``request.help_url`` builds it."""
    return f"https://pypi.org/help/#{anchor}"


def _bad_request(message: str) -> UploadError:
    return UploadError(400, message)


def sanitize(form: Form) -> None:
    """Drop ``UNKNOWN`` values and escape NUL characters, as Warehouse does first.

    distutils filled unknown required fields with the literal ``UNKNOWN``; PyPI
    deletes such fields rather than storing them.  Like Warehouse (WebOb's
    ``MultiDict``), this looks at the *last* value of each key and acts on all of them.
    """
    for key in list(form):  # the form changes inside the loop
        value = form.last(key)
        if value is None:
            continue
        if value.strip() == "UNKNOWN":
            form.remove(key)
        elif "\x00" in value:
            form.set(key, value.replace("\x00", "\\x00"))


def check_protocol_version(form: Form) -> None:
    """Only protocol version 1 exists; anything else is refused."""
    if form.last("protocol_version", "1") != "1":
        raise _bad_request("Unknown protocol version.")


def check_no_file_fields(form: Form) -> None:
    """Every field but ``content`` (and the ignored ``gpg_signature``) must be text."""
    for key in form:
        if key in ("content", "gpg_signature"):
            continue
        if any(isinstance(value, FilePart) for value in form.getall(key)):
            raise _bad_request(f"{key}: Should not be a tuple.")


@dataclass(frozen=True)
class UploadFields:
    """The validated file fields of the upload form."""

    name: str
    filetype: str
    pyversion: str
    comment: str | None
    md5_digest: str | None
    sha256_digest: str | None
    blake2_256_digest: str | None


def _first_text(form: Form, key: str) -> str | None:
    for value in form.getall(key):
        return value if isinstance(value, str) else None
    return None


def _optional(value: str | None) -> bool:
    # WTForms' Optional(): absent or whitespace-only stops the chain silently.
    return value is None or not value.strip()


def validate_upload_form(form: Form) -> UploadFields:
    """Warehouse's ``UploadForm`` (WTForms) and its message formatting.

    Every field is validated, then the first error is reported: ``name`` first,
    otherwise the alphabetically first field.  The combination checks (pyversion per
    filetype, at least one digest) only run when every field passed.
    """
    errors: dict[str, str] = {}
    name = _first_text(form, "name")
    if not name:
        errors["name"] = "This field is required."
    elif not _PROJECT_NAME_RE.match(name):
        errors["name"] = (
            "Start and end with a letter or numeral containing only ASCII numeric and "
            "'.', '_' and '-'."
        )
    filetype = _first_text(form, "filetype")
    if not filetype:
        errors["filetype"] = "This field is required."
    elif filetype not in FILETYPE_EXTENSIONS:
        errors["filetype"] = "Use a known file type."
    digests: dict[str, str | None] = {}
    for key, label in (("sha256_digest", "SHA256"), ("blake2_256_digest", "BLAKE2")):
        value = _first_text(form, key)
        if _optional(value):
            digests[key] = None
        elif not _HEX64_RE.match(value or ""):
            errors[key] = f"Use a valid, hex-encoded, {label} message digest."
        else:
            digests[key] = value
    md5 = _first_text(form, "md5_digest")
    pyversion = _first_text(form, "pyversion")
    comment = _first_text(form, "comment")

    if errors:
        field = next((f for f in _ERROR_ORDER if f in errors), None) or sorted(errors)[0]
        if field == "name":
            shown = name or ""
            if len(shown) > 60:
                shown = shown[:30] + "..." + shown[-30:]
            raise _bad_request(
                f"{shown!r} is an invalid value for Name. Error: {errors[field]} "
                + CORE_METADATA_HELP
            )
        raise _bad_request(f"Invalid value for {field}. Error: {errors[field]}")

    assert name is not None and filetype is not None
    if filetype != "sdist" and not pyversion:
        raise _bad_request(
            "Invalid value for pyversion. Error: "
            "Python version is required for binary distribution uploads."
        )
    if filetype == "sdist":
        if not pyversion:
            pyversion = "source"
        elif pyversion != "source":
            raise _bad_request(
                "Invalid value for pyversion. Error: Use 'source' as Python version for an sdist."
            )
    if _optional(md5):
        md5 = None
    if md5 is None and digests["sha256_digest"] is None and digests["blake2_256_digest"] is None:
        raise _bad_request("Error: Include at least one message digest.")
    return UploadFields(
        name=name,
        filetype=filetype,
        pyversion=pyversion or "",
        comment=None if _optional(comment) else comment,
        md5_digest=md5,
        sha256_digest=digests["sha256_digest"],
        blake2_256_digest=digests["blake2_256_digest"],
    )


def _raw_from_form(form: Form) -> tuple[dict[str, Any], list[str]]:
    raw: dict[str, Any] = {}
    unparsed: list[str] = []
    for key in form:
        raw_name = _FORM_TO_RAW.get(key)
        if raw_name is None:
            continue  # PyPI ignores names outside packaging's raw mapping
        values = [v for v in form.getall(key) if isinstance(v, str)]
        if values == [""]:
            continue
        if raw_name in _STRING_FIELDS and len(values) == 1:
            raw[raw_name] = values[0]
        elif raw_name in _LIST_FIELDS:
            raw[raw_name] = values
        elif raw_name == "keywords" and len(values) == 1:
            raw[raw_name] = _parse_keywords(values[0])
        elif raw_name == "project_urls":
            try:
                raw[raw_name] = _parse_project_urls(values)
            except KeyError:
                unparsed.append(key)
        else:
            unparsed.append(key)
    return raw, unparsed


def _is_valid_uri(url: str) -> bool:
    """Warehouse's ``is_valid_uri(url, require_authority=False)``: http(s) and well formed."""
    if not url or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https")


def _warehouse_rules(meta: Metadata) -> list[InvalidMetadata]:
    """The checks Warehouse layers on top of packaging's own validation."""
    errors: list[InvalidMetadata] = []
    if meta.metadata_version not in SUPPORTED_METADATA_VERSIONS:
        errors.append(
            InvalidMetadata(
                "metadata-version", f"{meta.metadata_version!r} is not a valid metadata version"
            )
        )
    if meta.version.local:
        errors.append(
            InvalidMetadata(
                "version", f"The use of local versions in '{meta.version}' is not allowed."
            )
        )
    if isinstance(meta.summary, str) and len(meta.summary) > 512:
        errors.append(InvalidMetadata("summary", "'summary' field must be 512 characters or less."))
    for field in ("author_email", "maintainer_email"):
        addr = getattr(meta, field)
        if addr is None:
            continue
        _, address = email.utils.parseaddr(addr)
        if address:
            try:
                email_validator.validate_email(address, check_deliverability=False)
            except email_validator.EmailNotValidError as exc:
                errors.append(
                    InvalidMetadata(
                        _RAW_TO_EMAIL_MAPPING[field],
                        f"{address!r} is not a valid email address: {exc}",
                    )
                )
    classifiers = set(meta.classifiers or [])
    for classifier in sorted(classifiers - set(all_classifiers)):
        errors.append(InvalidMetadata("classifier", f"{classifier!r} is not a valid classifier."))
    for classifier in sorted(classifiers & deprecated_classifiers.keys()):
        deprecated_by = deprecated_classifiers[classifier]
        if deprecated_by:
            message = (
                f"The classifier {classifier!r} has been deprecated, "
                f"use one of {deprecated_by} instead."
            )
        else:
            message = f"The classifier {classifier!r} has been deprecated."
        errors.append(InvalidMetadata("classifier", message))
    for field in ("home_page", "download_url"):
        url = getattr(meta, field)
        if url is not None and not _is_valid_uri(url):
            errors.append(
                InvalidMetadata(_RAW_TO_EMAIL_MAPPING[field], f"{url!r} is not a valid url.")
            )
    for label, url in (meta.project_urls or {}).items():
        if not label:
            errors.append(InvalidMetadata("project-url", "Must have a label"))
        elif len(label) > 32:
            errors.append(
                InvalidMetadata("project-url", f"{label!r} must be 32 characters or less.")
            )
        elif not url:
            errors.append(InvalidMetadata("project-url", "Must have a URL"))
        elif not _is_valid_uri(url):
            errors.append(InvalidMetadata("project-url", f"{url!r} is not a valid url"))
    for field in ("provides_dist", "obsoletes_dist"):
        for req_str in getattr(meta, field) or []:
            email_name = _RAW_TO_EMAIL_MAPPING[field]
            try:
                req = Requirement(req_str)
            except InvalidRequirement as exc:
                errors.append(InvalidMetadata(email_name, f"{req_str!r} is invalid: {exc}"))
                continue
            if req.url is not None:
                errors.append(
                    InvalidMetadata(email_name, f"Can't have direct dependency: {req_str!r}")
                )
    for requirement in meta.requires_dist or []:
        if requirement.url is not None:
            errors.append(
                InvalidMetadata("requires-dist", f"Can't have direct dependency: {requirement}")
            )
    for key in meta.dynamic or []:
        if key not in _DYNAMIC_FIELDS:
            errors.append(
                InvalidMetadata("dynamic", f"Dynamic field {key!r} is not a valid dynamic field.")
            )
    if meta.license and meta.license_expression:
        errors.append(
            InvalidMetadata(
                "license",
                "License is deprecated when License-Expression is present. "
                "Only License-Expression should be present.",
            )
        )
    return errors


def _first_metadata_error(errors: list[InvalidMetadata]) -> UploadError:
    by_field: dict[str, list[InvalidMetadata]] = {}
    for error in errors:
        by_field.setdefault(error.field, []).append(error)
    field = next((f for f in _ERROR_ORDER if f in by_field), None) or sorted(by_field)[0]
    message = str(by_field[field][0])
    if not message.endswith("."):
        message += "."
    if field == "version" and message.startswith("The use of local versions"):
        return _bad_request(f"{message} {_LOCAL_VERSION_HELP}")
    return _bad_request(f"{message} {CORE_METADATA_HELP}")


def _invalid_metadata(group: ExceptionGroup) -> list[InvalidMetadata]:
    found: list[InvalidMetadata] = []
    for exc in group.exceptions:
        if isinstance(exc, InvalidMetadata):
            found.append(exc)
        elif isinstance(exc, ExceptionGroup):
            found.extend(_invalid_metadata(exc))
    return found


def parse_metadata(form: Form) -> Metadata:
    """Core metadata from the form fields, validated like PyPI does.

    Metadata comes only from the form (never from the artifact).  Raises the 400
    PyPI sends for the most important error.
    """
    raw, unparsed = _raw_from_form(form)
    if unparsed:
        errors = [InvalidMetadata(key, f"{key!r} has invalid data") for key in unparsed]
        raise _first_metadata_error(errors)
    try:
        meta = Metadata.from_raw(cast(RawMetadata, raw))
    except ExceptionGroup as group:
        raise _first_metadata_error(_invalid_metadata(group)) from None
    errors = _warehouse_rules(meta)
    if errors:
        raise _first_metadata_error(errors)
    return meta


def render_description(meta: Metadata) -> str | None:
    """Render the description the way PyPI does on every upload; refuse a broken one.

    reStructuredText is the default when no content type was sent, and there is no
    fallback to plain text, so an RST syntax error is an upload error.
    """
    if not meta.description:
        return None
    content_type = meta.description_content_type or "text/x-rst"
    mime, _, params_text = content_type.partition(";")
    mime = mime.strip().lower()
    params: dict[str, str] = {}
    for item in params_text.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            params[key.strip().lower()] = value.strip().strip('"')
    rendered: str | None
    if mime == "text/markdown":
        rendered = readme_renderer.markdown.render(meta.description, **params)
    elif mime == "text/plain":
        text = readme_renderer.txt.render(meta.description)
        rendered = None if text is None else f"<pre>{text}</pre>"
    else:
        rendered = readme_renderer.rst.render(meta.description)
    if rendered is None:
        if meta.description_content_type:
            message = f"The description failed to render for '{content_type}'."
        else:
            message = "The description failed to render in the default format of reStructuredText."
        raise _bad_request(
            f"{message} See {help_url('description-content-type')} for more information."
        )
    return rendered


def validate_filename(filename: str, filetype: str) -> None:
    """PyPI's filename rules: printable, no path separators, a known extension."""
    if any(ord(char) < 32 or ord(char) == 127 for char in filename):
        raise _bad_request(
            "Cannot upload a file with non-printable characters (ordinals 0-31) "
            "or the DEL character (ordinal 127) in the name."
        )
    if "/" in filename or "\\" in filename:
        raise _bad_request("Cannot upload a file with '/' or '\\' in the name.")
    match = _DIST_FILE_RE.match(filename)
    if match is None:
        raise _bad_request(
            "Invalid file extension: Use .tar.gz, .whl or .zip extension. "
            "See https://www.python.org/dev/peps/pep-0527 and "
            "https://peps.python.org/pep-0715/ for more information"
        )
    extension = match.group("extension")
    if extension not in FILETYPE_EXTENSIONS[filetype]:
        raise _bad_request(
            f"Invalid file extension: Extension {extension} is invalid for filetype "
            f"{filetype}. See https://www.python.org/dev/peps/pep-0527 for more information."
        )


def check_content_type(part: FilePart) -> None:
    """The file part needs a Content-Type, and an image is no distribution."""
    if not part.content_type or part.content_type.startswith("image/"):
        raise _bad_request("Invalid distribution file.")
