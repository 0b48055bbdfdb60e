"""The whole local PyPI world in one call: OIDC issuer, Sigstore instance, and index.

Everything binds 127.0.0.1 on free ports and starts in well under a second. The world
hands out what a CI job would have: the upload URL, the trust config of its Sigstore
instance, and the environment variables of a GitHub Actions runner whose identity
the index trusts as a trusted publisher::

    from trustpub.local.world import LocalWorld

    with LocalWorld.start(project="trustpub-demo") as world:
        env = world.ci_environment()      # GITHUB_ACTIONS, ACTIONS_ID_TOKEN_REQUEST_*, TRUSTPUB_SIGSTORE, ...
        world.index.upload_url            # http://127.0.0.1:PORT/legacy/

From a shell: ``python -m trustpub.local serve --dir DIR`` prints the same facts as
JSON, writes them to ``DIR/world.json`` and ``DIR/env``, and runs until interrupted.
It also issues an API token (:meth:`LocalWorld.issue_api_token`), so the token and
``.pypirc`` flows can be tried as they are on PyPI: the JSON carries it as
``api_token`` and ``DIR/pypirc`` has a ``[local]`` section with it (``twine upload
--config-file DIR/pypirc -r local``, or ``PYPIRC=DIR/pypirc trustpub publish --to
URL --credentials token``). Every file that holds a secret is written with mode 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from trustpub.local.index import LocalIndex
from trustpub.local.issuer import (
    ACTIVESTATE_ISSUER,
    GITHUB_ISSUER,
    GITLAB_ISSUER,
    GOOGLE_ISSUER,
    OIDCIssuer,
)
from trustpub.local.sigstore import SigstoreInstance

__all__ = ["PYPIRC_SECTION", "LocalWorld"]

#: The section of ``DIR/pypirc`` that names the local index and its API token.
PYPIRC_SECTION = "local"


@dataclass
class LocalWorld:
    """A running issuer, Sigstore instance and index; stop() ends all three."""

    issuer: OIDCIssuer
    sigstore: SigstoreInstance
    index: LocalIndex
    directory: Path
    trust_config: Path
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    #: The token made by :meth:`issue_api_token`, if any (kept out of ``repr``).
    api_token: str | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        directory: Path | str | None = None,
        *,
        project: str | None = None,
        audience: str = "pypi",
    ) -> LocalWorld:
        """Start everything; with ``project``, register the issuer's GitHub identity as its trusted publisher.

        ``directory`` keeps the index's storage and the trust config; a temporary
        folder (removed on stop) is used when it is not given.
        """
        tmp = None
        if directory is None:
            tmp = tempfile.TemporaryDirectory(prefix="trustpub-world-")
            directory = tmp.name
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        issuer = OIDCIssuer().start()
        try:
            sigstore = SigstoreInstance(issuer).start()
            trust_config = sigstore.write_trust_config(root / "trust_config.json")
            jwks = {iss: issuer.jwks_url for iss in (GITHUB_ISSUER, GITLAB_ISSUER, GOOGLE_ISSUER, ACTIVESTATE_ISSUER)}
            index = LocalIndex(root / "index", audience=audience, jwks_urls=jwks, trust_config=trust_config)
            index.start()
        except BaseException:
            issuer.stop()
            raise
        world = cls(issuer, sigstore, index, root, trust_config, tmp)
        if project is not None:
            world.trust_github_publisher(project)
        return world

    def trust_github_publisher(self, project: str) -> None:
        """Create ``project`` on the index with the issuer's current GitHub identity as its publisher."""
        ident = self.issuer.github
        self.index.add_project(project)
        self.index.add_github_publisher(
            project,
            repository=ident.repository,
            repository_owner_id=ident.repository_owner_id,
            workflow_file=ident.workflow_file,
            environment=ident.environment,
        )

    def issue_api_token(self) -> str:
        """Create an account-wide API token on the index (once) and keep it for :meth:`info`.

        Account-wide, like a user's unscoped token on PyPI: it uploads to every project,
        those created with ``serve --project`` and new ones (the account owns them).
        """
        if self.api_token is None:
            self.api_token = self.index.add_api_token()
        return self.api_token

    def stop(self) -> None:
        for service in (self.index, self.sigstore, self.issuer):
            service.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalWorld:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def ci_environment(self) -> dict[str, str]:
        """The variables a GitHub Actions job with ``id-token: write`` would have, pointed at this world."""
        ident = self.issuer.github
        return {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.issuer.github_token_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.issuer.request_token,
            "GITHUB_REPOSITORY": ident.repository,
            "GITHUB_REPOSITORY_OWNER_ID": ident.repository_owner_id,
            "GITHUB_REF": ident.ref,
            "GITHUB_SHA": ident.sha,
            "GITHUB_EVENT_NAME": ident.event_name,
            "GITHUB_RUN_ID": ident.run_id,
            "GITHUB_RUN_ATTEMPT": ident.run_attempt,
            "GITHUB_WORKFLOW_REF": f"{ident.repository}/.github/workflows/{ident.workflow_file}@{ident.ref}",
            "GITHUB_SERVER_URL": "https://github.com",
            "TRUSTPUB_SIGSTORE": str(self.trust_config),
        }

    def info(self, directory: Path | str | None = None) -> dict[str, Any]:
        """URLs, paths and environment, as ``serve`` prints them.

        It holds secrets of this world only: the runner's request token and, once
        :meth:`issue_api_token` was called, ``api_token`` and the ``pypirc`` path
        (in ``directory``, default the world's folder).
        """
        info: dict[str, Any] = {
            "index": {
                "url": self.index.url,
                "upload_url": self.index.upload_url,
                "upload2_url": self.index.upload2_url,
                "simple_url": self.index.url + "/simple/",
            },
            "issuer": {"url": self.issuer.url, "jwks_url": self.issuer.jwks_url},
            "sigstore": {"url": self.sigstore.url, "trust_config": str(self.trust_config)},
            "directory": str(self.directory),
            "environment": self.ci_environment(),
        }
        if self.api_token is not None:
            info["api_token"] = self.api_token
            info["pypirc"] = str(Path(directory if directory is not None else self.directory) / "pypirc")
        return info

    def pypirc(self) -> str:
        """A ``.pypirc`` with a ``[local]`` section: the upload URL and the API token."""
        token = self.issue_api_token()
        return (
            "[distutils]\n"
            f"index-servers =\n    {PYPIRC_SECTION}\n\n"
            f"[{PYPIRC_SECTION}]\n"
            f"repository = {self.index.upload_url}\n"
            "username = __token__\n"
            f"password = {token}\n"
        )

    def write_info(self, directory: Path | str | None = None) -> Path:
        """Write ``world.json``, a sourceable ``env`` file and (with a token) ``pypirc``; returns the JSON path.

        All three hold secrets, so each is created with mode 0600 (never readable by
        others, not even for a moment) and made 0600 again if it already existed.
        """
        target = Path(directory) if directory is not None else self.directory
        target.mkdir(parents=True, exist_ok=True)
        path = target / "world.json"
        _write_private(path, json.dumps(self.info(target), indent=2) + "\n")
        env_lines = [f"export {k}='{v}'" for k, v in self.ci_environment().items()]
        _write_private(target / "env", "\n".join(env_lines) + "\n")
        if self.api_token is not None:
            _write_private(target / "pypirc", self.pypirc())
        return path


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
