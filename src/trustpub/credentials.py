"""Upload credentials: trusted publishing, an API token, a username/password, .pypirc, keyring.

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
- ``token``: only explicit credentials (sources 1 to 7 below).
- ``auto`` (default): the first of 1 to 7 that applies, then trusted publishing if a
  CI identity is detected (8). Once trusted publishing is chosen, its failure is the
  answer: ``auto`` never falls back silently to another method.

1. ``user:password@`` in the index URL itself (``--to``, ``TWINE_REPOSITORY_URL`` or
   the section's ``repository``), as pip takes it (``https://pypi-…@host/`` is a token);
2. ``--repository NAME``: that ``.pypirc`` section's username and password;
3. ``TRUSTPUB_TOKEN``, then ``PYPI_API_TOKEN``;
4. ``TRUSTPUB_USERNAME``/``TRUSTPUB_PASSWORD``;
5. ``TWINE_USERNAME``/``TWINE_PASSWORD`` (username ``__token__`` when only the password
   is set), as twine reads them;
6. the ``.pypirc`` section whose ``repository`` is this index (``TWINE_REPOSITORY``'s
   first): explicit configuration wins over CI detection, as in twine;
7. the system keyring, only with ``--keyring-provider import`` (or
   ``TRUSTPUB_KEYRING_PROVIDER=import``; see :mod:`trustpub.keyring_lookup`): the
   password of a username from 1, 2, 4, 5 or 6 that came without one, else of ``__token__``.

**A credential is bound to its index.** A ``.pypirc`` section's credentials are only
used for the index its ``repository`` names (``--repository`` with another ``--to``
is an error), ``TWINE_USERNAME``/``TWINE_PASSWORD`` only for ``TWINE_REPOSITORY_URL``
(or ``TWINE_REPOSITORY``'s URL) when that is set, keyring entries are looked up
under this index's URL and host only, and :mod:`trustpub.transport` drops
``Authorization`` on any redirect to another origin. ``TRUSTPUB_*`` variables are
for whatever index the command names.

``.pypirc`` is read from ``$PYPIRC`` or ``~/.pypirc``; nothing is ever prompted for.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from trustpub.auth import (
    METHODS,
    TOKEN_USERNAME,
    CredentialKind,
    Credentials,
    CredentialSource,
    StaticCredentials,
)
from trustpub.errors import ConfigurationError
from trustpub.pypirc import PypircSection, pypirc_path, read_pypirc, require_section
from trustpub.registry import Registry, RegistryKind, UrlUserinfo
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

_TOKEN_VARS = ("TRUSTPUB_TOKEN", "PYPI_API_TOKEN")


# --------------------------------------------------------------------------- checks


def _kind_for(username: str) -> CredentialKind:
    return CredentialKind.TOKEN if username == TOKEN_USERNAME else CredentialKind.PASSWORD


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


def _ci_name(environ: Mapping[str, str]) -> str | None:
    from trustpub.oidc import detect_ci

    return detect_ci(environ).ci


# --------------------------------------------------------------------------- resolution


class _Resolver:
    """One resolution: the explicit sources in order, and notes on what was passed over.

    Every ``_from_*`` method returns credentials for ``registry``, None when its source
    is not configured, or raises when it is configured wrongly.
    """

    def __init__(
        self,
        registry: Registry,
        environ: Mapping[str, str],
        path: Path,
        keyring_provider: str,
    ) -> None:
        self.registry = registry
        self.environ = environ
        self.path = path
        self.keyring_on = keyring_provider == "import"
        #: Sources that were configured but passed over (bound to another index, keyring skipped).
        self.notes: list[str] = []
        self._sections: dict[str, PypircSection] | None = None

    @property
    def sections(self) -> dict[str, PypircSection]:
        if self._sections is None:
            self._sections = read_pypirc(self.path)
        return self._sections

    def _env(self, name: str) -> str:
        return self.environ.get(name, "").strip()

    # 1. user:password@ in the URL
    def from_url(self, userinfo: UrlUserinfo | None, where: str) -> Credentials | None:
        if userinfo is None:
            return None
        if where == "the --to URL":
            _logger.warning(
                "credentials written in the --to URL can be read by other users of this machine (process list, "
                "shell history); prefer TRUSTPUB_TOKEN or a .pypirc section"
            )
        if userinfo.password is not None:
            username = userinfo.username or TOKEN_USERNAME
            return _checked(Credentials(username, userinfo.password, where, _kind_for(username)), self.registry)
        if userinfo.username.startswith("pypi-"):
            # pip's form for a token: https://TOKEN@host/
            return _checked(Credentials(TOKEN_USERNAME, Secret(userinfo.username), where, CredentialKind.TOKEN), self.registry)
        from_keyring = self.from_keyring(userinfo.username, f"the user name in {where}", show_user=False)
        if from_keyring is not None:
            return from_keyring
        raise ConfigurationError(
            f"{where} has a user name but no password, and trustpub never prompts",
            hint=self._password_hint("put user:password@ in the URL, or use TRUSTPUB_USERNAME/TRUSTPUB_PASSWORD"),
        )

    # 2. and 5. a .pypirc section
    def from_section(self, section: PypircSection) -> Credentials:
        where = f".pypirc [{section.name}]"
        section_registry = Registry.parse(section.repository)
        if not section_registry.same_index(self.registry):
            raise ConfigurationError(
                f"the [{section.name}] section of {str(self.path)!r} is for {section_registry.upload_url}, not "
                f"{self.registry.upload_url}; its credentials are only sent to its own index",
                hint=f"publish to {section_registry.upload_url}, or use a section for {self.registry.upload_url}",
            )
        username = section.username or TOKEN_USERNAME
        if section.password is None or not section.password.reveal():
            from_keyring = self.from_keyring(username, where)
            if from_keyring is not None:
                return from_keyring
            raise ConfigurationError(
                f"the [{section.name}] section of {str(self.path)!r} has no password",
                hint=self._password_hint("add `password = pypi-…` (an API token) to it, or use TRUSTPUB_TOKEN"),
            )
        return _checked(Credentials(username, section.password, where, _kind_for(username)), self.registry)

    def section_for_index(self) -> PypircSection | None:
        """TWINE_REPOSITORY's section if it is for this index, else the first section that is."""
        named = self._env("TWINE_REPOSITORY")
        candidates = list(self.sections.values())
        if named in self.sections:
            candidates.insert(0, self.sections[named])
        for section in candidates:
            if not section.repository:
                continue
            try:
                candidate = Registry.parse(section.repository)
            except ConfigurationError:
                _logger.debug(".pypirc [%s]: repository is not a URL; skipped", section.name)
                continue
            if candidate.same_index(self.registry):
                return section
        return None

    # 3. trustpub's own variables
    def from_trustpub_env(self) -> Credentials | None:
        for var in _TOKEN_VARS:
            value = self._env(var)
            if value:
                return _checked(Credentials(TOKEN_USERNAME, Secret(value), var, CredentialKind.TOKEN), self.registry)
        return self._pair("TRUSTPUB_USERNAME", "TRUSTPUB_PASSWORD", token_default=False)

    # 4. twine's variables, bound to twine's index when one is set
    def from_twine_env(self) -> Credentials | None:
        if not (self._env("TWINE_USERNAME") or self.environ.get("TWINE_PASSWORD", "")):
            return None
        bound = self._twine_index()
        if bound is not None and not bound[0].same_index(self.registry):
            note = (
                f"TWINE_USERNAME/TWINE_PASSWORD were not used: they go with {bound[1]} "
                f"({bound[0].upload_url}), and this release goes to {self.registry.upload_url}"
            )
            _logger.warning("%s", note)
            self.notes.append(note)
            return None
        return self._pair("TWINE_USERNAME", "TWINE_PASSWORD", token_default=True)

    def _twine_index(self) -> tuple[Registry, str] | None:
        url = self._env("TWINE_REPOSITORY_URL")
        if url:
            return Registry.parse(url), "TWINE_REPOSITORY_URL"
        name = self._env("TWINE_REPOSITORY")
        if not name:
            return None
        if name in self.sections and self.sections[name].repository:
            return Registry.parse(self.sections[name].repository), f"TWINE_REPOSITORY={name}"
        if name in ("pypi", "testpypi"):
            return Registry.parse(name), f"TWINE_REPOSITORY={name}"
        # A section that does not exist: trustpub.target refuses it when it picks the
        # index; here the twine variables are simply not bound to anything else.
        return None

    def _pair(self, user_var: str, password_var: str, *, token_default: bool) -> Credentials | None:
        username = self._env(user_var)
        password = self.environ.get(password_var, "")
        if not (username or password):
            return None
        if password and not username:
            if not token_default:
                raise ConfigurationError(
                    f"{user_var} and {password_var} go together, and {user_var} is not set",
                    hint=f"set {user_var} too (__token__ for an API token), or unset both",
                )
            username = TOKEN_USERNAME
        where = f"{user_var}/{password_var}"
        if not password:
            from_keyring = self.from_keyring(username, user_var)
            if from_keyring is not None:
                return from_keyring
            raise ConfigurationError(
                f"{user_var} and {password_var} go together, and {password_var} is not set",
                hint=self._password_hint(f"set {password_var} too, or unset both"),
            )
        return _checked(Credentials(username, Secret(password), where, _kind_for(username)), self.registry)

    # 6. the keyring
    def from_keyring(self, username: str, why: str, *, show_user: bool = True) -> Credentials | None:
        """The keyring's password for ``username`` on this index (None when off, skipped or absent).

        ``show_user`` False keeps the user name out of messages (a URL's lone user name
        may be a token).
        """
        if not self.keyring_on:
            return None
        from trustpub.keyring_lookup import keyring_timeout, lookup_password

        upload = self.registry.upload_url
        services = list(dict.fromkeys([upload, upload.rstrip("/"), self.registry.host]))
        answer = lookup_password(services, username, timeout=keyring_timeout(self.environ))
        if answer.skipped is not None:
            note = f"keyring skipped: {answer.skipped}"
            _logger.warning("%s", note)
            self.notes.append(note)
            return None
        if answer.password is None:
            user = repr(username) if show_user else "that user"
            self.notes.append(f"the keyring has no password for {user} on {self.registry.host} ({why})")
            return None
        found = Credentials(username, answer.password, f"the keyring ({answer.service})", _kind_for(username))
        return _checked(found, self.registry)

    def _password_hint(self, base: str) -> str:
        if self.keyring_on:
            return f"{base}; the keyring had none (see the line above)"
        return f"{base}, or store it in the keyring and pass --keyring-provider import; trustpub never prompts"


def resolve_credentials(
    registry: Registry,
    *,
    method: str = "auto",
    repository: str | None = None,
    env: Mapping[str, str] | None = None,
    pypirc: Path | None = None,
    provider: OIDCProvider | None = None,
    transport: Transport | None = None,
    url_userinfo: UrlUserinfo | None = None,
    url_source: str = "the index URL",
    keyring_provider: str | None = None,
) -> CredentialSource:
    """Choose how to authenticate to ``registry``; see the module docstring for the order.

    ``url_userinfo`` is the ``user:password@`` split off the target URL
    (:class:`~trustpub.target.Target`), described as ``url_source`` in messages.
    ``keyring_provider`` ``import`` turns the keyring on (None: ``TRUSTPUB_KEYRING_PROVIDER``).
    ``provider`` overrides CI detection (tests, or a caller that already detected).
    Makes no network call: a trusted-publishing source mints on its first use.
    Raises :class:`~trustpub.errors.ConfigurationError` when nothing fits, or the
    :class:`~trustpub.oidc.OIDCError` of a CI that was detected but cannot give a token.
    """
    from trustpub.keyring_lookup import keyring_provider as chosen_keyring

    if method not in METHODS:
        raise ConfigurationError(f"unknown credentials method {method!r}", hint=f"use one of: {', '.join(METHODS)}")
    environ = os.environ if env is None else env
    path = pypirc if pypirc is not None else pypirc_path(environ)
    resolver = _Resolver(registry, environ, path, chosen_keyring(keyring_provider, environ))

    if method == "trusted-publishing" and url_userinfo is not None:
        raise ConfigurationError(
            f"{url_source} carries a user name or password, which --credentials trusted-publishing does not use",
            hint="remove user:password@ from the URL, or use --credentials token",
        )

    if method in ("auto", "token"):
        found = resolver.from_url(url_userinfo, url_source)
        if found is None and repository:
            named = require_section(resolver.sections, repository, path, option="--repository")
            found = resolver.from_section(named)
        found = found or resolver.from_trustpub_env() or resolver.from_twine_env()
        if found is not None:
            _logger.debug("credentials: %s", found.describe())
            return StaticCredentials(found)

        section = resolver.section_for_index()
        if section is not None:
            found = resolver.from_section(section)
            if method == "auto" and provider is None and _ci_name(environ) is not None:
                _logger.info(
                    "credentials: %s (%s was also detected; --credentials trusted-publishing would use it)",
                    found.describe(),
                    _ci_name(environ),
                )
            else:
                _logger.debug("credentials: %s", found.describe())
            return StaticCredentials(found)

        found = resolver.from_keyring(TOKEN_USERNAME, "no other source")
        if found is not None:
            _logger.debug("credentials: %s", found.describe())
            return StaticCredentials(found)

    if method in ("auto", "trusted-publishing"):
        from trustpub.mint import TokenSource, check_provider_accepted
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
            # Buildkite, CircleCI: PyPI has no trusted publisher for them; say so before any request.
            if registry.kind.value in ("pypi", "testpypi"):
                check_provider_accepted(registry, chosen)
            _logger.debug("credentials: trusted publishing through %s", chosen.name)
            return TokenSource(registry, chosen, transport=transport, env=environ)

    looked = (
        "TRUSTPUB_TOKEN, PYPI_API_TOKEN, TRUSTPUB_USERNAME/TRUSTPUB_PASSWORD, TWINE_USERNAME/TWINE_PASSWORD, "
        f"a section of {str(path)!r} for this index"
    )
    looked += ", the keyring" if resolver.keyring_on else " (the keyring is off)"
    if method == "auto":
        looked = "a CI identity for trusted publishing, " + looked
    passed = "".join(f"; {note}" for note in resolver.notes)
    raise ConfigurationError(
        f"no credentials for {registry}: looked for {looked}{passed}",
        hint="publish from CI with trusted publishing, or set TRUSTPUB_TOKEN to an API token",
    )
