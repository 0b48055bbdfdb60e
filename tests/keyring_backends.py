"""Real keyring backends for the keyring tests, chosen with ``PYTHON_KEYRING_BACKEND``.

They are ordinary :class:`keyring.backend.KeyringBackend` subclasses, loaded by the
keyring library itself the way a user's plugin is (``PYTHON_KEYRING_BACKEND=
tests.keyring_backends.StoreKeyring`` with the repository on ``PYTHONPATH``):

- :class:`StoreKeyring` answers from a JSON file ``{service: {username: password}}``
  named by ``TP_KEYRING_STORE``;
- :class:`HangingKeyring` never answers, as a Secret Service waiting on a D-Bus unlock
  prompt in a headless job does;
- :class:`PromptingKeyring` is a Secret Service backend (a subclass, so trustpub sees
  it as one that may prompt) that answers from the store.

Every query is appended to the file named by ``TP_KEYRING_LOG`` (``<class> <service>
<username>`` per line), so a test can tell whether and how the keyring was asked.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.backends import SecretService

#: Set by an in-process test to release a :class:`HangingKeyring` query at teardown.
RELEASE = threading.Event()


def _log(backend: object, service: str, username: str) -> None:
    target = os.environ.get("TP_KEYRING_LOG")
    if target:
        with open(target, "a", encoding="utf-8") as fp:
            fp.write(f"{type(backend).__name__} {service} {username}\n")


def _stored(service: str, username: str) -> str | None:
    store = os.environ.get("TP_KEYRING_STORE")
    if not store or not Path(store).is_file():
        return None
    value = json.loads(Path(store).read_text()).get(service, {}).get(username)
    return value if isinstance(value, str) else None


class StoreKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        _log(self, service, username)
        return _stored(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError


class HangingKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        _log(self, service, username)
        RELEASE.wait(3600)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError


class PromptingKeyring(SecretService.Keyring):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        _log(self, service, username)
        return _stored(service, username)
