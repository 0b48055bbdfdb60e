"""The library API: what ``trustpub publish``, ``check``, ``attest``, ``verify`` and ``inspect`` do, without the command line.

Each takes plain values (a request dataclass, or paths) and returns the typed result
the command line renders, so a build tool can publish, preflight, sign or verify a
release without argparse, stderr or exit codes. A build tool that already knows its
artifacts hands them over as explicit targets::

    import trustpub

    request = trustpub.PublishRequest.from_targets(
        "demo", "1.0",
        [trustpub.Target(Path("dist/demo-1.0.tar.gz"), "sdist", sha256, size)],
        registry="testpypi",
        identity=trustpub.detect_identity(),     # the CI's OIDC provider
    )
    result = trustpub.publish(request)           # validate, check, attest, mint, upload, verify
    for f in result.files:
        print(f.filename, f.outcome, f.project_url, f.attestation_url, f.log_index)

Failures are :class:`~trustpub.errors.TrustpubError` exceptions (message, hint and a
stable :attr:`~trustpub.errors.TrustpubError.error_code`); nothing is printed. All
names are re-exported lazily from :mod:`trustpub`, so importing the package stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trustpub.checks import CheckReport
    from trustpub.oidc import OIDCProvider
    from trustpub.operations import (
        AttestRequest,
        AttestResult,
        InspectReport,
        VerifyRequest,
        VerifyResult,
    )
    from trustpub.orchestrator import PublishResult
    from trustpub.request import PublishRequest
    from trustpub.upload.progress import UploadProgress

__all__ = ["attest", "check", "detect_identity", "inspect", "publish", "verify"]


def publish(
    request: PublishRequest, *, say: Callable[[str], None] | None = None, progress: UploadProgress | None = None
) -> PublishResult:
    """Check, attest and upload one release as ``request`` says; ``say`` receives progress lines.

    ``progress`` shows the uploads (:func:`trustpub.upload.progress.progress_for`: bars
    on a terminal, lines in CI logs); without it, each outcome is a ``say`` line.

    ``request.validate()`` runs first. A dry run sends nothing: its uploader, a
    :class:`~trustpub.upload.recording.RecordingUploader`, gets an empty token and marks
    every file ``skipped`` with the URL the index would give it.

    Raises :class:`~trustpub.errors.TrustpubError` when the release is refused or fails
    (:class:`~trustpub.orchestrator.PublishFailed` carries the partial result); a file
    that failed to upload is in the result (``result.ok`` is then false).
    """
    from trustpub.orchestrator import Orchestrator

    return Orchestrator(say=say, progress=progress).publish(request)


def check(paths: Sequence[str | Path]) -> CheckReport:
    """Preflight the distributions under ``paths`` (files or folders) as ``trustpub check`` does.

    Nothing is sent anywhere. ``report.ok()`` (``ok(strict=True)``: warnings count too)
    says whether PyPI would take them.
    """
    from trustpub.checks import check_paths

    return check_paths(paths)


def attest(request: AttestRequest) -> AttestResult:
    """Sign and verify PEP 740 attestations and the release provenance (``trustpub attest``)."""
    from trustpub.operations import attest_release

    return attest_release(request)


def verify(request: VerifyRequest) -> VerifyResult:
    """Verify attestations as the index would, for a publisher (``trustpub verify``); ``result.ok``."""
    from trustpub.operations import verify_release

    return verify_release(request)


def inspect(paths: Sequence[str | Path]) -> InspectReport:
    """Read attestations, provenance documents or bundles without verifying them (``trustpub inspect``)."""
    from trustpub.operations import inspect_files

    return inspect_files(paths)


def detect_identity(env: Mapping[str, str] | None = None) -> OIDCProvider:
    """The OIDC provider of the CI this process runs in (``env``: default ``os.environ``).

    Raises the :class:`~trustpub.oidc.OIDCError` saying why there is none (not in CI,
    no ``id-token: write``, a fork's pull request, ...).
    """
    from trustpub.oidc import detect_ci

    return detect_ci(env).require_provider()
