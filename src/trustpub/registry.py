"""Where a release goes: PyPI, TestPyPI, or any index that speaks the legacy upload API.

A :class:`Registry` knows every URL trustpub needs for one index, derived the way
twine and gh-action-pypi-publish derive them (the OIDC endpoints live on the upload
URL's scheme and host), so nothing downstream builds URLs by hand::

    >>> reg = Registry.parse("testpypi")
    >>> reg.upload_url
    'https://test.pypi.org/legacy/'
    >>> reg.project_url("demo", "1.0")
    'https://test.pypi.org/project/demo/1.0/'

A URL may carry ``user:password@`` (pip accepts that, and so does ``--to``). A
:class:`Registry` never keeps it: :meth:`Registry.parse` drops it, and
:meth:`Registry.parse_with_userinfo` hands it back separately as a
:class:`UrlUserinfo` whose password is a :class:`~trustpub.secrets.Secret`, so no
URL that is shown, logged, journalled or put in JSON can contain it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from trustpub.errors import ConfigurationError
from trustpub.secrets import Secret, register_secret

__all__ = [
    "PYPI_UPLOAD_URL",
    "TESTPYPI_UPLOAD_URL",
    "Registry",
    "RegistryKind",
    "UrlUserinfo",
    "is_loopback_host",
    "split_userinfo",
]


class RegistryKind(enum.Enum):
    """The two public indexes trustpub knows by name, any other index, and the fallback.

    Each kind has a :attr:`label`, an :attr:`upload_url`, a :attr:`simple_url` and an
    :attr:`oidc_audience`. PyPI and TestPyPI know all four; ``custom`` knows only its
    label (the URLs are the index's own, on its :class:`Registry`, and the audience is
    asked from the index). ``unknown`` is what :meth:`of` gives for a name trustpub does
    not know: no URL, no audience, and a request naming it is refused
    (:class:`~trustpub.request_errors.UnknownRegistry`), never sent anywhere.
    """

    PYPI = "pypi"
    TESTPYPI = "testpypi"
    CUSTOM = "custom"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, value: str) -> RegistryKind:
        """The kind named ``value`` (any case); :attr:`UNKNOWN` for any other name."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            return cls.UNKNOWN

    @property
    def label(self) -> str:
        """How messages name the kind: ``PyPI``, ``TestPyPI``, ``custom index``, ``unknown``."""
        return {"pypi": "PyPI", "testpypi": "TestPyPI", "custom": "custom index"}.get(self.value, "unknown")

    @property
    def upload_url(self) -> str | None:
        """The legacy upload endpoint of PyPI or TestPyPI; None for the others."""
        known = _KNOWN.get(self)
        return known[0] if known else None

    @property
    def simple_url(self) -> str | None:
        """The root of the simple API (PEP 503/691) of PyPI or TestPyPI; None for the others."""
        known = _KNOWN.get(self)
        return f"{known[1]}/simple/" if known else None

    @property
    def oidc_audience(self) -> str | None:
        """The audience PyPI (``pypi``) or TestPyPI (``testpypi``) wants in OIDC tokens.

        None for a custom index, which names its own at ``/_/oidc/audience``, and for
        ``unknown``.
        """
        return self.value if self in _KNOWN else None


#: The public indexes' upload endpoints: the only place in the client that spells them.
PYPI_UPLOAD_URL = "https://upload.pypi.org/legacy/"
TESTPYPI_UPLOAD_URL = "https://test.pypi.org/legacy/"

_KNOWN = {
    RegistryKind.PYPI: (PYPI_UPLOAD_URL, "https://pypi.org"),
    RegistryKind.TESTPYPI: (TESTPYPI_UPLOAD_URL, "https://test.pypi.org"),
}


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and the loopback ranges, where plain http is acceptable."""
    if not host:
        return False
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class UrlUserinfo:
    """The ``user:password@`` part of a URL, percent-decoded; the password is a Secret."""

    username: str
    password: Secret | None = field(default=None, repr=False)


def split_userinfo(value: str) -> tuple[str, UrlUserinfo | None]:
    """``value`` without its ``user:password@`` part, and that part (None when absent).

    Anything that is not an ``scheme://`` URL comes back unchanged. The password is
    wrapped in a :class:`Secret` at once, which also registers it for redaction.
    """
    stripped = value.strip()
    parts = urlsplit(stripped)
    if "@" not in parts.netloc or not parts.scheme:
        return value, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    if not user and not password:
        return clean, None
    if not password:
        # pip's form for a token, https://TOKEN@host/: the user name is the secret.
        register_secret(unquote(user))
    return clean, UrlUserinfo(unquote(user), Secret(unquote(password)) if password else None)


def _shown(value: str) -> str:
    """``value`` fit for a message: no userinfo (this module cannot use transport.safe_url)."""
    return split_userinfo(value)[0]


def _endpoint(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/")


@dataclass(frozen=True)
class Registry:
    """One upload target and the URLs around it.

    ``upload_url`` is the legacy upload endpoint; ``web_url`` is the scheme and host
    that serve ``/simple/``, ``/integrity/`` and ``/project/`` pages. For PyPI these
    differ (upload.pypi.org vs pypi.org); for a custom index they are the same host.
    """

    kind: RegistryKind
    upload_url: str
    web_url: str
    #: What an ``unknown`` registry was asked for (for its error message); empty otherwise.
    requested: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """``pypi``, ``testpypi``, the upload URL of a custom index, or the unknown name."""
        if self.kind is RegistryKind.UNKNOWN:
            return self.requested or "unknown"
        return str(self)

    @property
    def oidc_audience(self) -> str | None:
        """The audience of OIDC tokens for this index when known without asking (PyPI, TestPyPI)."""
        return self.kind.oidc_audience

    @classmethod
    def parse(cls, value: str) -> Registry:
        """Accept ``pypi``, ``testpypi`` or an ``http(s)://`` legacy upload URL.

        A ``user:password@`` in the URL is dropped; use :meth:`parse_with_userinfo`
        to get it.
        """
        return cls.parse_with_userinfo(value)[0]

    @classmethod
    def lookup(cls, value: str) -> Registry:
        """Like :meth:`parse`, but a name or URL trustpub does not know gives :meth:`unknown`.

        For the library's requests (:meth:`trustpub.request.PublishRequest.from_targets`):
        the request is built whatever the name, and :meth:`~trustpub.request.PublishRequest.validate`
        refuses it with its own error.
        """
        try:
            return cls.parse(value)
        except ConfigurationError:
            return cls.unknown(_shown(value))

    @classmethod
    def unknown(cls, name: str = "unknown") -> Registry:
        """The fallback registry: kind ``unknown``, no URL; ``name`` is what was asked for."""
        return cls(RegistryKind.UNKNOWN, "", "", requested=name)

    @classmethod
    def parse_with_userinfo(cls, value: str) -> tuple[Registry, UrlUserinfo | None]:
        """Like :meth:`parse`, and also return the URL's ``user:password@`` part, if any."""
        clean, userinfo = split_userinfo(value)
        return cls._parse_clean(clean), userinfo

    @classmethod
    def _parse_clean(cls, value: str) -> Registry:
        lowered = value.strip().lower()
        for kind in (RegistryKind.PYPI, RegistryKind.TESTPYPI):
            upload, web = _KNOWN[kind]
            if lowered == kind.value or value.strip().rstrip("/") == upload.rstrip("/"):
                return cls(kind, upload, web)
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"unknown index {_shown(value)!r}",
                hint="use pypi, testpypi, or the index's legacy upload URL such as https://example.org/legacy/",
            )
        path = parts.path
        if path.rstrip("/").endswith("/legacy"):
            # PyPI answers 308 for /legacy without the slash; fix it before sending.
            path = path.rstrip("/") + "/"
        upload = urlunsplit((parts.scheme, parts.netloc, path or "/", parts.query, ""))
        web = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        return cls(RegistryKind.CUSTOM, upload, web)

    def same_index(self, other: Registry) -> bool:
        """True when both name the same upload endpoint (scheme, host, port and path).

        Credentials configured for one index are only used for the index that is the
        same by this test: ``https://Example.org/legacy`` and ``https://example.org:443/legacy/``
        are one index; ``upload.pypi.org`` and ``pypi.example.org`` are not.
        """
        return _endpoint(self.upload_url) == _endpoint(other.upload_url)

    @property
    def host(self) -> str:
        return urlsplit(self.upload_url).hostname or ""

    @property
    def is_secure(self) -> bool:
        """https, or plain http to a loopback address (never leaves the machine)."""
        parts = urlsplit(self.upload_url)
        return parts.scheme == "https" or is_loopback_host(parts.hostname)

    @property
    def _oidc_base(self) -> str:
        # Same scheme and host as the upload URL, as twine and the official action do.
        parts = urlsplit(self.upload_url)
        return urlunsplit((parts.scheme, parts.netloc, "", "", ""))

    @property
    def audience_url(self) -> str:
        return f"{self._oidc_base}/_/oidc/audience"

    @property
    def mint_url(self) -> str:
        return f"{self._oidc_base}/_/oidc/mint-token"

    def simple_root(self) -> str:
        """Where the index's simple API lives (PEP 503/691), ending in ``/``.

        PyPI and TestPyPI: ``/simple/`` on the web host. A custom index: ``/simple/`` on
        its host, except a devpi-style upload URL ``/USER/INDEX/``, whose simple API is
        ``/USER/INDEX/+simple/``. ``trustpub publish --simple-url`` overrides both.
        """
        path = urlsplit(self.upload_url).path
        segments = [s for s in path.split("/") if s]
        if self.kind is RegistryKind.CUSTOM and len(segments) == 2 and segments[-1] != "legacy":
            return self.upload_url.rstrip("/") + "/+simple/"
        return f"{self.web_url}/simple/"

    def simple_url(self, project: str) -> str:
        """The PEP 691 page of one project."""
        from packaging.utils import canonicalize_name

        return f"{self.simple_root()}{canonicalize_name(project)}/"

    def project_url(self, name: str, version: str) -> str:
        """The page a user would open to see the release."""
        return f"{self.web_url}/project/{quote(name)}/{quote(version)}/"

    def integrity_url(self, name: str, version: str, filename: str) -> str:
        """PEP 740 provenance of one file (PyPI's integrity API)."""
        from packaging.utils import canonicalize_name

        return (
            f"{self.web_url}/integrity/{canonicalize_name(name)}/{quote(version)}/"
            f"{quote(filename)}/provenance"
        )

    def publishing_settings_url(self, project: str) -> str:
        """Where a project owner configures trusted publishers."""
        return f"{self.web_url}/manage/project/{quote(project)}/settings/publishing/"

    def __str__(self) -> str:
        return self.kind.value if self.kind is not RegistryKind.CUSTOM else self.upload_url
