"""trustpub: publish Python distributions the way a careful release engineer would.

The library API is :func:`trustpub.publish` and :func:`trustpub.check` (see
:mod:`trustpub.api`). They are imported on first use, not with the package, so that
``trustpub --version`` and ``import trustpub`` load none of the heavy modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "check", "publish"]

if TYPE_CHECKING:
    from trustpub.api import check, publish


def __getattr__(name: str) -> Any:
    if name in ("check", "publish"):
        from trustpub import api

        return getattr(api, name)
    raise AttributeError(f"module 'trustpub' has no attribute {name!r}")
