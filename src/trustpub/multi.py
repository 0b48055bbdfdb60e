"""One release, several indexes: ``trustpub publish --to testpypi,pypi`` (issue 15).

Drives the single-index :class:`~trustpub.orchestrator.Orchestrator` once per index,
in the given order, after doing up front, for all of them, everything that can refuse
the release::

    targets = resolve_targets(to="testpypi,pypi")
    result = publish_many(request, targets, say=print)
    [t.status for t in result.targets]                 # ['landed', 'landed']

Up front, before the first byte leaves (any failure here stops the whole release, and
no index has received anything):

1. every request is validated, the files are inspected and preflighted once (the rules
   are the same for every index today: :mod:`trustpub.checks` takes no index);
2. per index: its credentials are chosen, what it already holds is listed (a file of
   the same name with other bytes stops everything), and whether it gets attestations
   is decided; the same static secret is never sent to two hosts;
3. per index that still needs files: trusted publishing exchanges its OIDC token for
   an upload token, so a publisher missing on the second index fails before the first
   gets a byte;
4. the attestations are made once, for every file some index still needs; existing
   attestation files that verify are reused, so a re-run sends the same bundles.

Then each index in turn: its own journal (keyed by its upload URL), plan, upload and
verification; ``--smoke CMD`` afterwards installs the release from that index's simple
API into a fresh venv and runs CMD (an Upload 2.0 index runs it against its stage,
before publishing). A failure stops the later indexes. Last, one release provenance
is signed, listing every index (SLSA external parameter ``indexes``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from trustpub.errors import ConfigurationError, TrustpubError
from trustpub.multi_result import REPORT_SCHEMA, MultiPublishResult, TargetOutcome
from trustpub.orchestrator import Orchestrator, PublishResult
from trustpub.prepared import PreparedTarget
from trustpub.request import PublishRequest
from trustpub.target_list import IndexTarget

if TYPE_CHECKING:
    from trustpub.attest import AttestedFile, Attester
    from trustpub.auth import CredentialSource
    from trustpub.dists import Distribution
    from trustpub.transport import Transport
    from trustpub.upload.progress import UploadProgress

__all__ = ["REPORT_SCHEMA", "MultiPublishFailed", "MultiPublishResult", "TargetOutcome", "publish_many"]

_logger = logging.getLogger(__name__)


class MultiPublishFailed(TrustpubError):
    """The release stopped at one index; ``result`` says what every index holds.

    Keeps the cause's message, hint and exit code.
    """

    def __init__(self, cause: TrustpubError, result: MultiPublishResult, message: str) -> None:
        super().__init__(message, hint=cause.hint)
        self.cause = cause
        self.result = result
        self.exit_code = cause.exit_code


@dataclass
class _Plan:
    """One index after the up-front checks."""

    outcome: TargetOutcome
    request: PublishRequest
    source: CredentialSource | None = None
    todo: int = 0
    attestations: bool = False


def publish_many(
    base: PublishRequest,
    targets: Sequence[IndexTarget],
    *,
    say: Callable[[str], None] | None = None,
    progress: Callable[[], UploadProgress] | None = None,
    transport: Transport | None = None,
) -> MultiPublishResult:
    """Publish ``base``'s files to every index of ``targets``, in order (module docstring).

    ``base.registry`` is ignored; each index's request is ``base`` with its index,
    URL credentials and ``.pypirc`` section. ``progress`` makes each index's upload
    display (a fresh one per index, so its totals are that index's). Raises :class:`MultiPublishFailed` (with
    the per-index result) when an index refuses or fails, or a plain
    :class:`TrustpubError` when the files or options are refused before any index.
    """
    started = time.monotonic()
    tell = say or (lambda line: None)
    if len(targets) < 2:
        raise ConfigurationError("publish_many needs two indexes or more", hint="use Orchestrator.publish for one")
    requests = _requests(base, targets)
    for request in requests:
        request.validate()
    result = MultiPublishResult([TargetOutcome(t) for t in targets], dry_run=base.dry_run)
    if base.dry_run:
        return _dry_run(requests, result, tell, started)

    from trustpub.transport import Transport

    transport = transport or Transport(timeout=base.timeout, maxsize=max(4, base.jobs))
    orchestrator = Orchestrator(say=tell, transport=transport)
    dists = orchestrator.preflight(requests[0])
    plans = [_Plan(outcome, request) for outcome, request in zip(result.targets, requests, strict=True)]
    current = plans[0]
    try:
        for current in plans:
            current.source = orchestrator.credentials_for(current.request, transport)
        _refuse_shared_secrets(plans)
        for current in plans:
            _check_target(orchestrator, current, dists, transport, tell, smoke=base.smoke)
        for current in plans:
            _exchange(current, any(p.attestations for p in plans), tell)
        attester, attested = _attest_once(orchestrator, plans, dists, tell)
    except TrustpubError as exc:
        current.outcome.status, current.outcome.error = "refused", str(exc)
        result.error = f"{current.outcome.index.name}: {exc.message}; nothing was uploaded to any index"
        result.elapsed = time.monotonic() - started
        raise MultiPublishFailed(exc, result, result.error) from exc

    for number, plan in enumerate(plans, 1):
        name = plan.outcome.index.name
        url = plan.request.registry.upload_url
        tell(f"== index {number}/{len(plans)}: {name}" + (f" ({url})" if url != name else ""))
        uploading = Orchestrator(say=tell, transport=transport, progress=progress() if progress else None)
        assert plan.source is not None
        prepared = PreparedTarget(dists, plan.source, plan.attestations, attested if plan.attestations else {})
        try:
            try:
                published = uploading.publish(plan.request, prepared=prepared)
            except TrustpubError as exc:
                plan.outcome.result = getattr(exc, "result", None)
                raise
            plan.outcome.result = published
            result.project, result.version = published.project, published.version
            if base.smoke and published.upload_api != "upload-2.0":
                _smoke(base.smoke, plan, plans[number:], published, tell)
            plan.outcome.smoke = "passed" if base.smoke else None
        except TrustpubError as exc:
            from trustpub.upload.session import SmokeFailed

            plan.outcome.status, plan.outcome.error = "failed", str(exc)
            if isinstance(getattr(exc, "cause", exc), SmokeFailed):
                plan.outcome.smoke = "failed"
            later = [p.outcome.index.name for p in plans[number:]]
            stop = f"; not attempted: {', '.join(later)}" if later else ""
            result.error = f"{name}: {exc.message}{stop}"
            result.elapsed = time.monotonic() - started
            raise MultiPublishFailed(exc, result, result.error) from exc
        plan.outcome.status = "landed"

    if any(p.attestations for p in plans):
        try:
            result.provenance = _provenance(orchestrator, plans, dists, attester)
        except TrustpubError as exc:
            result.error = f"release provenance: {exc.message}"
            result.elapsed = time.monotonic() - started
            raise MultiPublishFailed(exc, result, result.error) from exc
        for plan in plans:
            if plan.outcome.result is not None:
                plan.outcome.result.provenance = result.provenance
    result.elapsed = time.monotonic() - started
    return result


# -- up front ------------------------------------------------------------------------


def _requests(base: PublishRequest, targets: Sequence[IndexTarget]) -> list[PublishRequest]:
    """One request per index; options that name a single index are refused or placed."""
    for flag, on in (("--stage-only", base.stage_only), ("--keep-stage", base.keep_stage),
                     ("--session", base.session is not None), ("--cancel", base.cancel_session)):
        if on:
            raise ConfigurationError(f"{flag} works on one index; --to names {len(targets)}",
                                     hint="publish to each index on its own for staged releases")
    if base.simple_url is not None:
        raise ConfigurationError(f"--simple-url names one index's simple API; --to names {len(targets)}",
                                 hint="drop --simple-url: each index is asked through its own simple API")
    if base.smoke is not None and not base.smoke.strip():
        raise ConfigurationError("--smoke needs a command", hint='e.g. --smoke "python -c \'import pkg\'"')
    from urllib.parse import urlsplit

    api = base.upload_api
    hosts = [urlsplit(t.registry.upload_url).netloc for t in targets]
    if api not in (None, "legacy", "auto") and urlsplit(str(api)).netloc not in hosts:
        raise ConfigurationError(f"--upload-api {api}: on none of the --to indexes",
                                 hint="give the Upload 2.0 root of one of the indexes, or --upload-api auto")
    requests = []
    for target, host in zip(targets, hosts, strict=True):
        if api in (None, "legacy"):
            chosen: str | None = None
        elif api == "auto":
            # auto is for custom indexes: PyPI and TestPyPI define no Upload 2.0 root yet.
            chosen = None if target.registry.kind.value in ("pypi", "testpypi") else "auto"
        else:
            chosen = api if urlsplit(str(api)).netloc == host else None
        requests.append(replace(
            base, registry=target.registry, url_credentials=target.target.userinfo,
            url_credentials_source=target.target.userinfo_source or "the index URL",
            repository=target.repository, upload_api=chosen,
            # A legacy index gets its smoke test from publish_many, after its upload.
            smoke=base.smoke if chosen not in (None, "auto") else None,
        ))
    return requests


def _dry_run(requests: Sequence[PublishRequest], result: MultiPublishResult, tell: Callable[[str], None],
             started: float) -> MultiPublishResult:
    orchestrator = Orchestrator(say=tell)
    for outcome, request in zip(result.targets, requests, strict=True):
        tell(f"== index {outcome.index.name} ({request.registry.upload_url}): dry run")
        outcome.result = orchestrator.publish(replace(request, upload_api=None, smoke=None))
        outcome.status = "landed"
        result.project, result.version = outcome.result.project, outcome.result.version
    result.elapsed = time.monotonic() - started
    return result


def _check_target(orchestrator: Orchestrator, plan: _Plan, dists: Sequence[Distribution], transport: Transport,
                  tell: Callable[[str], None], *, smoke: str | None) -> None:
    """What the index holds listed (a conflict stops here), attestations and Upload 2.0 decided."""
    from trustpub.upload.engine import plan_release

    request = plan.request
    name = plan.outcome.index.name
    assert plan.source is not None
    present = plan_release(dists, orchestrator.lookup_for(request, transport, plan.source))
    plan.todo = len(dists) - len(present)
    plan.attestations = orchestrator.attestations_wanted(request, plan.source)
    if request.upload_api == "auto" and plan.todo:
        from trustpub.upload.session import choose_upload_api

        root = choose_upload_api("auto", request.registry, transport, say=tell)
        # An index that speaks Upload 2.0 runs the smoke test on its stage, before publishing;
        # a legacy one gets it from publish_many, after its upload.
        plan.request = replace(request, upload_api=root or "legacy", smoke=smoke if root is not None else None)
    _logger.debug("%s: %d to upload, %d present, attestations %s, upload API %s", name, plan.todo, len(present),
                  plan.attestations, plan.request.upload_api or "legacy")
    tell(f"checked {name}: {plan.todo} to upload, {len(present)} already there"
         + (", with attestations" if plan.attestations else ""))


def _refuse_shared_secrets(plans: Sequence[_Plan]) -> None:
    """A static secret found for two hosts is refused: a credential goes to its own index only.

    ``TRUSTPUB_TOKEN`` and ``TWINE_PASSWORD`` name no index, so with several indexes
    the same token would reach each; a PyPI token must never be sent to TestPyPI.
    """
    from urllib.parse import urlsplit

    from trustpub.auth import StaticCredentials

    seen: dict[str, tuple[str, str, str]] = {}
    for plan in plans:
        if not isinstance(plan.source, StaticCredentials):
            continue
        creds = plan.source.credentials()
        host = urlsplit(plan.request.registry.upload_url).netloc  # another port is another service
        key = creds.password.reveal()
        if key in seen and seen[key][0] != host:
            _, first_name, where = seen[key]
            raise ConfigurationError(
                f"the same credentials ({where}) would be sent to {first_name} and {plan.outcome.index.name}; "
                "a credential is only sent to the index it is for",
                hint="give each index its own: user:password@ in its --to URL, a .pypirc section named in --to, "
                "or trusted publishing",
            )
        seen.setdefault(key, (host, plan.outcome.index.name, creds.source))


def _exchange(plan: _Plan, signing: bool, tell: Callable[[str], None]) -> None:
    """Trusted publishing: the first upload token of this index, minted now."""
    from trustpub.mint import TokenSource

    if plan.todo and isinstance(plan.source, TokenSource):
        plan.source.preflight(also=("sigstore",) if signing else ())
        plan.source.credentials()
        tell(f"trusted publishing: token minted for {plan.outcome.index.name}")


def _attest_once(orchestrator: Orchestrator, plans: Sequence[_Plan], dists: Sequence[Distribution],
                 tell: Callable[[str], None]) -> tuple[Attester | None, dict[str, AttestedFile]]:
    """Sign (or reuse) the attestations of every file once, for every index that takes them."""
    wanting = [p for p in plans if p.attestations and p.todo]
    if not wanting:
        return None, {}
    from trustpub.dists import ensure_hashes
    from trustpub.mint import TokenSource

    signer = next((p for p in wanting if isinstance(p.source, TokenSource)), wanting[0])
    assert signer.source is not None
    attester = orchestrator.attester_for(signer.request, signer.source)
    ensure_hashes(list(dists), blake2=False)
    attested = {a.filename: a for a in attester.attest(list(dists))}
    made = sum(not a.reused for a in attested.values())
    tell(f"attestations: {made} signed, {len(attested) - made} reused, the same for every index")
    return attester, attested


# -- after each index ----------------------------------------------------------------


def _smoke(command: str, plan: _Plan, later: Sequence[_Plan], published: PublishResult,
           tell: Callable[[str], None]) -> None:
    from trustpub.upload.session import run_smoke

    name = plan.outcome.index.name
    consequence = f"{name} has the release" + ("; the next index was not started" if later else "")
    simple = plan.request.registry.simple_root()
    tell(f"smoke: installing {published.project}=={published.version} from {name} ({simple})")
    run_smoke(
        command, simple, published.project, published.version, say=tell,
        consequence=consequence,
        failure_hint="fix the release (a new version) or the command; a re-run skips what each index holds "
        "and smoke-tests again before going on",
    )


def _provenance(orchestrator: Orchestrator, plans: Sequence[_Plan], dists: Sequence[Distribution],
                attester: Attester | None) -> Path:
    """One signed release provenance naming every index; a re-run keeps the one it finds."""
    from trustpub.attest import default_provenance_dir, release_provenance_name
    from trustpub.state import resolve_state_dir

    first = plans[0].request
    urls = [p.request.registry.upload_url for p in plans]
    out_dir = default_provenance_dir(first.attestations_dir, state_dir=resolve_state_dir(first.state_dir),
                                     registry="\n".join(urls))
    path = out_dir / release_provenance_name(d.filename for d in dists)
    if path.exists() and attester is None:
        return path
    if attester is None:
        signer = next(p for p in plans if p.attestations)
        assert signer.source is not None
        attester = orchestrator.attester_for(signer.request, signer.source)
    return attester.release_provenance(dists, out_dir=out_dir, indexes=urls)
