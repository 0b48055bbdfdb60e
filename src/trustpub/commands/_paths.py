"""PATHS as ``check``, ``attest`` and ``verify`` read them: the ones given, else ``dist/``."""

from __future__ import annotations

import os
from collections.abc import Sequence

from trustpub.errors import ConfigurationError

__all__ = ["given_or_dist"]


def given_or_dist(paths: Sequence[str] | None, what: str) -> list[str]:
    """``paths``, or ``["dist"]`` when none were given; without a dist/ folder that is a usage
    error whose hint asks for ``what`` ("the distributions to verify")."""
    if paths:
        return list(paths)
    if not os.path.isdir("dist"):
        raise ConfigurationError("no PATHS given and there is no dist/ folder here", hint=f"pass {what}")
    return ["dist"]
