"""Core-metadata rules: what PyPI's ``metadata.parse`` and description rendering refuse.

PyPI validates the metadata of every upload with packaging (the same code is used
here), then adds its own rules: accepted metadata versions, no local versions, valid
classifiers, URLs and e-mail addresses, no direct references, and a description that
renders. A release refused on one of these after half its files went up is the
failure this module exists to prevent.
"""

from __future__ import annotations

import email.utils
import functools
import re
from collections.abc import Iterator
from email.message import Message

from trustpub.checks import file_rule
from trustpub.checks._model import FileContext, Finding, error, warning

_SPEC = "See https://packaging.python.org/specifications/core-metadata for more information."

#: Metadata versions PyPI accepts (2.0 was never a real version).
ACCEPTED_METADATA_VERSIONS = frozenset({"1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"})

SUMMARY_LIMIT = 512
PROJECT_URL_LABEL_LIMIT = 32


def _meta_error(message: str, hint: str | None = None) -> Finding:
    return error(f"{message}. {_SPEC}" if not message.endswith(".") else f"{message} {_SPEC}", hint)


@file_rule("metadata-present", "the archive carries its core metadata file")
def present(ctx: FileContext) -> Iterator[Finding]:
    dist = ctx.dist
    if dist.archive_error is not None or dist.filetype is None or dist.oversized_member is not None:
        return  # the archive rules already say why nothing could be read
    if dist.is_wheel and ctx.wheel_parts is None:
        return  # PyPI refuses the filename before it opens the archive; so does inspection
    if dist.metadata is None:
        where = f"{dist.dist_info_dir}/METADATA" if dist.is_wheel else f"{dist.sdist_top_dir}/PKG-INFO"
        yield error(f"METADATA not found at {where}" if dist.is_wheel else f"PKG-INFO not found at {where}")


def _header_block(data: bytes) -> list[bytes]:
    """The lines of the header block, as the e-mail parser splits them, up to the first blank line."""
    lines: list[bytes] = []
    for line in data.splitlines():
        if not line.strip(b" \t"):
            break
        lines.append(line)
    return lines


#: What the e-mail parser takes as a header line (name of printable ASCII without
#: space or colon, then a colon) or a continuation line; any other line ends the block.
_HEADER_LINE = re.compile(rb"^(From |[\041-\071\073-\176]*:|[\t ])")


def _undecodable_fields(data: bytes) -> set[str]:
    """Lowercased names of the fields whose lines are not UTF-8 (``description`` for the body)."""
    fields: set[str] = set()
    current = ""
    lines = _header_block(data)
    for line in lines:
        if not line.startswith((b" ", b"\t")):
            current = line.split(b":", 1)[0].decode("ascii", "replace").strip().lower()
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            fields.add(current)
    body_at = sum(len(line) + 1 for line in lines)
    try:
        data[body_at:].decode("utf-8")
    except UnicodeDecodeError:
        fields.add("description")
    return fields


@file_rule("metadata-utf8", "the core metadata file is UTF-8 (the core metadata spec requires it)")
def utf8(ctx: FileContext) -> Iterator[Finding]:
    data = ctx.dist.metadata
    if data is None:
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        fields = ", ".join(sorted(_undecodable_fields(data))) or "?"
        where = ctx.dist.metadata_path or "the metadata file"
        yield _meta_error(
            f"{where} is not valid UTF-8: byte 0x{data[exc.start]:02x} at line {line} (field {fields})",
            "write the metadata as UTF-8 (a build backend does; a hand-edited or re-encoded file may not)",
        )


@file_rule("metadata-header-block", "every line of the metadata header block is a header, so no field is silently lost")
def header_block(ctx: FileContext) -> Iterator[Finding]:
    data = ctx.dist.metadata
    if data is None:
        return
    lines = _header_block(data)
    for number, line in enumerate(lines, start=1):
        if not _HEADER_LINE.match(line):
            after = [rest.split(b":", 1)[0].decode("ascii", "replace").strip() for rest in lines[number:]]
            lost = [name for name in after if name and not name.startswith(("\t", " "))]
            shown = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
            detail = f"; the {len(lost)} field(s) after it ({shown}) become part of the description" if lost else ""
            text = line.decode("utf-8", "replace")
            yield warning(
                f"line {number} of {ctx.dist.metadata_path or 'the metadata'} ({text[:60]!r}) is not a header line, "
                f"so the header block ends there{detail}; PyPI and installers read it the same way",
                "a field name cannot contain spaces; fix the line or the build step that wrote it",
            )
            return


@file_rule("metadata-version", "Metadata-Version is one PyPI accepts (1.0-1.2, 2.1-2.5)")
def metadata_version(ctx: FileContext) -> Iterator[Finding]:
    if ctx.parsed is None:
        return
    value = ctx.raw.get("metadata_version")
    if value is None:
        yield _meta_error("'metadata-version' is a required field")
    elif value not in ACCEPTED_METADATA_VERSIONS:
        yield _meta_error(
            f"{value!r} is not a valid metadata version",
            "use a build backend that writes Metadata-Version 2.1 or later",
        )


@file_rule("metadata-duplicate-field", "single-value fields appear once and Project-URL entries are well formed")
def duplicate_fields(ctx: FileContext) -> Iterator[Finding]:
    if ctx.parsed is None:
        return
    undecodable = _undecodable_fields(ctx.dist.metadata) if ctx.dist.metadata is not None else set()
    for key in sorted(ctx.parsed.unparsed):
        if key in undecodable:
            continue  # the metadata-utf8 rule names the real problem
        yield error(f"{key!r} has invalid data.", "a single-value field appears more than once or is malformed")


@file_rule("metadata-field-too-new", "no field newer than the declared Metadata-Version")
def field_too_new(ctx: FileContext) -> Iterator[Finding]:
    if ctx.parsed is None:
        return
    for _field, message in ctx.parsed.errors:
        if "introduced in metadata version" in message:
            yield _meta_error(message, "raise Metadata-Version (upgrade the build backend) or drop the field")


@file_rule("metadata-valid", "every field passes packaging's core-metadata validation (name, version, requirements, ...)")
def packaging_valid(ctx: FileContext) -> Iterator[Finding]:
    if ctx.parsed is None:
        return
    for field, message in ctx.parsed.errors:
        if "introduced in metadata version" in message or field == "metadata-version":
            continue  # own rules above
        yield _meta_error(message, f"fix the {field!r} field in your project metadata")


@file_rule("version-local", "no local version (+label): PyPI refuses them")
def local_version(ctx: FileContext) -> Iterator[Finding]:
    version = ctx.version
    if version is not None and version.local:
        yield error(
            f"The use of local versions in {str(version)!r} is not allowed. "
            "See https://packaging.python.org/specifications/version-specifiers/#local-version-identifiers for more information.",
            "drop the +local part (setuptools-scm: local_scheme = 'no-local-version')",
        )


@file_rule("summary", "Summary is one line of at most 512 characters")
def summary(ctx: FileContext) -> Iterator[Finding]:
    value = ctx.raw.get("summary")
    if isinstance(value, str) and len(value) > SUMMARY_LIMIT:
        yield _meta_error(f"'summary' field must be {SUMMARY_LIMIT} characters or less.", "shorten the description in pyproject.toml")


@file_rule("email-address", "Author-email and Maintainer-email hold valid addresses")
def emails(ctx: FileContext) -> Iterator[Finding]:
    for field, label in (("author_email", "author-email"), ("maintainer_email", "maintainer-email")):
        value = ctx.raw.get(field)
        if not isinstance(value, str):
            continue
        if not value.strip():
            continue
        addresses = [address for _, address in email.utils.getaddresses([value])]
        if not any(addresses):
            # The parser gives up on 'foo@' or '<>' and returns no address at all; PyPI
            # validates what it gets, so the value is refused.
            yield _meta_error(f"{value!r} is not a valid email address", f"fix {label}")
            continue
        # Imported only when there is an address to check: it costs 20 ms of start-up.
        import email_validator

        for address in addresses:
            if not address:
                continue
            try:
                email_validator.validate_email(address, check_deliverability=False)
            except email_validator.EmailNotValidError as exc:
                yield _meta_error(f"{address!r} is not a valid email address: {exc}", f"fix {label}")


@file_rule("classifier-valid", "every classifier exists in trove-classifiers")
def classifiers_known(ctx: FileContext) -> Iterator[Finding]:
    from trove_classifiers import all_classifiers

    values = ctx.raw.get("classifiers") or []
    assert isinstance(values, list)
    for classifier in sorted(set(values) - set(all_classifiers)):
        yield _meta_error(f"{classifier!r} is not a valid classifier.", "see https://pypi.org/classifiers/")


@file_rule("classifier-deprecated", "no deprecated classifiers")
def classifiers_deprecated(ctx: FileContext) -> Iterator[Finding]:
    from trove_classifiers import deprecated_classifiers

    values = ctx.raw.get("classifiers") or []
    assert isinstance(values, list)
    for classifier in sorted(set(values) & deprecated_classifiers.keys()):
        replacements = deprecated_classifiers[classifier]
        if replacements:
            yield _meta_error(f"The classifier {classifier!r} has been deprecated, use one of {replacements} instead.")
        else:
            yield _meta_error(f"The classifier {classifier!r} has been deprecated.")


@file_rule("license-expression-exclusive", "License and License-Expression are not both present (PEP 639)")
def license_exclusive(ctx: FileContext) -> Iterator[Finding]:
    if ctx.raw.get("license") and ctx.raw.get("license_expression"):
        yield _meta_error(
            "License is deprecated when License-Expression is present. Only License-Expression should be present.",
            "remove the `license = {text = ...}` / License field and keep the SPDX expression",
        )


@file_rule("license-classifier-with-expression", "no License :: classifiers beside License-Expression (PEP 639 advice)")
def license_classifiers(ctx: FileContext) -> Iterator[Finding]:
    values = ctx.raw.get("classifiers") or []
    assert isinstance(values, list)
    if ctx.raw.get("license_expression"):
        legacy = [c for c in values if c.startswith("License ::")]
        if legacy:
            yield warning(
                f"License classifiers {legacy} are deprecated beside License-Expression (PEP 639); "
                "PyPI accepts them today, newer build backends refuse them",
                "remove the License :: classifiers",
            )


@file_rule("license-file-present", "every License-File exists at the place PyPI looks")
def license_files(ctx: FileContext) -> Iterator[Finding]:
    dist = ctx.dist
    files = ctx.raw.get("license_files") or []
    assert isinstance(files, list)
    if not files or dist.archive_error is not None or not dist.members:
        return
    members = set(dist.members)
    for path in files:
        if dist.is_wheel:
            where = f"{dist.dist_info_dir}/licenses/{path}"
        else:
            where = f"{dist.sdist_top_dir}/{path}"
        if where not in members:
            yield error(
                f"License-File {path} does not exist in distribution file {dist.filename} at {where}",
                "include the license file in the build or drop it from license-files",
            )


def _valid_uri(url: str) -> bool:
    # PyPI's is_valid_uri: an absolute URI with a scheme; an authority is not required.
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.scheme or not parts.scheme[0].isalpha():
        return False
    if any(c.isspace() for c in url):
        return False
    return not (parts.scheme in ("http", "https") and not parts.netloc)


@file_rule("url-valid", "Home-page, Download-URL and Project-URL values are URLs; labels at most 32 characters")
def urls(ctx: FileContext) -> Iterator[Finding]:
    for field, label in (("home_page", "home-page"), ("download_url", "download-url")):
        value = ctx.raw.get(field)
        if isinstance(value, str) and not _valid_uri(value):
            yield _meta_error(f"{value!r} is not a valid url.", f"fix {label}")
    project_urls = ctx.raw.get("project_urls") or {}
    assert isinstance(project_urls, dict)
    for label, url in project_urls.items():
        if not label:
            yield _meta_error("Must have a label", "every [project.urls] entry needs a label")
        elif len(label) > PROJECT_URL_LABEL_LIMIT:
            yield _meta_error(f"{label!r} must be {PROJECT_URL_LABEL_LIMIT} characters or less.", "shorten the [project.urls] label")
        elif not url:
            yield _meta_error("Must have a URL")
        elif not _valid_uri(url):
            yield _meta_error(f"{url!r} is not a valid url")


@file_rule("requires-dist-direct-reference", "no direct URL references (name @ url) in Requires-Dist, Provides-Dist or Obsoletes-Dist")
def direct_references(ctx: FileContext) -> Iterator[Finding]:
    from packaging.requirements import InvalidRequirement, Requirement

    for field in ("requires_dist", "provides_dist", "obsoletes_dist"):
        values = ctx.raw.get(field) or []
        assert isinstance(values, list)
        for text in values:
            try:
                req = Requirement(text)
            except InvalidRequirement as exc:
                if field != "requires_dist":  # packaging validates requires_dist already
                    yield _meta_error(f"{text!r} is invalid: {exc}")
                continue
            if req.url is not None:
                yield _meta_error(
                    f"Can't have direct dependency: {text!r}",
                    "PyPI only allows dependencies on other indexed projects; publish the dependency or drop the URL",
                )


@file_rule("description-present", "a long description is present (PyPI shows an empty page otherwise)")
def description_present(ctx: FileContext) -> Iterator[Finding]:
    if ctx.parsed is None:
        return
    description = ctx.raw.get("description")
    if not isinstance(description, str) or not description.strip():
        yield warning("the long description is missing; the project page on PyPI will be empty", "set readme = \"README.md\" in pyproject.toml")


def _content_type(value: str | None) -> tuple[str, dict[str, str]]:
    msg = Message()
    msg["content-type"] = value or ""
    params = {str(k): str(v) for k, v in msg.get_params(failobj=[])[1:]}
    return msg.get_content_type() if value else "", params


@functools.lru_cache(maxsize=16)
def render_description(text: str, content_type: str | None) -> str | None:
    """Render ``text`` as PyPI does (no fallback); ``None`` when PyPI could not render it.

    Cached: every wheel of a release carries the same description, and rendering
    reStructuredText costs far more than everything else a check does to a file.
    """
    # Import only the renderer this description needs: docutils alone costs more
    # start-up time than the rest of a check.
    ctype, params = _content_type(content_type)
    if ctype in ("", "text/x-rst"):
        import readme_renderer.rst

        return readme_renderer.rst.render(text)
    if ctype == "text/markdown":
        import readme_renderer.markdown

        return readme_renderer.markdown.render(text, variant=params.get("variant", "GFM"))
    import readme_renderer.txt

    return readme_renderer.txt.render(text)


@file_rule("description-renders", "the description renders as PyPI renders it (reStructuredText by default)")
def description_renders(ctx: FileContext) -> Iterator[Finding]:
    if ctx.parsed is None:
        return
    text = ctx.raw.get("description")
    if not isinstance(text, str) or not text.strip():
        return
    ctype = ctx.raw.get("description_content_type")
    assert ctype is None or isinstance(ctype, str)
    try:
        rendered = render_description(text, ctype)
    except Exception as exc:  # a renderer crash is a refusal on PyPI too
        rendered = None
        detail = f" ({type(exc).__name__})"
    else:
        detail = ""
    if rendered is None:
        help_url = "https://packaging.python.org/specifications/core-metadata/#description-content-type-optional"
        if ctype:
            yield error(
                f"The description failed to render for {ctype!r}{detail}. See {help_url} for more information.",
                "run `python -m readme_renderer README` to see the markup errors",
            )
        else:
            yield error(
                f"The description failed to render in the default format of reStructuredText{detail}. "
                f"See {help_url} for more information.",
                "declare the format, e.g. readme = {file = \"README.md\", content-type = \"text/markdown\"}",
            )
