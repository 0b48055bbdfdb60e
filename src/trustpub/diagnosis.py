"""Diagnose trusted publishing from inside a CI job: the logic ``trustpub doctor`` shows.

Which CI this is, the OIDC token for the index's audience and its claims, the trusted
publisher to enter on the index, what is likely to go wrong, and (``mint=True``) what
the index answers to a real exchange.  It prints nothing and uploads nothing: the
command line (:mod:`trustpub.commands.doctor`) renders the :class:`DoctorReport`, and a
library caller can act on it::

    report = diagnose_publishing(Registry.parse("testpypi"), mint=True)
    if not report.ok:
        ...
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trustpub.errors import ConfigurationError, TrustpubError
from trustpub.mint import MintError, MintRejected, discover_audience, exchange
from trustpub.oidc import (
    OIDCError,
    Problem,
    PublisherSettings,
    compare_with_publisher,
    detect_ci,
    diagnose,
    publisher_settings,
)
from trustpub.registry import Registry, RegistryKind
from trustpub.transport import Transport

__all__ = ["PLACEHOLDER_PROJECT", "DoctorReport", "MintOutcome", "diagnose_publishing", "find_project"]

_logger = logging.getLogger(__name__)

PLACEHOLDER_PROJECT = "YOUR-PROJECT"


@dataclass(frozen=True)
class MintOutcome:
    """What the index said to a real mint-token request (``--mint``)."""

    ok: bool
    message: str
    code: str | None = None
    hint: str = ""
    expires: str | None = None
    #: The claims and publisher blocks of a refusal (text output shows them once, above).
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class DoctorReport:
    """Everything ``doctor`` found, for text or JSON rendering."""

    index: str
    upload_url: str
    ci: str | None
    provider: str | None
    audience: str | None
    project: str
    project_source: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    publisher: PublisherSettings | None = None
    settings_url: str | None = None
    problems: tuple[Problem, ...] = ()
    mint: MintOutcome | None = None

    @property
    def ok(self) -> bool:
        if any(p.severity == "error" for p in self.problems):
            return False
        if self.mint is not None and not self.mint.ok:
            return False
        return bool(self.claims)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "index": self.index,
            "upload_url": self.upload_url,
            "ci": self.ci,
            "provider": self.provider,
            "audience": self.audience,
            "project": self.project,
            "project_source": self.project_source,
            "claims": dict(self.claims),
            "publisher": None
            if self.publisher is None
            else {
                "kind": self.publisher.kind,
                "fields": dict(self.publisher.fields),
                "spec": self.publisher.spec,
                "settings_url": self.settings_url,
            },
            "problems": [asdict(p) for p in self.problems],
            "mint": None if self.mint is None else asdict(self.mint),
        }


def find_project(explicit: str | None, dist_dir: Path = Path("dist")) -> tuple[str, str]:
    """The project name and where it came from: ``--project``, ``dist/``, or a placeholder."""
    if explicit:
        return explicit, "--project"
    from trustpub.release import parse_filename

    names: set[str] = set()
    if dist_dir.is_dir():
        for path in sorted(dist_dir.iterdir()):
            parsed = parse_filename(path.name)
            if parsed is not None:
                names.add(parsed.name)
    if len(names) == 1:
        return names.pop(), f"{dist_dir}/"
    if names:
        ordered = sorted(names)
        return ordered[0], f"{dist_dir}/ (also: {', '.join(ordered[1:])})"
    return PLACEHOLDER_PROJECT, "placeholder (use --project NAME)"


def _problem_from_error(problem_id: str, exc: TrustpubError) -> Problem:
    return Problem(problem_id, "error", exc.message, exc.hint or "")


def diagnose_publishing(
    registry: Registry,
    *,
    project: str | None = None,
    mint: bool = False,
    env: Mapping[str, str] | None = None,
    transport: Transport | None = None,
    dist_dir: Path = Path("dist"),
    mask: bool = True,
    publisher_spec: str | None = None,
) -> DoctorReport:
    """Run every check ``trustpub doctor`` runs; never raises for what it diagnoses.

    ``publisher_spec`` (``github:OWNER/REPO/WORKFLOW[@ENV]``, …) is the publisher as
    configured on the index; each claim is compared with it. A spec that cannot be
    read raises :class:`~trustpub.errors.ConfigurationError`.
    """
    environ = os.environ if env is None else env
    if publisher_spec is not None:
        try:
            compare_with_publisher(publisher_spec, {})
        except ValueError as exc:
            raise ConfigurationError(str(exc), hint="see `trustpub doctor --help` for the SPEC forms") from None
    project_name, project_source = find_project(project, dist_dir)

    def report(**fields: Any) -> DoctorReport:
        return DoctorReport(
            index=str(registry),
            upload_url=registry.upload_url,
            project=project_name,
            project_source=project_source,
            **fields,
        )

    problems: list[Problem] = []
    if not registry.is_secure:
        problems.append(
            Problem(
                "insecure-index",
                "error",
                f"{registry.upload_url} is plain http to a host that is not loopback; no token or upload will be sent there",
                "use the index's https:// URL",
            )
        )

    detection = detect_ci(environ, transport=transport)
    _logger.debug("doctor: CI %s", detection.ci)
    provider = detection.provider
    if provider is None:
        error = detection.error
        problem_id = {
            "MissingIdTokenPermission": "missing-id-token-permission",
            "ForkPullRequest": "fork-pull-request",
            "NotInCI": "not-in-ci",
        }.get(type(error).__name__, "no-oidc-token")
        if error is not None:
            problems.append(_problem_from_error(problem_id, error))
        problems.extend(p for p in diagnose({}, environ) if p.id not in {q.id for q in problems})
        return report(ci=detection.ci, provider=None, audience=None, problems=tuple(problems))

    if not provider.pypi_accepts and registry.kind is not RegistryKind.CUSTOM:
        problems.append(
            Problem(
                "issuer-not-accepted",
                "error",
                f"{provider.name} tokens can sign Sigstore attestations, but {registry} does not accept them "
                "for trusted publishing (it takes GitHub Actions, GitLab CI/CD, Google Cloud and ActiveState)",
                "upload with an API token (TRUSTPUB_TOKEN)",
            )
        )

    audience: str | None
    try:
        audience = discover_audience(registry, transport=transport)
    except MintError as exc:
        problems.append(_problem_from_error("no-trusted-publishing", exc))
        # Still show the claims for the public indexes, whose audience is known.
        audience = registry.kind.value if registry.kind is not RegistryKind.CUSTOM else None
        if audience is None:
            return report(ci=detection.ci, provider=provider.name, audience=None, problems=tuple(problems))

    try:
        token = provider.fetch(audience)
    except OIDCError as exc:
        problems.append(_problem_from_error("no-oidc-token", exc))
        problems.extend(p for p in diagnose({}, environ) if p.id not in {q.id for q in problems})
        return report(ci=detection.ci, provider=provider.name, audience=audience, problems=tuple(problems))

    claims = dict(token.claims)
    problems.extend(p for p in diagnose(claims, environ) if p.id not in {q.id for q in problems})
    if publisher_spec is not None:
        problems.extend(compare_with_publisher(publisher_spec, claims))
    publisher = publisher_settings(claims)
    settings_url = publisher.settings_url(registry.publishing_settings_url(project_name)) if publisher else None

    outcome: MintOutcome | None = None
    if mint:
        blocking = [p for p in problems if p.severity == "error"]
        if blocking:
            outcome = MintOutcome(False, f"mint not attempted: fix the error(s) above first ({blocking[0].id})")
        else:
            outcome = _try_mint(registry, token, transport, project_name, environ, mask)
            if not outcome.ok:
                problems.append(
                    Problem("mint-rejected", "error", f"the index refused the exchange ({outcome.code or 'error'}); see `mint:` below")
                )

    return report(
        ci=detection.ci,
        provider=provider.name,
        audience=audience,
        claims=claims,
        publisher=publisher,
        settings_url=settings_url,
        problems=tuple(problems),
        mint=outcome,
    )


def _try_mint(
    registry: Registry,
    token: Any,
    transport: Transport | None,
    project: str,
    env: Mapping[str, str],
    mask: bool,
) -> MintOutcome:
    try:
        minted = exchange(registry, token, transport=transport, project=project, env=env, mask=mask)
    except MintRejected as exc:
        return MintOutcome(False, exc.message, exc.code, hint=exc.hint or "", details=tuple(exc.details()))
    except TrustpubError as exc:
        return MintOutcome(False, exc.message, hint=exc.hint or "")
    return MintOutcome(
        True,
        "the index minted an API token for these claims (it was not used, and expires on its own)",
        expires=minted.expires.isoformat(),
    )
