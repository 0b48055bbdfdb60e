"""What to publish, where, and how: :class:`PublishRequest` and its validation.

Validation runs before anything else and makes no network call, so a typo in a flag
costs nothing. A dry run validates without an OIDC provider::

    >>> req = PublishRequest(paths=(Path("dist"),), registry=Registry.parse("testpypi"), dry_run=True)
    >>> req.validate()                                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from trustpub.artifacts import Target, validate_targets
from trustpub.auth import METHODS as CREDENTIAL_METHODS
from trustpub.errors import ConfigurationError
from trustpub.registry import Registry, RegistryKind, UrlUserinfo, split_userinfo
from trustpub.request_errors import MissingIdentityProvider, UnknownRegistry

if TYPE_CHECKING:
    from trustpub.oidc import OIDCProvider

__all__ = ["CREDENTIAL_METHODS", "UPLOADERS", "PublishRequest", "Target"]

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
    #: ``--upload-api``: ``None``/``legacy``, ``auto`` or an Upload 2.0 root URL
    #: (:func:`trustpub.upload.session.choose_upload_api`).
    upload_api: str | None = None
    #: Upload 2.0 only: stop at the stage (``--stage-only``), keep it on failure
    #: (``--keep-stage``), try it with a command first (``--smoke``).
    stage_only: bool = False
    keep_stage: bool = False
    smoke: str | None = None
    #: ``--session URL|ID``: publish (or with ``cancel_session`` cancel) a stage left earlier.
    session: str | None = None
    cancel_session: bool = False
    #: Explicit targets (:meth:`from_targets`): the release a build tool declares. ``None``:
    #: the files are found under ``paths``, as on the command line.
    targets: tuple[Target, ...] | None = None
    distribution: str | None = None
    version: str | None = None
    #: The OIDC identity that mints the upload token and signs attestations; ``None``:
    #: detected from the CI environment (``env``), as on the command line.
    identity: OIDCProvider | None = field(default=None, repr=False)

    @classmethod
    def from_targets(
        cls,
        distribution: str,
        version: str,
        targets: Iterable[Target],
        *,
        registry: Registry | RegistryKind | str = "pypi",
        identity: OIDCProvider | None = None,
        dry_run: bool = False,
        credentials: str = "trusted-publishing",
        **options: Any,
    ) -> PublishRequest:
        """A release as a build tool knows it: name, version and its artifacts with their digests.

        ``registry`` is a :class:`Registry`, a kind, ``pypi``/``testpypi`` or an upload URL;
        a name trustpub does not know becomes :meth:`Registry.unknown`, which
        :meth:`validate` refuses. ``credentials`` defaults to trusted publishing, which
        needs ``identity`` unless ``dry_run``. ``options`` are the other fields.
        Nothing is checked here: :meth:`validate` (and so ``trustpub.publish``) does it.
        """
        if isinstance(registry, RegistryKind):
            reg = Registry.lookup(registry.value) if registry is not RegistryKind.CUSTOM else Registry.unknown("custom")
        elif isinstance(registry, str):
            reg = Registry.lookup(registry)
        else:
            reg = registry
        listed = tuple(targets)
        return cls(
            paths=tuple(Path(t.path) for t in listed), registry=reg, dry_run=dry_run, credentials=credentials,
            targets=listed, distribution=distribution, version=version, identity=identity, **options,
        )

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` for anything that cannot work, before any I/O but stat."""
        if self.registry.kind is RegistryKind.UNKNOWN:
            raise UnknownRegistry(self.registry.name)
        if self.targets is not None:
            # Each refusal of an explicit release is its own class (trustpub.request_errors).
            validate_targets(self.distribution, self.version, self.targets)
            if not self.dry_run and self.credentials == "trusted-publishing" and self.identity is None:
                raise MissingIdentityProvider()
        if self.session is None:  # --session publishes what the index already holds
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
        self._validate_upload2()
        if self.attestations_dir is not None and self.attestations_dir.exists() and not self.attestations_dir.is_dir():
            raise ConfigurationError(f"--attestations-dir {self.attestations_dir}: not a folder")

    def _validate_upload2(self) -> None:
        staged = [flag for flag, on in (("--stage-only", self.stage_only), ("--keep-stage", self.keep_stage),
                                        ("--smoke", self.smoke is not None), ("--session", self.session is not None),
                                        ("--cancel", self.cancel_session)) if on]
        api = self.upload_api
        if api not in (None, "legacy", "auto") and not str(api).startswith(("https://", "http://")):
            raise ConfigurationError(f"--upload-api {api!r}: not legacy, auto or an http(s) URL")
        if api is not None and "@" in urlsplit(str(api)).netloc:
            raise ConfigurationError("--upload-api: a user name or password in the URL is not used",
                                     hint="remove user:password@; the upload credentials are sent to it")
        if api not in (None, "legacy", "auto") and urlsplit(str(api)).netloc != urlsplit(self.registry.upload_url).netloc:
            # The upload credentials are bound to their index: never sent to another host.
            raise ConfigurationError(
                f"--upload-api {api}: not on the upload host {urlsplit(self.registry.upload_url).netloc}",
                hint="give the Upload 2.0 root of the same index as --to",
            )
        if staged and api in (None, "legacy"):
            raise ConfigurationError(
                f"{staged[0]} needs the Upload 2.0 API, and --upload-api does not choose it",
                hint="add --upload-api URL (or --upload-api auto for a custom index)",
            )
        if self.cancel_session and self.session is None:
            raise ConfigurationError("--cancel needs --session ID", hint="name the stage to cancel")
        if self.session is not None and (self.stage_only or self.smoke):
            raise ConfigurationError("--session publishes or cancels a stage; --stage-only and --smoke do not apply")
        if self.smoke is not None and not self.smoke.strip():
            raise ConfigurationError("--smoke needs a command", hint='e.g. --smoke "python -c \'import pkg\'"')
