"""Where a release goes: PyPI, TestPyPI, or any index that speaks the legacy upload API.

A :class:`Registry` knows every URL trustpub needs for one index, derived the way
twine and gh-action-pypi-publish derive them (the OIDC endpoints live on the upload
URL's scheme and host), so nothing downstream builds URLs by hand::

    >>> reg = Registry.parse("testpypi")
    >>> reg.upload_url
    'https://test.pypi.org/legacy/'
    >>> reg.project_url("demo", "1.0")
    'https://test.pypi.org/project/demo/1.0/'
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from trustpub.errors import ConfigurationError

__all__ = ["Registry", "RegistryKind", "is_loopback_host"]


class RegistryKind(enum.Enum):
    """The two public indexes trustpub knows by name, and everything else."""

    PYPI = "pypi"
    TESTPYPI = "testpypi"
    CUSTOM = "custom"

    def __str__(self) -> str:
        return self.value


_KNOWN = {
    RegistryKind.PYPI: ("https://upload.pypi.org/legacy/", "https://pypi.org"),
    RegistryKind.TESTPYPI: ("https://test.pypi.org/legacy/", "https://test.pypi.org"),
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
class Registry:
    """One upload target and the URLs around it.

    ``upload_url`` is the legacy upload endpoint; ``web_url`` is the scheme and host
    that serve ``/simple/``, ``/integrity/`` and ``/project/`` pages. For PyPI these
    differ (upload.pypi.org vs pypi.org); for a custom index they are the same host.
    """

    kind: RegistryKind
    upload_url: str
    web_url: str

    @classmethod
    def parse(cls, value: str) -> Registry:
        """Accept ``pypi``, ``testpypi`` or an ``http(s)://`` legacy upload URL."""
        lowered = value.strip().lower()
        for kind in (RegistryKind.PYPI, RegistryKind.TESTPYPI):
            upload, web = _KNOWN[kind]
            if lowered == kind.value or value.strip().rstrip("/") == upload.rstrip("/"):
                return cls(kind, upload, web)
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"unknown index {value!r}",
                hint="use pypi, testpypi, or the index's legacy upload URL such as https://example.org/legacy/",
            )
        path = parts.path
        if path.rstrip("/").endswith("/legacy"):
            # PyPI answers 308 for /legacy without the slash; fix it before sending.
            path = path.rstrip("/") + "/"
        upload = urlunsplit((parts.scheme, parts.netloc, path or "/", parts.query, ""))
        web = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        return cls(RegistryKind.CUSTOM, upload, web)

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
