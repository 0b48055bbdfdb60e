"""``trustpub publish``: the release, end to end (see :mod:`trustpub.orchestrator`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trustpub import api
from trustpub.commands._release_output import progress_printer, report_stop
from trustpub.errors import TrustpubError
from trustpub.orchestrator import PublishResult
from trustpub.request import PublishRequest

if TYPE_CHECKING:
    from trustpub.target_list import IndexTarget


def build_targets(args: argparse.Namespace, *, env: Mapping[str, str] | None = None) -> list[IndexTarget]:
    """Every index of ``--to`` (a list: ``--to testpypi,pypi``), in order; one without a list."""
    from trustpub.target_list import resolve_targets

    return resolve_targets(
        to=getattr(args, "to", None), testpypi=bool(getattr(args, "testpypi", False)),
        repository=args.repository, env=env,
    )


def build_request(
    args: argparse.Namespace, *, env: Mapping[str, str] | None = None, targets: list[IndexTarget] | None = None
) -> PublishRequest:
    """The request ``trustpub publish`` was asked for; the index is chosen by :func:`resolve_target`.

    Reads ``.pypirc`` only to learn the URL of ``--repository``/``TWINE_REPOSITORY``;
    credentials are chosen later, for that index only. With several ``--to`` indexes
    this is the request of the first; :func:`trustpub.multi.publish_many` derives the others.
    """
    from trustpub.keyring_lookup import keyring_provider

    first = (targets or build_targets(args, env=env))[0]
    target = first.target
    paths = tuple(Path(p) for p in (args.paths or ["dist"]))
    return PublishRequest(
        paths=paths,
        registry=target.registry,
        url_credentials=target.userinfo,
        url_credentials_source=target.userinfo_source or "the index URL",
        keyring_provider=keyring_provider(getattr(args, "keyring_provider", None), env),
        dry_run=args.dry_run,
        credentials=args.credentials,
        repository=args.repository or first.repository,
        sigstore=args.sigstore,
        attestations=args.attestations,
        slsa=args.slsa,
        jobs=args.jobs,
        uploader=args.uploader,
        uv_binary=args.uv_binary,
        attestations_dir=Path(args.attestations_dir) if args.attestations_dir else None,
        state_dir=Path(args.state_dir) if getattr(args, "state_dir", None) else None,
        simple_url=args.simple_url,
        timeout=getattr(args, "timeout", None),
        env=env,
        upload_api=getattr(args, "upload_api", None),
        stage_only=bool(getattr(args, "stage_only", False)),
        keep_stage=bool(getattr(args, "keep_stage", False)),
        smoke=getattr(args, "smoke", None),
        session=getattr(args, "session", None),
        cancel_session=bool(getattr(args, "cancel", False)),
    )


@dataclass(frozen=True)
class OutputOptions:
    """How a release is shown: ``json`` puts the result on stdout, ``quiet`` keeps stderr to errors.

    Kept apart from :class:`PublishRequest` (what to publish) so that :func:`execute`
    takes no argparse object: ``rehearse`` and tests call it with plain values.
    """

    json: bool = False
    quiet: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> OutputOptions:
        return cls(json=bool(getattr(args, "json", False)), quiet=bool(getattr(args, "quiet", False)))


def execute(
    request: PublishRequest, output: OutputOptions, *, env: Mapping[str, str] | None = None
) -> tuple[int, PublishResult | None]:
    """Run the orchestrator and print every report; returns (exit code, result)."""
    from trustpub.secrets import mask_on_stderr

    with mask_on_stderr(output.json):
        return _execute(request, output, env=env)


def _execute(
    request: PublishRequest, output: OutputOptions, *, env: Mapping[str, str] | None = None
) -> tuple[int, PublishResult | None]:
    from trustpub.report import render_text, write_ci_summary

    environ = os.environ if env is None else env
    quiet = output.quiet
    say = progress_printer(quiet)
    result: PublishResult | None = None
    code = 0
    try:
        from trustpub.upload.progress import progress_for

        progress = None if request.dry_run else progress_for(quiet=quiet)
        result = api.publish(request, say=say, progress=progress)
    except TrustpubError as exc:
        result, code = report_stop(exc, quiet=quiet, json_output=output.json, env=environ)
    if result is not None:
        if not quiet or code:
            print(render_text(result), file=sys.stderr)
        write_ci_summary(result, env=environ, stream=sys.stderr)
        if output.json:
            json.dump(result.to_json(), sys.stdout, indent=2)
            sys.stdout.write("\n")
    elif output.json:
        json.dump({"ok": False, "error": "the release stopped before any file was processed", "files": []}, sys.stdout)
        sys.stdout.write("\n")
    return code, result


def run(args: argparse.Namespace) -> int:
    targets = build_targets(args)
    if len(targets) > 1:
        from trustpub.commands.publish_many import execute_many

        output = OutputOptions.from_args(args)
        code, _ = execute_many(build_request(args, targets=targets), targets, json_output=output.json, quiet=output.quiet)
        return code
    request = build_request(args, targets=targets)
    code, _ = execute(request, OutputOptions.from_args(args))
    return code
