"""``trustpub doctor``: diagnose trusted publishing from inside the CI job.

It detects the CI, fetches an OIDC token for the index's audience, shows the decoded
claims (never the token), prints the trusted publisher to enter on the index (with a
link to the project's publishing settings, pre-filled), lists what is likely to go
wrong, and with ``--mint`` tries a real exchange and explains the index's answer.
It never uploads anything. Exit 0: publishing would work; 1: it would not; 2: usage.

As a library::

    report = diagnose_publishing(Registry.parse("testpypi"), mint=True)
    if not report.ok:
        print("\\n".join(render_text(report)))
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
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
    shown_claims,
)
from trustpub.registry import Registry, RegistryKind
from trustpub.text import printable
from trustpub.transport import Transport

__all__ = ["DoctorReport", "MintOutcome", "diagnose_publishing", "find_project", "render_text", "run"]

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
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    names: set[str] = set()
    if dist_dir.is_dir():
        for path in sorted(dist_dir.iterdir()):
            try:
                if path.name.endswith(".whl"):
                    names.add(parse_wheel_filename(path.name)[0])
                elif path.name.endswith((".tar.gz", ".zip")):
                    names.add(parse_sdist_filename(path.name)[0])
            except (InvalidWheelFilename, InvalidSdistFilename):
                continue
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


def render_text(report: DoctorReport) -> list[str]:
    """The human report, one line per entry (goes to stderr)."""
    target = report.index if report.index == report.upload_url else f"{report.index} ({report.upload_url})"
    lines = [f"trustpub doctor: trusted publishing to {target}"]
    lines.append(f"  CI:       {report.ci or 'none detected'}")
    if report.provider and report.provider != report.ci:
        lines.append(f"  identity: {report.provider}")
    if report.audience:
        lines.append(f"  audience: {report.audience}")
    if report.claims:
        lines.append("OIDC token claims (decoded; the token itself is never shown):")
        lines.extend(f"  {name}: {value}" for name, value in shown_claims(report.claims).items())
    if report.publisher is not None:
        lines.append(
            f"trusted publisher to enter on {report.index} for project {report.project!r} "
            f"[{report.project_source}] ({report.publisher.kind}):"
        )
        lines.extend(f"  {line}" for line in report.publisher.lines())
        lines.append(f"  spec:     {report.publisher.spec}")
        if report.settings_url:
            lines.append(f"  settings: {report.settings_url}")
    if report.problems:
        lines.append("problems:")
        for problem in report.problems:
            lines.append(f"  {problem.severity:<7} [{problem.id}] {problem.message}")
            if problem.hint:
                lines.append(f"          fix: {problem.hint}")
    if report.mint is not None:
        lines.append(f"mint: {'OK' if report.mint.ok else 'FAILED'}: {report.mint.message}")
        if report.mint.hint:
            lines.append(f"      fix: {report.mint.hint}")
        if report.mint.expires:
            lines.append(f"  expires: {report.mint.expires}")
    if report.ok:
        verdict = "publishing would work" if report.mint is not None else "looks right (add --mint to try a real exchange)"
    else:
        errors = sum(1 for p in report.problems if p.severity == "error")
        verdict = f"publishing would NOT work ({errors} error{'s' if errors != 1 else ''})"
    lines.append(f"result: {verdict}")
    return lines


def run(args: argparse.Namespace) -> int:
    registry = Registry.parse(args.to)
    as_json = bool(getattr(args, "json", False))
    report = diagnose_publishing(
        registry,
        project=getattr(args, "project", None),
        mint=bool(getattr(args, "mint", False)),
        publisher_spec=getattr(args, "publisher", None),
        # The ::add-mask:: line would corrupt the JSON document on stdout; the
        # minted token is never printed anyway.
        mask=not as_json,
    )
    if as_json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    if not getattr(args, "quiet", False) or not report.ok:
        # Claims and the index's answers are outside text: each line escaped.
        print("\n".join(printable(line) for line in render_text(report)), file=sys.stderr)
    return 0 if report.ok else 1
