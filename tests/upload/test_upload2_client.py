"""trustpub's Upload 2.0 client (PEP 694) against the local index's server side.

Real parts only: a running local world on 127.0.0.1, real wheels and sdists, the
project's transport, attestations signed by sigstore-python on the local Sigstore
instance.  The fault knobs of the index make it fail, reset and answer 202.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypi_attestations import Attestation, Distribution
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext

from tests.local._dists import Dist, build_sdist, build_wheel
from trustpub.errors import TrustpubError
from trustpub.local.index import LocalIndex
from trustpub.local.world import LocalWorld
from trustpub.secrets import Secret
from trustpub.transport import Transport
from trustpub.upload.engine import RetryPolicy
from trustpub.upload.upload2 import (
    PublishingSession,
    SessionGone,
    Upload2Client,
    Upload2Error,
    basic_authorization,
)

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass
class Env:
    world: LocalWorld
    context: SigningContext
    token: str
    transport: Transport

    @property
    def index(self) -> LocalIndex:
        return self.world.index

    def client(self, token: str | None = None, **kwargs: object) -> tuple[Upload2Client, list[float]]:
        sleeps: list[float] = []
        auth = basic_authorization("__token__", Secret(token or self.token))
        kwargs.setdefault("retry", RetryPolicy(attempts=4, base=0.01, cap=0.05))
        client = Upload2Client(self.transport, self.index.upload2_url, auth, sleep=sleeps.append, **kwargs)  # type: ignore[arg-type]
        return client, sleeps

    def minted(self) -> str:
        _, doc = self.transport.post_json(
            self.index.url + "/_/oidc/mint-token", {"token": self.world.issuer.mint_github("pypi")}
        )
        token: str = doc["token"]
        return token

    def attestation(self, dist: Dist) -> str:
        identity = IdentityToken(self.world.issuer.mint_github("sigstore"))
        with self.context.signer(identity, cache=True) as signer:
            return Attestation.sign(signer, Distribution.from_file(dist.path)).model_dump_json()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with LocalWorld.start(tmp_path_factory.mktemp("upload2-client")) as world:
        context = SigningContext.from_trust_config(world.sigstore.client_trust_config())
        yield Env(world, context, world.index.add_api_token(), Transport(timeout=30))


@pytest.fixture
def index(env: Env) -> Iterator[LocalIndex]:
    yield env.index
    upload2 = env.index.upload2
    upload2.processing_polls = 0
    upload2.retry_after = 1
    upload2.clear_faults()


def fresh(prefix: str = "cli2") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def hashes(dist: Dist) -> dict[str, str]:
    return {"sha256": dist.sha256, "blake2b": hashlib.blake2b(dist.data).hexdigest()}


def listed(env: Env, url: str, project: str) -> set[str] | None:
    response, doc = env.transport.get_json(f"{url}{project}/", headers={"Accept": SIMPLE_JSON})
    if response.status == 404:
        return None
    return {f["filename"] for f in doc["files"]}


def send(client: Upload2Client, session: PublishingSession, dist: Dist) -> None:
    upload = client.create_file(session, dist.filename, len(dist.data), hashes(dist))
    client.upload_bytes(upload, dist.path, len(dist.data), sha256=dist.sha256)
    assert client.complete_file(upload).status == "completed"


def test_discovery(env: Env, index: LocalIndex) -> None:
    client, _ = env.client()
    found = client.discover()
    assert found.supported and found.api_version == "2.0"
    # A legacy-only URL (an HTML page, a 404) means the legacy API.
    for url in (index.upload_url, index.url + "/nothing/", index.simple_url):
        other = Upload2Client(env.transport, url, basic_authorization("__token__", Secret(env.token)))
        result = other.discover()
        assert not result.supported, (url, result)


def test_whole_flow_stages_then_publishes_atomically(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    wheel, sdist = build_wheel(tmp_path, name, "1.0"), build_sdist(tmp_path, name, "1.0")
    client, _ = env.client()
    session = client.create_session(name, "1.0")
    assert session.status == "open" and session.stage_url and session.session_token
    assert session.expires_at is not None and session.expires_at.timestamp() > time.time()
    sent: list[int] = []
    upload = client.create_file(session, wheel.filename, len(wheel.data), hashes(wheel))
    client.upload_bytes(upload, wheel.path, len(wheel.data), sha256=wheel.sha256, on_bytes=sent.append)
    assert sum(sent) == len(wheel.data)
    client.complete_file(upload)
    send(client, session, sdist)
    assert listed(env, index.simple_url, name) is None
    assert listed(env, session.stage_url, name) == {wheel.filename, sdist.filename}
    state = client.status(session.url)
    assert {f: e.status for f, e in state.files.items()} == {wheel.filename: "completed", sdist.filename: "completed"}
    assert client.publish(session).status == "published"
    assert listed(env, index.simple_url, name) == {wheel.filename, sdist.filename}
    assert client.publish(session).status == "published"  # a repeated publish is harmless


def test_refused_file_is_a_problem_naming_the_file(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    bad = build_wheel(tmp_path, name, "1.0", metadata=[("Classifier", "Not :: A Classifier")])
    client, _ = env.client()
    session = client.create_session(name, "1.0")
    upload = client.create_file(session, bad.filename, len(bad.data), hashes(bad))
    client.upload_bytes(upload, bad.path, len(bad.data))
    with pytest.raises(Upload2Error) as caught:
        client.complete_file(upload)
    error = caught.value
    assert error.status == 400 and error.filename == bad.filename and error.title
    assert str(error).startswith(bad.filename + ": ")
    assert "'Not :: A Classifier' is not a valid classifier" in error.message
    assert [item.message for item in error.errors] and all(item.source == bad.filename for item in error.errors)
    assert not error.retryable
    assert env.token not in str(error)
    # Publishing with a file in error is refused, and cancel leaves nothing behind.
    with pytest.raises(Upload2Error) as caught:
        client.publish(session)
    assert caught.value.status == 409 and bad.filename in caught.value.message
    client.cancel(session)
    client.cancel(session)  # already canceled: fine
    assert client.status(session.url).status == "canceled"
    assert listed(env, index.simple_url, name) is None


def test_byte_uploads_are_retried_like_legacy_uploads(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    wheel = build_wheel(tmp_path, name, "1.0", payload=b"y" * 400_000)
    client, sleeps = env.client()
    session = client.create_session(name, "1.0")
    upload = client.create_file(session, wheel.filename, len(wheel.data), hashes(wheel))
    index.upload2.fail_next(1, 503, retry_after=0)
    index.upload2.reset_next(1)
    index.upload2.fail_next(1, 429)
    client.upload_bytes(upload, wheel.path, len(wheel.data), sha256=wheel.sha256)
    assert len(sleeps) == 3 and sleeps[0] == 0
    assert client.complete_file(upload).status == "completed"
    # A 4xx is final: not retried.
    index.upload2.fail_next(1, 400, action="publish")
    with pytest.raises(Upload2Error) as caught:
        client.publish(session)
    assert caught.value.status == 400 and len(sleeps) == 3
    client.publish(session)


def test_a_file_changed_while_streaming_is_never_stored(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    wheel = build_wheel(tmp_path, name, "1.0")
    client, sleeps = env.client()
    session = client.create_session(name, "1.0")
    upload = client.create_file(session, wheel.filename, len(wheel.data), hashes(wheel))
    with pytest.raises(Upload2Error, match="changed on disk"):
        client.upload_bytes(upload, wheel.path, len(wheel.data), sha256="0" * 64)
    assert sleeps == []
    with pytest.raises(Upload2Error, match="no bytes were uploaded"):
        client.complete_file(upload)
    client.cancel(session)


def test_202_is_polled_until_it_resolves(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    index.add_project(name)
    wheel = build_wheel(tmp_path, name, "1.0")
    index.upload2.processing_polls = 3
    index.upload2.retry_after = 0
    client, sleeps = env.client()
    session = client.create_session(name, "1.0")
    send(client, session, wheel)
    assert len(sleeps) == 3
    assert client.publish(session).status == "published"
    assert len(sleeps) == 6
    assert listed(env, index.simple_url, name) == {wheel.filename}


def test_joining_and_resuming(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    wheel = build_wheel(tmp_path, name, "1.0")
    client, _ = env.client()
    session = client.create_session(name, "1.0")
    # A second run (a crash, a second publisher) joins the open session and resumes the pending file.
    again = client.create_session(name, "1.0")
    assert again.url == session.url
    upload = client.create_file(session, wheel.filename, len(wheel.data), hashes(wheel))
    resumed = client.create_file(again, wheel.filename, len(wheel.data), hashes(wheel))
    assert resumed.url == upload.url and resumed.status == "pending"
    extended = client.extend(session, 7200)
    assert extended.expires_at is not None and session.expires_at is not None
    assert extended.expires_at > session.expires_at
    assert client.extend_file(upload, 60).status == "pending"
    client.cancel_file(upload)
    client.cancel(session)
    with pytest.raises(SessionGone):
        client.file_status(wheel.filename, upload.url)


def test_trusted_publishing_with_rotating_tokens_and_attestations(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh("tp2")
    env.world.trust_github_publisher(name)
    wheel = build_wheel(tmp_path, name, "1.0")
    tokens = [env.minted()]

    def current() -> Secret:
        return basic_authorization("__token__", Secret(tokens[-1]))

    client = Upload2Client(env.transport, index.upload2_url, current)
    session = client.create_session(name, "1.0")
    upload = client.create_file(session, wheel.filename, len(wheel.data), hashes(wheel))
    client.upload_bytes(upload, wheel.path, len(wheel.data))
    tokens.append(env.minted())  # re-minted mid-release: the next requests use the new one
    client.upload_attestations(upload, [env.attestation(wheel)])
    client.complete_file(upload)
    client.publish(session)
    response, doc = env.transport.get_json(f"{index.url}/integrity/{name}/1.0/{wheel.filename}/provenance")
    assert response.status == 200
    assert doc["attestation_bundles"][0]["publisher"]["kind"] == "GitHub"


def test_credentials_errors_show_no_secret(env: Env, index: LocalIndex) -> None:
    bogus = "pypi-" + "z" * 48
    client, _ = env.client(token=bogus)
    with pytest.raises(Upload2Error) as caught:
        client.create_session(fresh(), "1.0")
    assert caught.value.status == 401 and caught.value.hint
    assert bogus not in str(caught.value) and isinstance(caught.value, TrustpubError)
    # A token for another project: 403, with the index's reason.
    other = index.add_api_token(fresh("elsewhere"))
    name = fresh()
    index.add_project(name)
    client, _ = env.client(token=other)
    with pytest.raises(Upload2Error) as caught:
        client.create_session(name, "1.0")
    assert caught.value.status == 403 and "not valid for project" in caught.value.message
    assert other not in json.dumps(caught.value.message)
