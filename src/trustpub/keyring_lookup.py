"""Passwords from the system keyring, without ever hanging a CI job.

Opt-in only (``--keyring-provider import`` or ``TRUSTPUB_KEYRING_PROVIDER=import``):
an automatic lookup, as twine does it, is how a headless job ends up waiting forever
on a D-Bus unlock prompt nobody can answer. When it is on, :func:`lookup_password`
asks the `keyring <https://pypi.org/project/keyring/>`_ library, with three guards:

- **a time bound**: the whole lookup (importing keyring, choosing a backend, which
  may open a D-Bus connection, and the query) runs in a daemon thread that is given
  :data:`DEFAULT_TIMEOUT` seconds (``TRUSTPUB_KEYRING_TIMEOUT`` changes it); past
  that the answer is "skipped", and the stuck thread cannot keep the process alive;
- **no interactive backends without a terminal**: when stdin is not a TTY, the
  desktop backends that may pop an unlock or access prompt (Secret Service, libsecret,
  KWallet, the macOS Keychain, keyrings.alt's encrypted file) are left out; a
  backend chosen with ``PYTHON_KEYRING_BACKEND`` or ``keyringrc.cfg`` is used if it
  is not one of them (``keyrings.envvars``, cloud-vendor plugins);
- **one clear line when it is skipped**, saying why (not installed, timed out, only
  interactive backends, backend error), and nothing printed about the value found.

Services are looked up as twine stores them (the upload URL, e.g.
``https://upload.pypi.org/legacy/``), then as pip and uv do (the host), always for
the index being published to::

    answer = lookup_password(["https://upload.pypi.org/legacy/", "upload.pypi.org"], "__token__")
    if answer.password is not None: ...
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trustpub.errors import ConfigurationError
from trustpub.secrets import Secret, redact

__all__ = [
    "DEFAULT_TIMEOUT",
    "PROVIDERS",
    "KeyringAnswer",
    "keyring_provider",
    "keyring_timeout",
    "lookup_password",
]

_logger = logging.getLogger(__name__)

PROVIDERS = ("disabled", "import")
#: Seconds a lookup may take before it is skipped.
DEFAULT_TIMEOUT = 5.0

# Backends that may wait for a human (an unlock dialog, an "allow access" prompt, a
# master password on the terminal). Matched against every class in a backend's MRO.
_INTERACTIVE_MODULES = (
    "keyring.backends.SecretService",
    "keyring.backends.libsecret",
    "keyring.backends.kwallet",
    "keyring.backends.macOS",
)
_INTERACTIVE_CLASSES = frozenset({"keyrings.alt.file.EncryptedKeyring"})


@dataclass(frozen=True)
class KeyringAnswer:
    """What a lookup found: a password (and the service it was under), or why it was skipped."""

    password: Secret | None = field(default=None, repr=False)
    service: str | None = None
    backend: str | None = None
    #: Set when the keyring was not asked or did not answer; one line, for the user.
    skipped: str | None = None


def keyring_provider(value: str | None, env: Mapping[str, str] | None = None) -> str:
    """``value`` (``--keyring-provider``), else ``TRUSTPUB_KEYRING_PROVIDER``, else ``disabled``."""
    environ = os.environ if env is None else env
    chosen = value or environ.get("TRUSTPUB_KEYRING_PROVIDER", "").strip() or "disabled"
    if chosen not in PROVIDERS:
        origin = "--keyring-provider" if value else "TRUSTPUB_KEYRING_PROVIDER"
        raise ConfigurationError(f"{origin} {chosen!r}: unknown keyring provider", hint=f"use one of: {', '.join(PROVIDERS)}")
    return chosen


def keyring_timeout(env: Mapping[str, str] | None = None) -> float:
    """``TRUSTPUB_KEYRING_TIMEOUT`` seconds, else :data:`DEFAULT_TIMEOUT`."""
    environ = os.environ if env is None else env
    raw = environ.get("TRUSTPUB_KEYRING_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600:
        raise ConfigurationError(
            f"TRUSTPUB_KEYRING_TIMEOUT {raw!r}: not a number of seconds between 0 and 600",
            hint="unset it for the default of 5 seconds",
        )
    return value


def _backend_name(ring: Any) -> str:
    cls = type(ring)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_interactive(ring: Any) -> bool:
    for cls in type(ring).__mro__:
        if cls.__module__.startswith(_INTERACTIVE_MODULES):
            return True
        if f"{cls.__module__}.{cls.__qualname__}" in _INTERACTIVE_CLASSES:
            return True
    return False


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def _ask(services: Sequence[str], username: str, interactive: bool) -> KeyringAnswer:
    """The lookup itself; runs in the worker thread and never raises."""
    try:
        import keyring.core
        from keyring.backends.chainer import ChainerBackend
    except ImportError:
        return KeyringAnswer(skipped="the keyring library is not installed (pip install 'trustpub[keyring]')")
    try:
        keyring.core.init_backend(None if interactive else (lambda ring: not _is_interactive(ring)))
        ring = keyring.core.get_keyring()
        rings = list(ring.backends) if isinstance(ring, ChainerBackend) else [ring]
        if not interactive:
            rings = [r for r in rings if not _is_interactive(r)]
            if not rings:
                return KeyringAnswer(
                    skipped=f"the keyring backend {_backend_name(ring)} may prompt, and there is no terminal "
                    "to answer it (set PYTHON_KEYRING_BACKEND to a non-interactive backend)"
                )
        for one in rings:
            for service in services:
                value = one.get_password(service, username)
                if value:
                    return KeyringAnswer(Secret(value), service, _backend_name(one))
        names = ", ".join(_backend_name(r) for r in rings) or "none"
        return KeyringAnswer(backend=names)
    except Exception as exc:  # a backend's failure is a skipped lookup, never a crash
        return KeyringAnswer(skipped=f"the keyring failed ({type(exc).__name__}: {redact(str(exc))[:200]})")


def lookup_password(
    services: Sequence[str],
    username: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interactive: bool | None = None,
) -> KeyringAnswer:
    """Ask the keyring for ``username``'s password under the first of ``services`` that has one.

    ``interactive`` None means "if stdin is a terminal". Returns within about
    ``timeout`` seconds whatever the backend does; never raises.
    """
    allow_prompts = _stdin_is_tty() if interactive is None else interactive
    box: list[KeyringAnswer] = []

    def work() -> None:
        box.append(_ask(services, username, allow_prompts))

    worker = threading.Thread(target=work, name="trustpub-keyring", daemon=True)
    worker.start()
    worker.join(timeout)
    if not box:
        return KeyringAnswer(
            skipped=f"the keyring did not answer within {timeout:g} s (a backend waiting for an unlock "
            "prompt or a D-Bus service?); set TRUSTPUB_KEYRING_TIMEOUT to wait longer"
        )
    answer = box[0]
    if answer.password is not None:
        _logger.debug("keyring: password for %r found under %r in %s", username, answer.service, answer.backend)
    elif answer.skipped is None:
        _logger.info("keyring: no password for %r under %s (backends: %s)", username, ", ".join(services), answer.backend)
    return answer
