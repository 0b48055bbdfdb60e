"""``trustpub rehearse``: the whole publish chain against the local PyPI world.

The world (OIDC issuer, Sigstore instance, index) starts on 127.0.0.1; the project is
given a trusted publisher matching a GitHub-shaped identity; ``publish`` runs with
that identity, exactly as it would in a GitHub Actions job; then every file is checked
through the index's integrity API, the way an installer verifying provenance would.

What the report names outlives the rehearsal: the attestations, the release
provenance and the journal are written to ``--dir DIR`` (``DIR/attestations``,
``DIR/state``) when given, else to ``<state dir>/rehearse/<project>/`` (see
:mod:`trustpub.state`), never to the world's temporary folder, which is removed when
the world stops. Journals of earlier rehearsals there are removed first: each
rehearsal's index is new, so they can never be continued.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from trustpub.commands.publish import OutputOptions, execute
from trustpub.errors import ConfigurationError, TrustpubError
from trustpub.orchestrator import PublishResult
from trustpub.registry import Registry
from trustpub.request import PublishRequest
from trustpub.text import printable

if TYPE_CHECKING:
    from trustpub.local.world import LocalWorld


def _project_of(paths: list[Path]) -> str:
    from trustpub.discovery import collect_paths
    from trustpub.dists import inspect

    files, _ = collect_paths(paths)
    if not files:
        raise ConfigurationError(f"no distributions found in {', '.join(map(str, paths))}", hint="build them first (python -m build)")
    from trustpub.release import Release

    return Release.of([inspect(files[0])]).name


def _kept_dir(args: argparse.Namespace, project: str) -> tuple[Path, Path]:
    """(attestations dir, state dir) for the rehearsal: places that outlive the world."""
    from packaging.utils import canonicalize_name

    from trustpub.state import resolve_state_dir

    if args.dir:
        root = Path(args.dir).absolute()
        return root / "attestations", root / "state"
    keep = resolve_state_dir() / "rehearse" / canonicalize_name(project)
    old_journals = keep / "journal"
    if old_journals.is_dir():
        for leftover in old_journals.iterdir():
            if leftover.is_file() and leftover.name.endswith((".json", ".lock", ".tmp")):
                leftover.unlink(missing_ok=True)
    return keep, keep


def verify_provenance(world: LocalWorld, result: PublishResult) -> list[str]:
    """Fetch each file's provenance from the integrity API and verify it; returns problems.

    The same check as ``trustpub verify --provenance``, against the world's trust root
    and the publisher the world's identity is.
    """
    from pypi_attestations import GitHubPublisher
    from sigstore.models import ClientTrustConfig
    from sigstore.verify import Verifier

    from trustpub.attest import verify_provenance as verify_document
    from trustpub.transport import Transport

    transport = Transport()
    config = ClientTrustConfig.from_json(world.trust_config.read_text())
    verifier = Verifier(trusted_root=config.trusted_root)
    ident = world.issuer.github
    publisher = GitHubPublisher(repository=ident.repository, workflow=ident.workflow_file)
    problems = []
    for f in result.files:
        url = result.registry.integrity_url(result.project, result.version, f.filename)
        response = transport.get(url)
        if response.status != 200:
            problems.append(f"{f.filename}: no provenance served ({response.status})")
            continue
        verdict = verify_document(response.data, f.filename, f.sha256, publisher, verifier, source=url)
        if not verdict.ok:
            problems.append(f"{f.filename}: {verdict.failure}")
    return problems


def run(args: argparse.Namespace) -> int:
    from trustpub.local.world import LocalWorld

    paths = [Path(p) for p in (args.paths or ["dist"])]
    for path in paths:
        if not path.exists():
            raise ConfigurationError(f"{path}: no such file or folder")
    project = _project_of(paths)
    attestations_dir, state_dir = _kept_dir(args, project)
    world = LocalWorld.start(args.dir, project=project)
    try:
        env = world.ci_environment()
        def say(line: str) -> None:
            if not args.quiet:
                print(printable(line), file=sys.stderr, flush=True)

        say(f"rehearsal: local index {world.index.upload_url}, Sigstore {world.sigstore.url}, "
            f"identity github:{world.issuer.github.repository}/{world.issuer.github.workflow_file}")
        request = PublishRequest(
            paths=tuple(paths),
            registry=Registry.parse(world.index.upload_url),
            credentials="trusted-publishing",
            sigstore=str(world.trust_config),
            attestations=True,
            slsa=args.slsa,
            jobs=args.jobs,
            uploader=args.uploader,
            uv_binary=args.uv_binary,
            attestations_dir=attestations_dir,
            state_dir=state_dir,
            env=env,
        )
        code, result = execute(request, OutputOptions.from_args(args), env={})
        if code == 0 and result is not None:
            problems = verify_provenance(world, result)
            for problem in problems:
                print(printable(f"trustpub: rehearsal: {problem}"), file=sys.stderr)
            if problems:
                code = 1
            else:
                say(f"rehearsal passed: {len(result.files)} file(s) published with trusted publishing and verified through the integrity API")
        if result is not None:
            kept = "attestations and release provenance" if result.provenance else "attestations"
            say(f"rehearsal: {kept} kept in {attestations_dir}, journal in {state_dir / 'journal'}")
        if args.keep:
            info = world.write_info()
            print(f"world kept running; details in {info}; Ctrl-C to stop", file=sys.stderr)
            stop = threading.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
            stop.wait()
        return code
    except TrustpubError:
        raise
    finally:
        world.stop()
