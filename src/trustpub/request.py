"""What to publish, where, and how: :class:`PublishRequest` and its validation.

Validation runs before anything else and makes no network call, so a typo in a flag
costs nothing. A dry run validates without an OIDC provider::

    >>> req = PublishRequest(paths=(Path("dist"),), registry=Registry.parse("testpypi"), dry_run=True)
    >>> req.validate()                                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trustpub.errors import ConfigurationError
from trustpub.registry import Registry, UrlUserinfo, split_userinfo

__all__ = ["CREDENTIAL_METHODS", "UPLOADERS", "PublishRequest"]

CREDENTIAL_METHODS = ("auto", "trusted-publishing", "token")
UPLOADERS = ("native", "uv")
MAX_JOBS = 32


@dataclass(frozen=True)
class PublishRequest:
    """One release: the files, the target index, and the options of ``trustpub publish``.

    ``attestations`` ``None`` means "on with trusted publishing, off otherwise" (PyPI
    only accepts attestations with a token minted through trusted publishing).
    ``env`` replaces ``os.environ`` for CI detection (tests, ``rehearse``).
    ``url_credentials`` is the ``user:password@`` of the target URL, split off by
    :func:`trustpub.target.resolve_target` (``registry`` never holds it), and
    ``url_credentials_source`` says where it was written. ``keyring_provider``
    ``import`` lets credentials come from the keyring (None: ``$TRUSTPUB_KEYRING_PROVIDER``,
    else ``disabled``).
    ``state_dir`` ``None`` means the per-user state folder (:mod:`trustpub.state`).
    """

    paths: tuple[Path, ...]
    registry: Registry
    dry_run: bool = False
    credentials: str = "auto"
    repository: str | None = None
    sigstore: str | None = None
    attestations: bool | None = None
    slsa: bool = False
    jobs: int = 4
    uploader: str = "native"
    uv_binary: str = "uv"
    attestations_dir: Path | None = None
    state_dir: Path | None = None
    builder_id: str | None = None
    simple_url: str | None = None
    #: Seconds to wait for each answer (``--timeout``); ``None``: ``$TRUSTPUB_TIMEOUT``,
    #: else :data:`trustpub.transport.DEFAULT_TIMEOUT`.
    timeout: float | None = None
    url_credentials: UrlUserinfo | None = field(default=None, repr=False)
    url_credentials_source: str = "the --to URL"
    keyring_provider: str | None = None
    env: Mapping[str, str] | None = field(default=None, repr=False)

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` for anything that cannot work, before any I/O but stat."""
        if not self.paths:
            raise ConfigurationError("nothing to publish: no paths given", hint="pass dist/ or the files to upload")
        for path in self.paths:
            if not path.exists():
                raise ConfigurationError(f"{path}: no such file or folder")
        if self.credentials not in CREDENTIAL_METHODS:
            raise ConfigurationError(
                f"unknown credentials method {self.credentials!r}", hint=f"use one of: {', '.join(CREDENTIAL_METHODS)}"
            )
        if self.uploader not in UPLOADERS:
            raise ConfigurationError(f"unknown uploader {self.uploader!r}", hint=f"use one of: {', '.join(UPLOADERS)}")
        if not 1 <= self.jobs <= MAX_JOBS:
            raise ConfigurationError(f"--jobs must be between 1 and {MAX_JOBS}, not {self.jobs}")
        if self.repository and self.credentials == "trusted-publishing":
            raise ConfigurationError(
                "--repository names .pypirc credentials, which --credentials trusted-publishing does not use",
                hint="drop one of the two options",
            )
        if self.attestations is False and self.slsa:
            raise ConfigurationError("--slsa needs attestations, but --no-attestations was given")
        if self.url_credentials is not None and self.credentials == "trusted-publishing":
            raise ConfigurationError(
                f"{self.url_credentials_source} carries a user name or password, which --credentials "
                "trusted-publishing does not use",
                hint="remove user:password@ from the URL, or use --credentials token",
            )
        if self.keyring_provider not in (None, "disabled", "import"):
            raise ConfigurationError(
                f"unknown keyring provider {self.keyring_provider!r}", hint="use import or disabled"
            )
        if self.simple_url is not None:
            shown, userinfo = split_userinfo(self.simple_url)
            if not shown.startswith(("https://", "http://")):
                raise ConfigurationError(f"--simple-url {shown!r}: not an http(s) URL")
            if userinfo is not None:
                # The upload credentials already go to the simple API on the upload host.
                raise ConfigurationError(
                    f"--simple-url {shown!r}: a user name or password in this URL is not used",
                    hint="remove user:password@; the upload credentials are sent to it when it is on the upload host",
                )
        if self.timeout is not None and not (0 < self.timeout < float("inf")):
            raise ConfigurationError(f"--timeout must be a positive number of seconds, not {self.timeout:g}")
        if self.attestations_dir is not None and self.attestations_dir.exists() and not self.attestations_dir.is_dir():
            raise ConfigurationError(f"--attestations-dir {self.attestations_dir}: not a folder")
