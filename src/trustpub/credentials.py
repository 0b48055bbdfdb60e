"""Upload credentials: trusted publishing, an API token, a username/password, or .pypirc.

:func:`resolve_credentials` picks the method and returns a :class:`CredentialSource`;
the uploader calls :meth:`CredentialSource.credentials` before **each** file, so a
trusted-publishing source can re-mint its short-lived token in the middle of a long
release, while a static source just returns the same value::

    source = resolve_credentials(Registry.parse("pypi"), method="auto")
    creds = source.credentials()
    print(creds.describe())          # "trusted publishing (GitHub Actions)"; never the secret
    header = creds.authorization()   # a Secret: "Basic ..."

``method``:

- ``trusted-publishing``: only the CI's OIDC identity.
- ``token``: only explicit credentials: ``TRUSTPUB_TOKEN`` (or ``PYPI_API_TOKEN``),
  ``TRUSTPUB_USERNAME``/``TRUSTPUB_PASSWORD``, or a ``.pypirc`` section.
- ``auto`` (default), in this order: ``--repository NAME``; the environment variables
  above; the ``.pypirc`` section for this index (explicit configuration wins, as in
  twine); trusted publishing if a CI identity is detected. Once trusted publishing is
  chosen, its failure is the answer: ``auto`` never falls back silently to another
  method.

``.pypirc`` is read from ``$PYPIRC`` or ``~/.pypirc``; nothing is ever prompted for.
"""

from __future__ import annotations

import base64
import configparser
import enum
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from trustpub.errors import ConfigurationError
from trustpub.registry import Registry, RegistryKind
from trustpub.secrets import Secret

if TYPE_CHECKING:
    from trustpub.oidc import OIDCProvider
    from trustpub.transport import Transport

__all__ = [
    "METHODS",
    "TOKEN_USERNAME",
    "CredentialKind",
    "CredentialSource",
    "Credentials",
    "PypircSection",
    "StaticCredentials",
    "pypirc_path",
    "read_pypirc",
    "resolve_credentials",
]

_logger = logging.getLogger(__name__)

TOKEN_USERNAME = "__token__"
METHODS = ("auto", "trusted-publishing", "token")
_TOKEN_VARS = ("TRUSTPUB_TOKEN", "PYPI_API_TOKEN")
_DEFAULT_REPOSITORIES = {
    "pypi": "https://upload.pypi.org/legacy/",
    "testpypi": "https://test.pypi.org/legacy/",
}


class CredentialKind(enum.Enum):
    TRUSTED_PUBLISHING = "trusted-publishing"
    TOKEN = "token"
    PASSWORD = "password"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Credentials:
    """What goes into the upload's Basic auth, and where it came from."""

    username: str
    password: Secret = field(repr=False)
    #: Human description of the origin: "TRUSTPUB_TOKEN", ".pypirc [testpypi]", …
    source: str
    kind: CredentialKind

    def authorization(self) -> Secret:
        """The ``Authorization`` header value, as a Secret."""
        raw = f"{self.username}:{self.password.reveal()}".encode()
        return Secret("Basic " + base64.b64encode(raw).decode("ascii"))

    def describe(self) -> str:
        if self.kind is CredentialKind.TRUSTED_PUBLISHING:
            return f"trusted publishing ({self.source})"
        if self.kind is CredentialKind.TOKEN:
            return f"API token from {self.source}"
        return f"username {self.username!r} and password from {self.source}"


@runtime_checkable
class CredentialSource(Protocol):
    """Hands out the credentials to use for the next request (thread-safe)."""

    @property
    def kind(self) -> CredentialKind: ...

    def credentials(self) -> Credentials:
        """Current credentials; may mint or refresh them."""
        ...

    def invalidate(self) -> None:
        """Forget cached credentials (the index refused them); the next call gets new ones if it can."""
        ...


@dataclass(frozen=True)
class StaticCredentials:
    """A credential source that never changes: a token or a username/password."""

    value: Credentials

    @property
    def kind(self) -> CredentialKind:
        return self.value.kind

    def credentials(self) -> Credentials:
        return self.value

    def invalidate(self) -> None:
        """Nothing to refresh."""


# --------------------------------------------------------------------------- .pypirc


@dataclass(frozen=True)
class PypircSection:
    name: str
    repository: str
    username: str | None
    password: Secret | None = field(default=None, repr=False)


def pypirc_path(env: Mapping[str, str] | None = None) -> Path:
    """``$PYPIRC`` if set, else ``~/.pypirc`` (HOME from ``env``)."""
    environ = os.environ if env is None else env
    if environ.get("PYPIRC"):
        return Path(environ["PYPIRC"])
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".pypirc"


def read_pypirc(path: Path) -> dict[str, PypircSection]:
    """The repository sections of a .pypirc file ({} when it does not exist).

    Values are read raw (no ``%`` interpolation, passwords may contain anything).
    A parse error names the file and line but never echoes its content.
    """
    if not path.is_file():
        return {}
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" near line {line}" if line else ""
        raise ConfigurationError(
            f"cannot parse {str(path)!r}{where} ({type(exc).__name__})",
            hint="fix the file's INI syntax; see https://packaging.python.org/specifications/pypirc/",
        ) from None
    sections: dict[str, PypircSection] = {}
    for name in parser.sections():
        if name == "distutils":
            continue
        repository = parser.get(name, "repository", fallback=None) or _DEFAULT_REPOSITORIES.get(name, "")
        username = parser.get(name, "username", fallback=None)
        password = parser.get(name, "password", fallback=None)
        sections[name] = PypircSection(name, repository, username, Secret(password) if password else None)
    return sections


def _section_credentials(section: PypircSection, path: Path, registry: Registry) -> Credentials:
    if section.password is None or not section.password.reveal():
        raise ConfigurationError(
            f"the [{section.name}] section of {str(path)!r} has no password",
            hint="add `password = pypi-…` (an API token) to it, or use TRUSTPUB_TOKEN; trustpub never prompts",
        )
    username = section.username or TOKEN_USERNAME
    kind = CredentialKind.TOKEN if username == TOKEN_USERNAME else CredentialKind.PASSWORD
    return _checked(Credentials(username, section.password, f".pypirc [{section.name}]", kind), registry)


def _section_for_registry(sections: Mapping[str, PypircSection], registry: Registry) -> PypircSection | None:
    if registry.kind is not RegistryKind.CUSTOM and registry.kind.value in sections:
        return sections[registry.kind.value]
    wanted = registry.upload_url.rstrip("/")
    for section in sections.values():
        if not section.repository:
            continue
        try:
            candidate = Registry.parse(section.repository)
        except ConfigurationError:
            _logger.debug(".pypirc [%s]: repository is not a URL; skipped", section.name)
            continue
        if candidate.upload_url.rstrip("/") == wanted:
            return section
    return None


# --------------------------------------------------------------------------- resolution


def _checked(creds: Credentials, registry: Registry) -> Credentials:
    if not registry.is_secure:
        raise ConfigurationError(
            f"refusing to send {creds.describe()} to {registry.upload_url}: plain http to a host that is not loopback",
            hint="use the index's https:// URL",
        )
    if registry.kind is not RegistryKind.CUSTOM:
        if creds.username != TOKEN_USERNAME:
            raise ConfigurationError(
                f"{registry} does not accept a username and password ({creds.source}); it takes API tokens "
                "or trusted publishing only",
                hint="use trusted publishing, or an API token in TRUSTPUB_TOKEN (username __token__)",
            )
        if not creds.password.reveal().startswith("pypi-"):
            _logger.warning(
                "the API token from %s does not start with 'pypi-' as %s tokens do; check that it was copied whole",
                creds.source,
                registry,
            )
    return creds


def _env_credentials(environ: Mapping[str, str], registry: Registry) -> Credentials | None:
    for var in _TOKEN_VARS:
        value = environ.get(var, "").strip()
        if value:
            return _checked(Credentials(TOKEN_USERNAME, Secret(value), var, CredentialKind.TOKEN), registry)
    username = environ.get("TRUSTPUB_USERNAME", "").strip()
    password = environ.get("TRUSTPUB_PASSWORD", "")
    if username or password:
        if not (username and password):
            missing = "TRUSTPUB_PASSWORD" if username else "TRUSTPUB_USERNAME"
            raise ConfigurationError(
                f"TRUSTPUB_USERNAME and TRUSTPUB_PASSWORD go together, and {missing} is not set",
                hint=f"set {missing} too, or unset both",
            )
        kind = CredentialKind.TOKEN if username == TOKEN_USERNAME else CredentialKind.PASSWORD
        return _checked(Credentials(username, Secret(password), "TRUSTPUB_USERNAME/TRUSTPUB_PASSWORD", kind), registry)
    return None


def _ci_name(environ: Mapping[str, str]) -> str | None:
    from trustpub.oidc import detect_ci

    return detect_ci(environ).ci


def resolve_credentials(
    registry: Registry,
    *,
    method: str = "auto",
    repository: str | None = None,
    env: Mapping[str, str] | None = None,
    pypirc: Path | None = None,
    provider: OIDCProvider | None = None,
    transport: Transport | None = None,
) -> CredentialSource:
    """Choose how to authenticate to ``registry``; see the module docstring for the order.

    ``provider`` overrides CI detection (tests, or a caller that already detected).
    Makes no network call: a trusted-publishing source mints on its first use.
    Raises :class:`~trustpub.errors.ConfigurationError` when nothing fits, or the
    :class:`~trustpub.oidc.OIDCError` of a CI that was detected but cannot give a token.
    """
    if method not in METHODS:
        raise ConfigurationError(f"unknown credentials method {method!r}", hint=f"use one of: {', '.join(METHODS)}")
    environ = os.environ if env is None else env
    path = pypirc if pypirc is not None else pypirc_path(environ)

    if method in ("auto", "token"):
        if repository:
            sections = read_pypirc(path)
            if repository not in sections:
                known = ", ".join(sorted(sections)) or "none"
                raise ConfigurationError(
                    f"--repository {repository!r}: no such section in {str(path)!r} (sections: {known})",
                    hint="add the section, or point PYPIRC at the right file",
                )
            _logger.debug("credentials: .pypirc [%s] from %s", repository, path)
            return StaticCredentials(_section_credentials(sections[repository], path, registry))
        from_env = _env_credentials(environ, registry)
        if from_env is not None:
            _logger.debug("credentials: %s", from_env.describe())
            return StaticCredentials(from_env)

    if method in ("auto", "token"):
        section = _section_for_registry(read_pypirc(path), registry)
        if section is not None:
            found = _section_credentials(section, path, registry)
            if method == "auto" and provider is None and _ci_name(environ) is not None:
                _logger.info(
                    "credentials: %s (%s was also detected; --credentials trusted-publishing would use it)",
                    found.describe(),
                    _ci_name(environ),
                )
            else:
                _logger.debug("credentials: %s", found.describe())
            return StaticCredentials(found)

    if method in ("auto", "trusted-publishing"):
        from trustpub.mint import TokenSource
        from trustpub.oidc import detect_ci

        chosen = provider
        if chosen is None:
            detection = detect_ci(environ, transport=transport)
            if detection.ci is not None or method == "trusted-publishing":
                # Detected (or demanded): trusted publishing it is, and its failure is final.
                chosen = detection.require_provider()
        if chosen is not None:
            if not registry.is_secure:
                raise ConfigurationError(
                    f"refusing trusted publishing to {registry.upload_url}: plain http to a host that is not loopback",
                    hint="use the index's https:// URL",
                )
            _logger.debug("credentials: trusted publishing through %s", chosen.name)
            return TokenSource(registry, chosen, transport=transport, env=environ)

    looked = (
        "TRUSTPUB_TOKEN, PYPI_API_TOKEN, TRUSTPUB_USERNAME/TRUSTPUB_PASSWORD and "
        f"{str(path)!r}"
    )
    if method == "auto":
        looked = "a CI identity for trusted publishing, " + looked
    raise ConfigurationError(
        f"no credentials for {registry}: looked for {looked}",
        hint="publish from CI with trusted publishing, or set TRUSTPUB_TOKEN to an API token",
    )
