"""Map verified OIDC claims to a Fulcio certificate identity (SAN and OID extensions).

This is the one place that decides what a local Sigstore certificate says about its
signer, and it follows Fulcio's issuer types (``pkg/identity/github``, ``gitlabcom``,
``email``; OIDs per Fulcio's ``docs/oid-info.md``) so that the real verification
policies (pypi-attestations' ``GitHubPublisher``/``GitLabPublisher``/
``GooglePublisher``, sigstore-python's ``Identity``) judge local certificates exactly
as they judge real ones.

Usage::

    from trustpub.local._principals import principal_from_claims

    principal = principal_from_claims(verified_claims)   # ValueError if claims are missing
    builder = builder.add_extension(principal.san, critical=True)
    for ext in principal.extensions:
        builder = builder.add_extension(ext, critical=False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from trustpub.local.issuer import GITHUB_ISSUER, GITLAB_ISSUER, GOOGLE_ISSUER

__all__ = ["Principal", "principal_from_claims"]

_ARC = "1.3.6.1.4.1.57264.1."

# Deprecated v1 extensions hold the raw UTF-8 bytes; sigstore-python's Identity
# policy still reads the issuer from .1.1, so every certificate carries it.
_RAW = {
    "issuer": 1,
    "github_workflow_trigger": 2,
    "github_workflow_sha": 3,
    "github_workflow_name": 4,
    "github_workflow_repository": 5,
    "github_workflow_ref": 6,
}
# v2 extensions hold a DER UTF8String.
_DER = {
    "issuer_v2": 8,
    "build_signer_uri": 9,
    "build_signer_digest": 10,
    "runner_environment": 11,
    "source_repository_uri": 12,
    "source_repository_digest": 13,
    "source_repository_ref": 14,
    "source_repository_identifier": 15,
    "source_repository_owner_uri": 16,
    "source_repository_owner_identifier": 17,
    "build_config_uri": 18,
    "build_config_digest": 19,
    "build_trigger": 20,
    "run_invocation_uri": 21,
    "source_repository_visibility_at_signing": 22,
}


@dataclass(frozen=True)
class Principal:
    """What a certificate asserts: the SAN and the Fulcio extensions."""

    san: x509.SubjectAlternativeName
    extensions: tuple[x509.UnrecognizedExtension, ...]
    #: The identity sigstore-python's ``Identity`` policy compares (URI or email).
    identity: str


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _utf8string(value: str) -> bytes:
    raw = value.encode()
    return b"\x0c" + _der_length(len(raw)) + raw


def _extensions(raw: dict[str, str], der: dict[str, str]) -> tuple[x509.UnrecognizedExtension, ...]:
    """Encode, in OID order, skipping empty values (Fulcio omits unset claims)."""
    items: list[tuple[int, bytes]] = []
    for name, value in raw.items():
        if value:
            items.append((_RAW[name], value.encode()))
    for name, value in der.items():
        if value:
            items.append((_DER[name], _utf8string(value)))
    items.sort(key=lambda item: item[0])
    return tuple(x509.UnrecognizedExtension(ObjectIdentifier(_ARC + str(n)), v) for n, v in items)


def _require(claims: dict[str, Any], *names: str) -> None:
    missing = [name for name in names if claims.get(name) in (None, "")]
    if missing:
        raise ValueError(f"token lacks required claim(s): {', '.join(missing)}")


def _str(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    return "" if value is None else str(value)


def _github(claims: dict[str, Any]) -> Principal:
    _require(
        claims,
        "job_workflow_ref",
        "sha",
        "event_name",
        "repository",
        "workflow",
        "ref",
        "repository_id",
        "repository_owner",
        "repository_owner_id",
        "workflow_ref",
        "workflow_sha",
        "run_id",
        "run_attempt",
    )
    c = {name: _str(claims, name) for name in claims}
    base = "https://github.com/"
    signer_uri = base + c["job_workflow_ref"]
    raw = {
        "issuer": c["iss"],
        "github_workflow_trigger": c["event_name"],
        "github_workflow_sha": c["sha"],
        "github_workflow_name": c["workflow"],
        "github_workflow_repository": c["repository"],
        "github_workflow_ref": c["ref"],
    }
    der = {
        "issuer_v2": c["iss"],
        "build_signer_uri": signer_uri,
        "build_signer_digest": c.get("job_workflow_sha", ""),
        "runner_environment": c.get("runner_environment", ""),
        "source_repository_uri": base + c["repository"],
        "source_repository_digest": c["sha"],
        "source_repository_ref": c["ref"],
        "source_repository_identifier": c["repository_id"],
        "source_repository_owner_uri": base + c["repository_owner"],
        "source_repository_owner_identifier": c["repository_owner_id"],
        "build_config_uri": base + c["workflow_ref"],
        "build_config_digest": c["workflow_sha"],
        "build_trigger": c["event_name"],
        "run_invocation_uri": (
            f"{base}{c['repository']}/actions/runs/{c['run_id']}/attempts/{c['run_attempt']}"
        ),
        "source_repository_visibility_at_signing": c.get("repository_visibility", ""),
    }
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(signer_uri)])
    return Principal(san, _extensions(raw, der), signer_uri)


def _gitlab(claims: dict[str, Any]) -> Principal:
    _require(
        claims,
        "project_path",
        "pipeline_source",
        "pipeline_id",
        "ci_config_ref_uri",
        "job_id",
        "ref",
        "ref_type",
        "namespace_path",
        "namespace_id",
        "project_id",
        "sha",
        "runner_environment",
        "runner_id",
    )
    c = {name: _str(claims, name) for name in claims}
    if c["ref_type"] == "branch":
        ref = "refs/heads/" + c["ref"]
    elif c["ref_type"] == "tag":
        ref = "refs/tags/" + c["ref"]
    else:
        raise ValueError(f"unexpected ref_type {c['ref_type']!r}")
    base = "https://gitlab.com/"
    # ci_config_ref_uri has no scheme (gitlab.com/g/p//.gitlab-ci.yml@refs/...).
    config_uri = "https://" + c["ci_config_ref_uri"]
    der = {
        "issuer_v2": c["iss"],
        "build_signer_uri": config_uri,
        "build_signer_digest": c.get("ci_config_sha", ""),
        "runner_environment": c["runner_environment"],
        "source_repository_uri": base + c["project_path"],
        "source_repository_digest": c["sha"],
        "source_repository_ref": ref,
        "source_repository_identifier": c["project_id"],
        "source_repository_owner_uri": base + c["namespace_path"],
        "source_repository_owner_identifier": c["namespace_id"],
        "build_config_uri": config_uri,
        "build_config_digest": c.get("ci_config_sha", ""),
        "build_trigger": c["pipeline_source"],
        "run_invocation_uri": f"{base}{c['project_path']}/-/jobs/{c['job_id']}",
        "source_repository_visibility_at_signing": c.get("project_visibility", ""),
    }
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(config_uri)])
    return Principal(san, _extensions({"issuer": c["iss"]}, der), config_uri)


def _email(claims: dict[str, Any]) -> Principal:
    _require(claims, "email")
    if claims.get("email_verified") is not True:
        raise ValueError("email_verified claim is not true")
    email = str(claims["email"])
    issuer = str(claims["iss"])
    san = x509.SubjectAlternativeName([x509.RFC822Name(email)])
    return Principal(san, _extensions({"issuer": issuer}, {"issuer_v2": issuer}), email)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The certificate identity for already-verified ``claims``.

    GitHub and GitLab tokens get their CI profiles, Google (and any other issuer whose
    token has an ``email`` claim) the email profile. Raises ``ValueError`` when a
    required claim is missing or the issuer is unknown.
    """
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise ValueError("token has no iss claim")
    if issuer == GITHUB_ISSUER:
        return _github(claims)
    if issuer == GITLAB_ISSUER:
        return _gitlab(claims)
    if issuer == GOOGLE_ISSUER or "email" in claims:
        return _email(claims)
    raise ValueError(f"unsupported issuer {issuer!r}")
