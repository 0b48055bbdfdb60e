"""Identities: the publisher an index checks attestations against, and who signed one.

PyPI verifies an attestation against the *trusted publisher as configured*, and it
found that publisher by matching the upload token's claims. For GitHub it matches the
workflow file in ``job_workflow_ref`` (the workflow that runs the job), while the
attestation's certificate names the workflow in ``workflow_ref`` (the caller) in its
Build Config URI. :func:`publisher_from_claims` therefore builds the publisher from
``job_workflow_ref``, i.e. what the index will check; when the job runs in a reusable
workflow the two differ, and :func:`predict_rejection` says so *before* anything is
signed (PyPI would refuse the attestation with "Build Config URI ... does not match").

:func:`parse_publisher_spec` reads the ``--publisher`` spelling shared with
``trustpub doctor``; :func:`certificate_identity` reads who a certificate names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trustpub.errors import ConfigurationError
from trustpub.oidc import GITHUB_ISSUER, GITLAB_ISSUER, GOOGLE_ISSUER, compare_with_publisher

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from pypi_attestations import Publisher

__all__ = [
    "CertificateIdentity",
    "certificate_identity",
    "describe_publisher",
    "parse_publisher_spec",
    "predict_rejection",
    "publisher_from_claims",
]

_GITHUB_WORKFLOW = re.compile(r"^(?P<repo>[^/]+/[^/]+)/\.github/workflows/(?P<file>[^/@]+)@(?P<ref>.+)$")


def _github_workflow_file(ref: str) -> str | None:
    match = _GITHUB_WORKFLOW.match(ref)
    return match.group("file") if match else None


def publisher_from_claims(claims: Mapping[str, Any]) -> Publisher:
    """The publisher an index will check this token's attestations against.

    GitHub: ``repository`` and the workflow file of ``job_workflow_ref`` (what PyPI
    matched the trusted publisher on), environment as in the token. GitLab:
    ``project_path`` and the file path of ``ci_config_ref_uri``. Google: ``email``.
    Raises :class:`~trustpub.errors.ConfigurationError` for other issuers, which
    PyPI does not accept attestations from.
    """
    from pypi_attestations import GitHubPublisher, GitLabPublisher, GooglePublisher

    iss = str(claims.get("iss", "")).rstrip("/")
    environment = claims.get("environment") or None
    if iss == GITHUB_ISSUER:
        repository = str(claims.get("repository") or "")
        workflow = _github_workflow_file(str(claims.get("job_workflow_ref") or ""))
        if not repository or not workflow:
            raise ConfigurationError(
                "the GitHub Actions token lacks repository or job_workflow_ref; cannot tell which publisher "
                "will check the attestations",
            )
        return GitHubPublisher(repository=repository, workflow=workflow, environment=environment)
    if iss == GITLAB_ISSUER:
        project = str(claims.get("project_path") or "")
        config = str(claims.get("ci_config_ref_uri") or "")
        path = config.split("//", 1)[1].rsplit("@", 1)[0] if "//" in config else ""
        if not project or not path:
            raise ConfigurationError("the GitLab token lacks project_path or ci_config_ref_uri")
        return GitLabPublisher(repository=project, workflow_filepath=path, environment=environment)
    if iss == GOOGLE_ISSUER:
        email = str(claims.get("email") or "")
        if not email:
            raise ConfigurationError("the Google token has no email claim")
        return GooglePublisher(email=email)
    raise ConfigurationError(
        f"PyPI accepts attestations only from GitHub Actions, GitLab CI/CD (gitlab.com) and Google Cloud; "
        f"this token's issuer is {iss or 'missing'!r}",
        hint="upload without attestations from this CI, or publish from a supported one",
    )


def parse_publisher_spec(spec: str) -> Publisher:
    """``github:OWNER/REPO/WORKFLOW_FILE[@ENV]``, ``gitlab:NS/PROJECT/PATH[@ENV]``, ``google:EMAIL``.

    The same spelling ``trustpub doctor --publisher`` reads. A GitLab namespace may
    have subgroups; the last segment is the pipeline file, or write
    ``gitlab:NS/PROJECT//path/to/file.yml`` (GitLab's own notation) when the file
    lives in a folder. Raises :class:`~trustpub.errors.ConfigurationError`.
    """
    from pypi_attestations import GitHubPublisher, GitLabPublisher, GooglePublisher

    hint = "SPEC is github:OWNER/REPO/WORKFLOW_FILE[@ENV], gitlab:NAMESPACE/PROJECT/WORKFLOW_FILEPATH[@ENV] or google:EMAIL"
    try:
        compare_with_publisher(spec, {})  # the shared syntax check (doctor uses it too)
    except ValueError as exc:
        raise ConfigurationError(str(exc), hint=hint) from None
    kind, _, rest = spec.partition(":")
    kind = kind.lower()
    if kind == "google":
        return GooglePublisher(email=rest)
    body, _, environment = rest.partition("@")
    if kind == "github":
        owner, repo, workflow = body.split("/")
        return GitHubPublisher(repository=f"{owner}/{repo}", workflow=workflow, environment=environment or None)
    if "//" in body:
        project, _, path = body.partition("//")
    else:
        project, _, path = body.rpartition("/")
    if "/" not in project or not path or not all(project.split("/")):
        raise ConfigurationError(f"publisher spec {spec!r} is not gitlab:NAMESPACE/PROJECT/WORKFLOW_FILEPATH[@ENV]", hint=hint)
    return GitLabPublisher(repository=project, workflow_filepath=path, environment=environment or None)


def describe_publisher(publisher: Publisher) -> str:
    """``GitHub octo-org/demo, workflow release.yml`` (for messages)."""
    kind = getattr(publisher, "kind", "?")
    if kind == "GitHub":
        return f"GitHub {publisher.repository}, workflow {publisher.workflow}"  # type: ignore[union-attr]
    if kind == "GitLab":
        return f"GitLab {publisher.repository}, pipeline file {publisher.workflow_filepath}"  # type: ignore[union-attr]
    if kind == "Google":
        return f"Google service account {publisher.email}"  # type: ignore[union-attr]
    return str(kind)


def predict_rejection(claims: Mapping[str, Any], publisher: Publisher) -> str | None:
    """Why a certificate for these claims would fail ``publisher``'s policy, or None.

    Fulcio copies the claims into the certificate (issuer, source repository, Build
    Config URI from ``workflow_ref`` / ``ci_config_ref_uri``), so the outcome of
    PyPI's check is known before signing. Claims that are missing give None: the
    verification after signing decides.
    """
    kind = getattr(publisher, "kind", None)
    iss = str(claims.get("iss", "")).rstrip("/")
    if kind == "GitHub":
        if iss != GITHUB_ISSUER:
            return f"the signing identity is from {iss or 'an unknown issuer'!r}, not GitHub Actions"
        repository = str(claims.get("repository") or "")
        workflow_ref = str(claims.get("workflow_ref") or "")
        if not repository or not workflow_ref:
            return None
        if repository != publisher.repository:  # type: ignore[union-attr]
            return (
                f"the certificate will name repository {repository!r}, but the index checks "
                f"{publisher.repository!r}"  # type: ignore[union-attr]
            )
        caller = _github_workflow_file(workflow_ref)
        if caller != publisher.workflow:  # type: ignore[union-attr]
            job = _github_workflow_file(str(claims.get("job_workflow_ref") or ""))
            reusable = (
                f" (this job runs in the reusable workflow {job!r}, called from {caller!r}: PyPI matches the "
                f"token on the called file and the attestation on the caller, so they cannot both pass)"
                if job and job != caller
                else ""
            )
            return (
                f"the certificate's Build Config URI will name workflow {caller!r} (workflow_ref), but the index "
                f"checks attestations against {publisher.workflow!r}{reusable}"  # type: ignore[union-attr]
            )
        return None
    if kind == "GitLab":
        if iss != GITLAB_ISSUER:
            return f"the signing identity is from {iss or 'an unknown issuer'!r}, not gitlab.com"
        project = str(claims.get("project_path") or "")
        if project and project != publisher.repository:  # type: ignore[union-attr]
            return f"the certificate will name project {project!r}, but the index checks {publisher.repository!r}"  # type: ignore[union-attr]
        config = str(claims.get("ci_config_ref_uri") or "")
        path = config.split("//", 1)[1].rsplit("@", 1)[0] if "//" in config else None
        if path is not None and path != publisher.workflow_filepath:  # type: ignore[union-attr]
            return (
                f"the certificate will name pipeline file {path!r}, but the index checks "
                f"{publisher.workflow_filepath!r}"  # type: ignore[union-attr]
            )
        return None
    if kind == "Google":
        email = claims.get("email")
        if iss != GOOGLE_ISSUER:
            return f"the signing identity is from {iss or 'an unknown issuer'!r}, not Google"
        if email is not None and email != publisher.email:  # type: ignore[union-attr]
            return f"the certificate will name {email!r}, but the index checks {publisher.email!r}"  # type: ignore[union-attr]
    return None


# -- certificates -----------------------------------------------------------------

_ARC = "1.3.6.1.4.1.57264.1."
# Name, OID suffix and whether the value is raw bytes (v1) or a DER UTF8String (v2).
_EXTENSIONS: tuple[tuple[str, int, bool], ...] = (
    ("issuer", 8, False),
    ("issuer_v1", 1, True),
    ("build_signer_uri", 9, False),
    ("runner_environment", 11, False),
    ("source_repository_uri", 12, False),
    ("source_repository_digest", 13, False),
    ("source_repository_ref", 14, False),
    ("build_config_uri", 18, False),
    ("build_trigger", 20, False),
    ("run_invocation_uri", 21, False),
    ("workflow_repository", 5, True),
    ("workflow_ref", 6, True),
    ("workflow_sha", 3, True),
)


def _der_utf8(value: bytes) -> str:
    # A DER UTF8String (tag 0x0C) with a short or long length.
    if len(value) < 2 or value[0] != 0x0C:
        return value.decode("utf-8", "replace")
    length = value[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(value[2 : 2 + count], "big")
        offset = 2 + count
    return value[offset : offset + length].decode("utf-8", "replace")


@dataclass(frozen=True)
class CertificateIdentity:
    """Who a Fulcio certificate says signed: SAN, issuer and the CI facts it carries."""

    san: str
    issuer: str
    repository: str
    workflow: str
    ref: str
    sha: str
    build_signer_uri: str
    run_invocation_uri: str
    not_before: str
    not_after: str
    extensions: Mapping[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "san": self.san,
            "issuer": self.issuer,
            "repository": self.repository,
            "workflow": self.workflow,
            "ref": self.ref,
            "sha": self.sha,
            "build_signer_uri": self.build_signer_uri,
            "run_invocation_uri": self.run_invocation_uri,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "extensions": dict(self.extensions),
        }


def certificate_identity(certificate: Certificate) -> CertificateIdentity:
    """Read SAN and Fulcio extensions (no verification: see ``trustpub verify``)."""
    from cryptography import x509

    from trustpub.attest._statements import rfc3339

    san = ""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        values = [str(v) for v in names.get_values_for_type(x509.UniformResourceIdentifier)]
        values += [str(v) for v in names.get_values_for_type(x509.RFC822Name)]
        san = values[0] if values else ""
    except x509.ExtensionNotFound:
        pass
    found: dict[str, str] = {}
    for name, suffix, raw in _EXTENSIONS:
        try:
            ext = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier(_ARC + str(suffix)))
        except x509.ExtensionNotFound:
            continue
        data = ext.value.public_bytes() if hasattr(ext.value, "public_bytes") else b""
        found[name] = data.decode("utf-8", "replace") if raw else _der_utf8(data)
    issuer = found.get("issuer") or found.get("issuer_v1", "")
    repository = found.get("source_repository_uri") or found.get("workflow_repository", "")
    return CertificateIdentity(
        san=san,
        issuer=issuer,
        repository=repository,
        workflow=found.get("build_config_uri", ""),
        ref=found.get("source_repository_ref") or found.get("workflow_ref", ""),
        sha=found.get("source_repository_digest") or found.get("workflow_sha", ""),
        build_signer_uri=found.get("build_signer_uri", ""),
        run_invocation_uri=found.get("run_invocation_uri", ""),
        not_before=rfc3339(certificate.not_valid_before_utc),
        not_after=rfc3339(certificate.not_valid_after_utc),
        extensions=found,
    )
