"""Publish a planned release through an Upload 2.0 (PEP 694) session.

The legacy API makes each file public as it lands; a session stages every file and
publishes them at once, so a release that fails half-way leaves nothing public.  This
step takes what the chain already decided (the files still to upload, their
attestations, the credential source) and runs the session: create (or resume) the
publishing session, one file upload session per file with its size and hashes, the
bytes by ``http-post-bytes`` (parallel, retried), the attestations, completion; then,
unless told to stop at the stage, an optional smoke test from the stage preview and
the publish.  On any failure the session is cancelled (or kept with ``keep_stage``).

Discovery is explicit: :func:`choose_upload_api` only asks an index about Upload 2.0
when ``--upload-api`` says so, so nothing new is sent to PyPI or TestPyPI.

The journal holds the session URL and each file's upload session URL, never the
session token: a killed run's successor resumes the same session.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from trustpub.errors import ConfigurationError, TrustpubError
from trustpub.secrets import Secret
from trustpub.upload.upload2 import (
    FileSession,
    PublishingSession,
    SessionGone,
    Upload2Client,
    Upload2Error,
)

if TYPE_CHECKING:
    from trustpub.credentials import CredentialSource
    from trustpub.dists import Distribution
    from trustpub.journal import Journal
    from trustpub.registry import Registry
    from trustpub.request import PublishRequest
    from trustpub.transport import Transport

__all__ = [
    "KeptStage",
    "SessionOutcome",
    "SmokeFailed",
    "StagedRelease",
    "choose_upload_api",
    "find_stage",
    "finish_session",
    "run_smoke",
    "session_client",
    "stage_and_publish",
]

_logger = logging.getLogger(__name__)

#: A resumed session that expires sooner than this is extended first.
EXTEND_BELOW_SECONDS = 15 * 60
#: How much longer to ask for when extending.
EXTEND_BY_SECONDS = 60 * 60
#: The smoke command's time limit (venv + install + command).
SMOKE_TIMEOUT = 600.0


class SmokeFailed(TrustpubError):
    """The ``--smoke`` command failed against the staged release; nothing was published."""


@dataclass(frozen=True)
class StagedRelease:
    """Where the staged (not yet public) release can be looked at and installed from."""

    session_url: str
    stage_url: str | None
    session_token: str | None


@dataclass(frozen=True)
class SessionOutcome:
    """What the session step did: the files it staged, and whether it published them."""

    staged: tuple[str, ...]
    resumed: bool
    published: bool
    stage: StagedRelease


def choose_upload_api(setting: str | None, registry: Registry, transport: Transport, *, say: Callable[[str], None]) -> str | None:
    """The Upload 2.0 root endpoint to use, or None for the legacy API.

    ``setting`` is ``--upload-api``: ``None``/``legacy`` (the default: no discovery, no
    request to anything new), a URL (that root, which must speak Upload 2.0), or
    ``auto`` (probe ``<scheme://host>/2.0/`` of a custom index, legacy if it does not
    answer as Upload 2.0; refused for PyPI and TestPyPI, which define no root yet).
    """
    if setting in (None, "legacy"):
        return None
    client = Upload2Client(transport, _root(setting, registry), Secret(""))
    found = client.discover()
    if setting == "auto":
        say(f"upload API: {'Upload 2.0' if found.supported else 'legacy'} ({found.reason})")
        return found.url if found.supported else None
    if not found.supported:
        raise ConfigurationError(
            f"--upload-api {setting}: not an Upload 2.0 root endpoint ({found.reason})",
            hint="check the URL, or drop --upload-api to use the legacy upload API",
        )
    return found.url


def _root(setting: str, registry: Registry) -> str:
    if setting == "auto":
        if registry.kind.value in ("pypi", "testpypi"):
            raise ConfigurationError(
                f"--upload-api auto: {registry} defines no Upload 2.0 endpoint yet",
                hint="drop --upload-api; the legacy upload API is used",
            )
        parts = urlsplit(registry.upload_url)
        return f"{parts.scheme}://{parts.netloc}/2.0/"
    return setting


def _expiring(session: PublishingSession) -> bool:
    if session.expires_at is None:
        return False
    return (session.expires_at - datetime.now(timezone.utc)).total_seconds() < EXTEND_BELOW_SECONDS


def _open_session(
    client: Upload2Client, journal: Journal, project: str, version: str, say: Callable[[str], None]
) -> tuple[PublishingSession, bool]:
    """The journal's session when it is still open (extended if it expires soon), else a new one."""
    recorded = journal.session()
    if recorded is not None:
        try:
            session = client.status(recorded["url"])
        except SessionGone:
            say("the session of the previous run is gone; starting a new one")
        else:
            if session.status == "open":
                if _expiring(session) and session.extend_url is not None:
                    session = client.extend(session, EXTEND_BY_SECONDS)
                say(f"resuming the Upload 2.0 session of the previous run ({len(session.files)} file(s) in it)")
                return session, True
    session = client.create_session(project, version)
    journal.record_session(session.url, status=session.status)
    return session, False


def stage_and_publish(
    client: Upload2Client,
    dists: Sequence[Distribution],
    attestations: Mapping[str, Sequence[Path]],
    *,
    project: str,
    version: str,
    journal: Journal,
    jobs: int,
    stage_only: bool = False,
    keep_stage: bool = False,
    smoke: str | None = None,
    smoke_timeout: float = SMOKE_TIMEOUT,
    say: Callable[[str], None] = lambda line: None,
    on_staged: Callable[[str], None] | None = None,
) -> SessionOutcome:
    """Stage ``dists`` in one session and publish it (or stop at the stage); cancel on failure.

    ``attestations`` maps a filename to its attestation files.  Files the session
    already holds completed with our sha256 (a resumed session) are not sent again.
    """
    session, resumed = _open_session(client, journal, project, version, say)
    try:
        done = {
            name for name, entry in session.files.items() if entry.status == "completed"
        }
        todo = [d for d in dists if d.filename not in done]
        staged: list[str] = [d.filename for d in dists if d.filename in done]

        def one(dist: Distribution) -> str:
            sha256 = dist.digests.known()[0]
            if sha256 is None:
                from trustpub.dists import ensure_hashes

                ensure_hashes([dist], blake2=False)
                sha256 = dist.sha256
            upload: FileSession = client.create_file(session, dist.filename, dist.size, {"sha256": sha256})
            journal.record_session_file(dist.filename, upload.url)
            if upload.status == "pending":
                client.upload_bytes(upload, dist.path, dist.size, sha256=sha256)
                texts = [Path(p).read_text(encoding="utf-8") for p in attestations.get(dist.filename, ())]
                if texts:
                    client.upload_attestations(upload, texts)
            client.complete_file(upload)
            journal.record(dist.filename, "staged", sha256=sha256)
            if on_staged is not None:
                on_staged(dist.filename)
            return dist.filename

        if todo:
            with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(todo)))) as pool:
                futures = [pool.submit(one, d) for d in todo]
                first: BaseException | None = None
                for future in futures:
                    try:
                        staged.append(future.result())
                    except BaseException as exc:
                        if first is None:
                            first = exc
                            for other in futures:
                                other.cancel()
                if first is not None:
                    raise first
        current = client.status(session.url)
        stage = StagedRelease(current.url, current.stage_url, current.session_token)
        if smoke:
            if stage.stage_url is None:
                raise Upload2Error("--smoke: the index offers no stage preview for this session",
                                   hint="drop --smoke, or use --stage-only and test the release yourself")
            run_smoke(smoke, stage.stage_url, project, version, timeout=smoke_timeout, say=say)
        if stage_only:
            journal.record_session(session.url, status="staged")
            return SessionOutcome(tuple(staged), resumed, False, stage)
        client.publish(current)
        journal.record_session(session.url, status="published")
        return SessionOutcome(tuple(staged), resumed, True, stage)
    except BaseException as exc:
        if keep_stage:
            say(f"the session is kept staged: {session.url} (publish or cancel it with --session)")
            journal.record_session(session.url, status="kept")
        else:
            try:
                client.cancel(session)
            except TrustpubError as cancel_error:
                say(f"could not cancel the session: {cancel_error.message}")
            else:
                say("the Upload 2.0 session was cancelled: nothing of this release became public")
                journal.record_session(session.url, status="canceled")
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise


def finish_session(client: Upload2Client, session_url: str, *, cancel: bool) -> PublishingSession:
    """Publish (or cancel) a session a previous run left staged (``--session``)."""
    session = client.status(session_url)
    if cancel:
        client.cancel(session)
        return session
    if session.status == "published":
        return session
    return client.publish(session)


def run_smoke(
    command: str, stage_url: str, project: str, version: str, *, timeout: float = SMOKE_TIMEOUT,
    say: Callable[[str], None] = lambda line: None, consequence: str = "nothing was published",
    failure_hint: str = "fix the release or the command; the stage was cancelled unless --keep-stage was given",
) -> None:
    """Install ``project==version`` from the stage into a fresh venv, then run ``command`` in it.

    pip is given the stage as its only index (``--no-deps``: a release's dependencies
    come from elsewhere and are not what is being tried), with no other index and the
    user's pip configuration ignored, so the stage URL (and its token) reaches only
    the index host.  ``command`` runs with the venv's ``bin`` first on ``PATH``.
    ``stage_url`` may also be a published index's simple API (:mod:`trustpub.multi`
    runs the smoke test after each index); ``consequence`` and ``failure_hint`` then
    say what a failure means there.
    """
    folder = Path(tempfile.mkdtemp(prefix="trustpub-smoke-"))
    try:
        venv = folder / "venv"
        bindir = venv / ("Scripts" if os.name == "nt" else "bin")
        python = bindir / ("python.exe" if os.name == "nt" else "python")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHONPATH"))}
        env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "VIRTUAL_ENV": str(venv),
                    "PATH": str(bindir) + os.pathsep + env.get("PATH", "")})
        steps: list[tuple[str, list[str] | str]] = [
            ("creating the virtual environment", [sys.executable, "-m", "venv", str(venv)]),
            ("installing the staged release", [str(python), "-m", "pip", "install", "--no-deps", "--no-cache-dir",
                                                "--index-url", stage_url, f"{project}=={version}"]),
            ("running the smoke command", command),
        ]
        for what, argv in steps:
            say(f"smoke: {what}")
            try:
                proc = subprocess.run(argv, shell=isinstance(argv, str), env=env, cwd=folder, capture_output=True,
                                      text=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise SmokeFailed(f"--smoke: {what} took longer than {timeout:g} s; {consequence}",
                                  hint="fix the command, then publish the stage with --session or re-run") from None
            if proc.returncode != 0:
                tail = _tail(proc.stdout + proc.stderr, stage_url)
                raise SmokeFailed(
                    f"--smoke: {what} failed (exit {proc.returncode}); {consequence}" + (f": {tail}" if tail else ""),
                    hint=failure_hint,
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _tail(output: str, stage_url: str) -> str:
    """The last lines of a step's output, the stage URL (a capability) replaced."""
    from trustpub.text import excerpt

    lines = [line for line in output.replace(stage_url, "<stage>").splitlines() if line.strip()]
    return excerpt(" | ".join(lines[-3:]))


def session_client(transport: Transport, root: str, source: CredentialSource, request: PublishRequest) -> Upload2Client:
    """A client for ``root`` that asks ``source`` for the current credentials on every request.

    So a trusted-publishing token re-minted mid-release (or any static credential
    source) works with the sessions exactly as with legacy uploads.
    """
    return Upload2Client(transport, root, lambda: source.credentials().authorization(), timeout=request.timeout)


def _find_session(state_dir: Path, wanted: str) -> tuple[str, dict[str, Any]] | None:
    """(session URL, journal data) of the journal whose session is ``wanted`` (a URL or its last segment)."""
    for path in sorted((state_dir / "journal").glob("*.json")):
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            continue
        session = data.get("session") if isinstance(data, dict) else None
        url = session.get("url") if isinstance(session, dict) else None
        if isinstance(url, str) and (url == wanted or url.rstrip("/").rsplit("/", 1)[-1] == wanted):
            return url, data
    return None


@dataclass(frozen=True)
class KeptStage:
    """A stage an earlier ``--stage-only`` run left, as its journal remembers it."""

    session_url: str
    project: str
    version: str
    #: filename -> sha256 recorded when it was staged ("" when the journal does not say).
    files: Mapping[str, str]


def find_stage(state_dir: Path, wanted: str, root: str) -> KeptStage:
    """The kept stage ``--session wanted`` names, refused unless it is on the index at ``root``.

    ``wanted`` is the session URL or its last path segment (the id ``--stage-only``
    printed); a URL no journal knows is taken as given.  A session on another host is
    refused before any request: this index's credentials are never sent elsewhere.
    """
    found = _find_session(state_dir, wanted)
    data: dict[str, Any] = found[1] if found else {}
    if found is not None:
        url = found[0]
    elif wanted.startswith(("https://", "http://")):
        url = wanted
    else:
        raise ConfigurationError(
            f"--session {wanted}: no journal records a session with this id",
            hint="pass the session URL that --stage-only printed",
        )
    if urlsplit(url).netloc != urlsplit(root).netloc:
        raise ConfigurationError(f"--session {url}: not on the index {urlsplit(root).netloc}",
                                 hint="the credentials of this index are never sent to another host")
    known = data.get("files")
    files: dict[str, str] = {}
    if isinstance(known, dict):
        for name, entry in known.items():
            sha = entry.get("sha256") if isinstance(entry, dict) else None
            files[str(name)] = sha if isinstance(sha, str) else ""
    return KeptStage(url, str(data.get("project") or "?"), str(data.get("version") or "?"), files)
