"""The library API: what ``trustpub publish`` and ``trustpub check`` do, without the command line.

Both take plain values (a :class:`~trustpub.request.PublishRequest`, a list of paths)
and return the typed results the command line renders, so a build tool can publish
or preflight a release without argparse, stderr or exit codes::

    import trustpub
    from trustpub.registry import Registry
    from trustpub.request import PublishRequest

    report = trustpub.check(["dist"])
    if report.ok():
        result = trustpub.publish(PublishRequest(paths=(Path("dist"),), registry=Registry.parse("testpypi")))

Failures are :class:`~trustpub.errors.TrustpubError` exceptions (message and hint);
nothing is printed. Re-exported lazily from :mod:`trustpub`, so importing the package
stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trustpub.checks import CheckReport
    from trustpub.orchestrator import PublishResult
    from trustpub.request import PublishRequest

__all__ = ["check", "publish"]


def publish(request: PublishRequest, *, say: Callable[[str], None] | None = None) -> PublishResult:
    """Check, attest and upload one release as ``request`` says; ``say`` receives progress lines.

    Raises :class:`~trustpub.errors.TrustpubError` when the release is refused or fails;
    a file that failed to upload is in the result (``result.ok`` is then false).
    """
    from trustpub.orchestrator import Orchestrator

    return Orchestrator(say=say).publish(request)


def check(paths: Sequence[str | Path]) -> CheckReport:
    """Preflight the distributions under ``paths`` (files or folders) as ``trustpub check`` does.

    Nothing is sent anywhere. ``report.ok()`` (``ok(strict=True)``: warnings count too)
    says whether PyPI would take them.
    """
    from trustpub.checks import check_paths

    return check_paths(paths)
