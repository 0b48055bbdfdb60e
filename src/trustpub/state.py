"""Where trustpub keeps the files it writes for itself: release journals and provenance.

Never the working directory, and never the project: build backends pack files they
find there into the next sdist (hatchling takes every file not ignored by VCS, the
``dist/`` folder aside; setuptools takes whatever ``MANIFEST.in`` matches, ``graft .``
taking even ``dist/``), and ``twine upload dist/*`` stops on an unknown file in the
dist folder. So the state lives in a per-user cache folder, outside any project:

* ``--state-dir DIR`` when given, else ``$TRUSTPUB_STATE_DIR``;
* else on Windows ``%LOCALAPPDATA%\\trustpub``, on macOS ``~/Library/Caches/trustpub``,
  elsewhere ``$XDG_CACHE_HOME/trustpub`` (``~/.cache/trustpub`` when unset).

Layout below that folder (one release is one project version on one index, so the
same release sent to the same index again finds the same files)::

    journal/<project>-<version>-<index key>.json
    provenance/<index key>/<name>-<version>.provenance.sigstore.json
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from trustpub.errors import ConfigurationError

__all__ = ["STATE_DIR_ENV", "default_state_dir", "index_key", "resolve_state_dir"]

#: The environment variable that moves the state folder (the ``--state-dir`` flag wins).
STATE_DIR_ENV = "TRUSTPUB_STATE_DIR"


def index_key(upload_url: str) -> str:
    """A short, stable, filename-safe name for an index (its upload URL hashed)."""
    return hashlib.sha256(upload_url.encode()).hexdigest()[:12]


def default_state_dir(env: Mapping[str, str] | None = None, *, platform: str | None = None) -> Path:
    """The state folder when no ``--state-dir`` is given (module docstring), not created.

    ``env`` and ``platform`` stand in for ``os.environ`` and ``sys.platform`` (tests).
    """
    environ = os.environ if env is None else env
    system = sys.platform if platform is None else platform
    explicit = environ.get(STATE_DIR_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser().absolute()
    if system.startswith("win"):
        local = environ.get("LOCALAPPDATA", "").strip()
        base = Path(local) if local else _home(environ) / "AppData" / "Local"
    elif system == "darwin":
        base = _home(environ) / "Library" / "Caches"
    else:
        xdg = environ.get("XDG_CACHE_HOME", "").strip()
        # The XDG spec: a relative value is invalid and is ignored.
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else _home(environ) / ".cache"
    return (base / "trustpub").absolute()


def resolve_state_dir(override: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The state folder to use, created; a folder that cannot be used is a configuration error.

    Called before anything is sent, so an unwritable state folder stops the release
    with one message instead of a traceback half-way through it.
    """
    if override is not None:
        where, source = Path(override).expanduser().absolute(), "--state-dir"
    else:
        environ = os.environ if env is None else env
        where = default_state_dir(environ)
        source = f"${STATE_DIR_ENV}" if environ.get(STATE_DIR_ENV, "").strip() else "the state folder"
    if where.exists() and not where.is_dir():
        raise ConfigurationError(
            f"{source} {where}: not a folder",
            hint=f"point --state-dir or ${STATE_DIR_ENV} at a folder trustpub may write to",
        )
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"{source} {where}: cannot create it ({exc.strerror or exc})",
            hint=f"point --state-dir or ${STATE_DIR_ENV} at a folder trustpub may write to",
        ) from None
    if not os.access(where, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"{source} {where}: not writable",
            hint=f"point --state-dir or ${STATE_DIR_ENV} at a folder trustpub may write to",
        )
    return where


def _home(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME", "").strip() or environ.get("USERPROFILE", "").strip()
    return Path(home) if home else Path.home()
