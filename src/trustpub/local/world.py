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
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from trustpub.local.index import LocalIndex
from trustpub.local.issuer import GITHUB_ISSUER, GITLAB_ISSUER, GOOGLE_ISSUER, OIDCIssuer
from trustpub.local.sigstore import SigstoreInstance

__all__ = ["LocalWorld"]


@dataclass
class LocalWorld:
    """A running issuer, Sigstore instance and index; stop() ends all three."""

    issuer: OIDCIssuer
    sigstore: SigstoreInstance
    index: LocalIndex
    directory: Path
    trust_config: Path
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

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
            jwks = {iss: issuer.jwks_url for iss in (GITHUB_ISSUER, GITLAB_ISSUER, GOOGLE_ISSUER)}
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

    def info(self) -> dict[str, Any]:
        """URLs, paths and environment, as ``serve`` prints them (contains the runner's request token)."""
        return {
            "index": {"url": self.index.url, "upload_url": self.index.upload_url, "simple_url": self.index.url + "/simple/"},
            "issuer": {"url": self.issuer.url, "jwks_url": self.issuer.jwks_url},
            "sigstore": {"url": self.sigstore.url, "trust_config": str(self.trust_config)},
            "directory": str(self.directory),
            "environment": self.ci_environment(),
        }

    def write_info(self, directory: Path | str | None = None) -> Path:
        """Write ``world.json`` and a sourceable ``env`` file; returns the JSON path."""
        target = Path(directory) if directory is not None else self.directory
        target.mkdir(parents=True, exist_ok=True)
        path = target / "world.json"
        path.write_text(json.dumps(self.info(), indent=2) + "\n")
        env_lines = [f"export {k}='{v}'" for k, v in self.ci_environment().items()]
        env_path = target / "env"
        env_path.write_text("\n".join(env_lines) + "\n")
        env_path.chmod(0o600)
        return path
