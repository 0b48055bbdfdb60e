"""The local index's Upload 2.0 API (PEP 694), driven over HTTP on 127.0.0.1.

Every test talks to a running local world with ``http.client``: sessions, file upload
sessions, ``http-post-bytes``, attestations signed by the real sigstore-python on the
local Sigstore instance, 202 polling, cancel, extend, authorization on every request,
problem-details errors, and atomic visibility: nothing of a session is on the regular
simple index before it is published, everything is after.  The stage preview is
exercised with real ``pip``.  One world serves the module; each test uses its own
project names.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pypi_attestations import Attestation, Distribution
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext

from tests.local._dists import Dist, build_sdist, build_wheel, multipart
from trustpub.local.index import LocalIndex
from trustpub.local.world import LocalWorld

MEDIA = "application/vnd.pypi.upload.v2+json"
PROBLEM = "application/problem+json"
VENV_BIN = Path(sys.executable).parent
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type", ""))


def call(
    url: str,
    method: str = "GET",
    payload: Any = None,
    *,
    token: str | None = None,
    data: bytes | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request; ``payload`` goes as Upload 2.0 JSON (with ``meta`` added unless given)."""
    parts = urlsplit(url)
    send = dict(headers or {})
    if payload is not None:
        body = {"meta": {"api-version": "2.0"}, **payload} if isinstance(payload, dict) else payload
        data = json.dumps(body).encode()
        send.setdefault("Content-Type", content_type or MEDIA)
    elif content_type is not None:
        send["Content-Type"] = content_type
    if token is not None:
        send["Authorization"] = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(method, path, data, send)
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def assert_problem(reply: Reply, status: int, *, source: str | None = None, text: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with the PEP's members; ``source``/``text`` must appear in ``errors``."""
    assert reply.status == status, reply.body[:500]
    assert reply.content_type == PROBLEM
    doc: dict[str, Any] = reply.json()
    assert doc["status"] == status and doc["title"] and doc["details"]
    assert doc["meta"] == {"api-version": "2.0"}
    assert doc["type"].startswith("https://")
    if source is not None:
        assert source in [e["source"] for e in doc["errors"]], doc
    if text is not None:
        assert any(text in e["message"] for e in doc["errors"]) or text in doc["details"], doc
    return doc


@dataclass
class Env:
    world: LocalWorld
    context: SigningContext
    account_token: str

    @property
    def index(self) -> LocalIndex:
        return self.world.index

    @property
    def root(self) -> str:
        return self.world.index.upload2_url

    def minted(self) -> str:
        reply = call(
            self.index.url + "/_/oidc/mint-token",
            "POST",
            data=json.dumps({"token": self.world.issuer.mint_github("pypi")}).encode(),
        )
        assert reply.status == 200, reply.body
        token: str = reply.json()["token"]
        return token

    def attest(self, dist: Dist) -> dict[str, Any]:
        identity = IdentityToken(self.world.issuer.mint_github("sigstore"))
        with self.context.signer(identity, cache=True) as signer:
            attestation = Attestation.sign(signer, Distribution.from_file(dist.path))
        document: dict[str, Any] = attestation.model_dump(mode="json")
        return document


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with LocalWorld.start(tmp_path_factory.mktemp("upload2-world")) as world:
        context = SigningContext.from_trust_config(world.sigstore.client_trust_config())
        yield Env(world, context, world.index.add_api_token())


@pytest.fixture
def index(env: Env) -> Iterator[LocalIndex]:
    yield env.index
    upload2 = env.index.upload2
    upload2.processing_polls = 0
    upload2.retry_after = 1
    upload2.clock = time.time
    upload2.clear_faults()
    env.index.read_only = False


def fresh(prefix: str = "up2") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create(env: Env, name: str, version: str = "1.0", token: str | None = None) -> dict[str, Any]:
    reply = call(env.root, "POST", {"name": name, "version": version}, token=token or env.account_token)
    assert reply.status == 201, reply.body
    doc: dict[str, Any] = reply.json()
    assert reply.headers["Location"] == doc["links"]["session"]
    assert reply.content_type == MEDIA
    return doc


def add_file(env: Env, session: dict[str, Any], dist: Dist, token: str | None = None, **overrides: Any) -> dict[str, Any]:
    payload = {
        "filename": dist.filename,
        "size": len(dist.data),
        "hashes": {"sha256": dist.sha256, "blake2b": hashlib.blake2b(dist.data).hexdigest()},
        "mechanism": "http-post-bytes",
        **overrides,
    }
    reply = call(session["links"]["upload"], "POST", payload, token=token or env.account_token)
    assert reply.status == 202, reply.body
    assert reply.headers["Retry-After"].isdigit()
    doc: dict[str, Any] = reply.json()
    assert doc["status"] == "pending" and doc["mechanism"]["identifier"] == "http-post-bytes"
    return doc


def send_bytes(env: Env, upload: dict[str, Any], data: bytes, token: str | None = None) -> Reply:
    return call(upload["mechanism"]["file_url"], "POST", data=data, content_type="application/octet-stream",
                token=token or env.account_token)


def complete(env: Env, upload: dict[str, Any], token: str | None = None) -> Reply:
    return call(upload["links"]["complete"], "POST", {}, token=token or env.account_token)


def stage(env: Env, session: dict[str, Any], dist: Dist, token: str | None = None) -> dict[str, Any]:
    upload = add_file(env, session, dist, token)
    assert send_bytes(env, upload, dist.data, token).status == 204
    reply = complete(env, upload, token)
    assert reply.status == 201, reply.body
    doc: dict[str, Any] = reply.json()
    assert doc["status"] == "completed"
    return doc


def listed(index_url: str, project: str) -> set[str] | None:
    """Filenames on a simple index page, or None for a 404."""
    reply = call(f"{index_url}{project}/", headers={"Accept": SIMPLE_JSON})
    if reply.status == 404:
        return None
    assert reply.status == 200, reply.body
    return {f["filename"] for f in reply.json()["files"]}


def status(env: Env, session: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    reply = call(session["links"]["session"], token=token or env.account_token)
    assert reply.status == 200, reply.body
    doc: dict[str, Any] = reply.json()
    return doc


# == discovery and the request format ===============================================


def test_root_discovery_and_negotiation(env: Env, index: LocalIndex) -> None:
    reply = call(env.root, headers={"Accept": MEDIA})
    assert reply.status == 200 and reply.content_type == MEDIA
    assert reply.json()["meta"]["api-version"] == "2.0"
    assert "http-post-bytes" in reply.json()["mechanisms"]
    assert_problem(call(env.root, headers={"Accept": "text/html"}), 406, source="Accept")
    # The world's info (what `python -m trustpub.local serve` prints) names the root.
    assert env.world.info()["index"]["upload2_url"] == env.root == index.url + "/2.0/"


def test_request_format_errors_are_problems(env: Env, index: LocalIndex) -> None:
    name = fresh()
    reply = call(env.root, "POST", {"name": name, "version": "1.0"}, token=env.account_token,
                 content_type="application/json")
    assert_problem(reply, 415, source="Content-Type")
    reply = call(env.root, "POST", {"meta": {"api-version": "1.0"}, "name": name, "version": "1.0"},
                 token=env.account_token)
    assert_problem(reply, 400, source="meta.api-version")
    reply = call(env.root, "POST", {"name": "-bad-", "version": "nope"}, token=env.account_token)
    doc = assert_problem(reply, 400)
    assert {e["source"] for e in doc["errors"]} == {"name", "version"}
    reply = call(env.root, "POST", {"name": name, "version": "1.0+local"}, token=env.account_token)
    assert_problem(reply, 400, source="version", text="local versions")
    session = create(env, name)
    dist = build_wheel(Path(index.storage).parent / "dists" / name, name, "1.0")
    bad = call(session["links"]["upload"], "POST",
               {"filename": dist.filename, "size": 1, "hashes": {"sha256": dist.sha256}, "mechanism": "vnd-x-y"},
               token=env.account_token)
    assert_problem(bad, 422, source=dist.filename)
    weak = call(session["links"]["upload"], "POST",
                {"filename": dist.filename, "size": 1, "hashes": {"md5": "0" * 32}, "mechanism": "http-post-bytes"},
                token=env.account_token)
    assert_problem(weak, 400, text="secure hash")
    other = call(session["links"]["upload"], "POST",
                 {"filename": "other-1.0-py3-none-any.whl", "size": 1, "hashes": {"sha256": "0" * 64},
                  "mechanism": "http-post-bytes"}, token=env.account_token)
    assert_problem(other, 400, source="other-1.0-py3-none-any.whl")
    assert_problem(call(env.root + "nothing/here", token=env.account_token), 404)
    assert_problem(call(session["links"]["publish"], "GET", token=env.account_token), 405)


# == the whole flow: staged, previewed, published atomically ========================


def test_staged_release_is_invisible_until_published(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    wheel = build_wheel(tmp_path, name, "1.0")
    sdist = build_sdist(tmp_path, name, "1.0")
    session = create(env, name)
    assert session["status"] == "open" and session["mechanisms"] == ["http-post-bytes"]
    assert session["expires-at"].endswith("Z") and "." not in session["expires-at"]
    stage(env, session, wheel)
    stage(env, session, sdist)
    doc = status(env, session)
    assert {f: v["status"] for f, v in doc["files"].items()} == {wheel.filename: "completed", sdist.filename: "completed"}
    # The regular index knows nothing; the stage shows the whole release.
    assert listed(index.simple_url, name) is None
    assert name not in call(index.simple_url).body.decode()
    stage_url = session["links"]["stage"]
    assert session["session-token"] in stage_url
    assert listed(stage_url, name) == {wheel.filename, sdist.filename}
    # The first release holds its name: nobody can take it through the legacy API meanwhile.
    body, form_type = multipart(wheel.form(), [("content", wheel.filename, wheel.data, "application/octet-stream")])
    legacy = call(index.upload_url, "POST", data=body, content_type=form_type, token=env.account_token)
    assert legacy.status == 409, legacy.body
    assert index.files(name) == []
    # Publish: every file at once.
    reply = call(session["links"]["publish"], "POST", {}, token=env.account_token)
    assert reply.status == 201, reply.body
    assert reply.headers["Location"] == session["links"]["session"]
    assert reply.json()["status"] == "published"
    assert listed(index.simple_url, name) == {wheel.filename, sdist.filename}
    assert index.files(name) == sorted([wheel.filename, sdist.filename])
    files = call(f"{index.simple_url}{name}/", headers={"Accept": SIMPLE_JSON}).json()["files"]
    by_name = {f["filename"]: f for f in files}
    assert by_name[wheel.filename]["hashes"]["sha256"] == wheel.sha256
    assert call(by_name[wheel.filename]["url"]).body == wheel.data
    # The status URL is retained; the stage is gone; a second publish answers the same.
    assert status(env, session)["status"] == "published"
    assert call(stage_url + f"{name}/").status == 404
    assert call(session["links"]["publish"], "POST", {}, token=env.account_token).status == 201


def test_stage_preview_is_installable_with_pip(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh("pip")
    module = name.replace("-", "_")
    wheel = build_wheel(tmp_path / "dist", name, "2.0", payload=b"STAGED = True\n")
    session = create(env, name, "2.0")
    stage(env, session, wheel)
    stage_url = session["links"]["stage"]
    downloaded = tmp_path / "downloaded"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
         "--index-url", stage_url, "-d", str(downloaded), f"{name}==2.0"],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (downloaded / wheel.filename).read_bytes() == wheel.data
    target = tmp_path / "target"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
         "--index-url", stage_url, "--target", str(target), name],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / module / "__init__.py").read_bytes() == b"STAGED = True\n"
    # The same pip against the regular index finds nothing: the release is not public.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
         "--index-url", index.simple_url, "-d", str(tmp_path / "public"), f"{name}==2.0"],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode != 0
    call(session["links"]["session"], "DELETE", token=env.account_token)


def test_publish_needs_every_file_completed_and_refuses_bad_files(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    good = build_wheel(tmp_path, name, "1.0")
    bad = build_wheel(tmp_path, name, "1.0", tag="py2-none-any", metadata=[("Classifier", "Not :: A Classifier")])
    session = create(env, name)
    stage(env, session, good)
    pending = add_file(env, session, bad)
    reply = call(session["links"]["publish"], "POST", {}, token=env.account_token)
    assert_problem(reply, 409, source=bad.filename, text="pending")
    # Too many bytes is refused at once; the file stays pending and can be sent again.
    assert_problem(send_bytes(env, pending, bad.data + b"x"), 413, source=bad.filename)
    assert send_bytes(env, pending, bad.data).status == 204
    # The index's own rules refuse the file on completion, naming it: the file is in error.
    reply = complete(env, pending)
    assert_problem(reply, 400, source=bad.filename, text="is not a valid classifier")
    assert status(env, session)["files"][bad.filename]["status"] == "error"
    assert_problem(call(session["links"]["publish"], "POST", {}, token=env.account_token), 409, source=bad.filename)
    assert listed(index.simple_url, name) is None
    # Deleting the bad file lets the rest publish.
    assert call(pending["links"]["file-upload-session"], "DELETE", token=env.account_token).status == 204
    assert call(pending["links"]["file-upload-session"], token=env.account_token).json()["status"] == "canceled"
    assert bad.filename not in status(env, session)["files"]
    assert call(session["links"]["publish"], "POST", {}, token=env.account_token).status == 201
    assert listed(index.simple_url, name) == {good.filename}


def test_hash_mismatch_and_replacing_a_file(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    wheel = build_wheel(tmp_path, name, "1.0")
    session = create(env, name)
    upload = add_file(env, session, wheel, hashes={"sha256": hashlib.sha256(b"other").hexdigest()})
    assert send_bytes(env, upload, wheel.data).status == 204
    assert_problem(complete(env, upload), 400, source=wheel.filename, text="sha256 digest")
    # A pending file cannot be replaced; an errored (or completed) one can.
    replacement = add_file(env, session, wheel)
    again = call(session["links"]["upload"], "POST",
                 {"filename": wheel.filename, "size": len(wheel.data), "hashes": {"sha256": wheel.sha256},
                  "mechanism": "http-post-bytes"}, token=env.account_token)
    assert_problem(again, 409, source=wheel.filename)
    assert send_bytes(env, replacement, wheel.data).status == 204
    assert complete(env, replacement).status == 201
    assert call(upload["links"]["file-upload-session"], token=env.account_token).json()["status"] == "canceled"
    assert call(session["links"]["publish"], "POST", {}, token=env.account_token).status == 201


def test_publish_time_conflict_leaves_the_session_editable(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    index.add_project(name)
    staged = build_wheel(tmp_path / "a", name, "1.0")
    rival = dataclasses.replace(staged, path=build_wheel(tmp_path / "b", name, "1.0").path)
    session = create(env, name)
    stage(env, session, staged)
    # Someone publishes another file under the same name through the legacy API meanwhile.
    body, form_type = multipart(rival.form(), [("content", rival.filename, rival.data, "application/octet-stream")])
    assert call(index.upload_url, "POST", data=body, content_type=form_type, token=env.account_token).status == 200
    reply = call(session["links"]["publish"], "POST", {}, token=env.account_token)
    assert_problem(reply, 409, source=staged.filename, text="File already exists")
    assert status(env, session)["status"] == "open"
    found = call(f"{index.simple_url}{name}/", headers={"Accept": SIMPLE_JSON}).json()["files"]
    assert [f["hashes"]["sha256"] for f in found] == [rival.sha256]
    # A file already published cannot even be started again.
    assert_problem(
        call(session["links"]["upload"], "POST",
             {"filename": rival.filename, "size": 3, "hashes": {"sha256": rival.sha256}, "mechanism": "http-post-bytes"},
             token=env.account_token),
        409, source=rival.filename,
    )


def test_cancel_discards_everything_and_frees_the_name(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    wheel = build_wheel(tmp_path, name, "1.0")
    session = create(env, name)
    upload = stage(env, session, wheel)
    assert call(session["links"]["session"], "DELETE", token=env.account_token).status == 204
    doc = status(env, session)
    assert doc["status"] == "canceled" and doc["files"] == {}
    assert call(session["links"]["stage"] + f"{name}/").status == 404
    assert_problem(call(upload["links"]["file-upload-session"], token=env.account_token), 404)
    assert_problem(call(session["links"]["publish"], "POST", {}, token=env.account_token), 409)
    assert listed(index.simple_url, name) is None and index.files(name) == []
    # The name is free again: a new session (new URLs, token and stage) or a legacy upload may take it.
    again = create(env, name)
    assert again["links"]["session"] != session["links"]["session"]
    assert again["session-token"] != session["session-token"] and again["links"]["stage"] != session["links"]["stage"]
    assert call(again["links"]["session"], "DELETE", token=env.account_token).status == 204
    body, form_type = multipart(wheel.form(), [("content", wheel.filename, wheel.data, "application/octet-stream")])
    assert call(index.upload_url, "POST", data=body, content_type=form_type, token=env.account_token).status == 200


def test_second_session_for_a_version_points_at_the_first(env: Env, index: LocalIndex) -> None:
    name = fresh()
    index.add_project(name)
    other_token = index.add_api_token(fresh("other"))
    session = create(env, name)
    reply = call(env.root, "POST", {"name": name, "version": "1.0"}, token=env.account_token)
    assert_problem(reply, 409)
    assert reply.headers["Location"] == session["links"]["session"]
    # An unauthorized principal gets 403, not the existence of the session.
    reply = call(env.root, "POST", {"name": name, "version": "1.0"}, token=other_token)
    assert_problem(reply, 403)
    assert "Location" not in reply.headers
    call(session["links"]["session"], "DELETE", token=env.account_token)


def test_extend_and_expiry(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    session = create(env, name)
    before = session["expires-at"]
    reply = call(session["links"]["extend"], "POST", {"extend-for": 7200}, token=env.account_token)
    assert reply.status == 200 and reply.json()["expires-at"] > before
    # Too long an extension is capped, never refused; never earlier either.
    longer = call(session["links"]["extend"], "POST", {"extend-for": 10**9}, token=env.account_token).json()
    shorter = call(session["links"]["extend"], "POST", {"extend-for": 0}, token=env.account_token).json()
    assert longer["expires-at"] == shorter["expires-at"] > reply.json()["expires-at"]
    assert_problem(call(session["links"]["extend"], "POST", {"extend-for": "soon"}, token=env.account_token),
                   400, source="extend-for")
    upload = add_file(env, session, build_wheel(tmp_path, name, "1.0"))
    extended = call(upload["links"]["extend"], "POST", {"extend-for": 60}, token=env.account_token)
    assert extended.status == 200 and extended.json()["status"] == "pending"
    # Past its expiry the session is canceled by the index, and its stage is gone.
    index.upload2.clock = lambda: time.time() + 8 * 24 * 3600
    doc = status(env, session)
    assert doc["status"] == "canceled" and any("expired" in n for n in doc["notices"])
    assert call(session["links"]["stage"]).status == 404


def test_deferred_processing_answers_202_and_is_polled(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    index.add_project(name)
    wheel = build_wheel(tmp_path, name, "1.0")
    index.upload2.processing_polls = 2
    index.upload2.retry_after = 0
    session = create(env, name)
    upload = add_file(env, session, wheel)
    assert send_bytes(env, upload, wheel.data).status == 204
    reply = complete(env, upload)
    assert reply.status == 202 and reply.json()["status"] == "processing"
    assert reply.headers["Location"] == upload["links"]["file-upload-session"]
    assert reply.headers["Retry-After"] == "0"
    assert_problem(call(upload["links"]["file-upload-session"], "DELETE", token=env.account_token), 409)
    url = upload["links"]["file-upload-session"]
    assert call(url, token=env.account_token).json()["status"] == "processing"
    assert call(url, token=env.account_token).json()["status"] == "completed"
    # A deferred publish holds the filenames: the legacy API gets a 409 meanwhile.
    reply = call(session["links"]["publish"], "POST", {}, token=env.account_token)
    assert reply.status == 202 and reply.json()["status"] == "processing"
    body, form_type = multipart(wheel.form(), [("content", wheel.filename, wheel.data, "application/octet-stream")])
    assert call(index.upload_url, "POST", data=body, content_type=form_type, token=env.account_token).status == 409
    assert_problem(call(session["links"]["session"], "DELETE", token=env.account_token), 409)
    assert listed(index.simple_url, name) == set()
    assert status(env, session)["status"] == "processing"
    assert status(env, session)["status"] == "published"
    assert listed(index.simple_url, name) == {wheel.filename}


def test_deferred_publish_failure_moves_the_session_to_error(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    index.add_project(name)
    wheel = build_wheel(tmp_path, name, "1.0")
    session = create(env, name)
    stage(env, session, wheel)
    index.upload2.processing_polls = 1
    assert call(session["links"]["publish"], "POST", {}, token=env.account_token).status == 202
    # The index publishes the same filename under the session (an owner's doing), then processing resolves.
    index.upload2._publishing.clear()
    body, form_type = multipart(wheel.form(), [("content", wheel.filename, wheel.data, "application/octet-stream")])
    assert call(index.upload_url, "POST", data=body, content_type=form_type, token=env.account_token).status == 200
    doc = status(env, session)
    assert doc["status"] == "error" and doc["notices"]
    assert any("File already exists" in n for n in doc["files"][wheel.filename]["notices"])
    # error is editable: the file can be deleted and the session canceled.
    assert call(doc["files"][wheel.filename]["link"], "DELETE", token=env.account_token).status == 204
    assert call(session["links"]["session"], "DELETE", token=env.account_token).status == 204


# == authorization on every request =================================================


def test_every_request_needs_credentials(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    wheel = build_wheel(tmp_path, name, "1.0")
    session = create(env, name)
    upload = add_file(env, session, wheel)
    requests = [
        (env.root, "POST", {"name": fresh(), "version": "1.0"}),
        (env.root, "POST", {"name": "-not-checked-before-credentials-", "version": "x"}),
        (session["links"]["session"], "GET", None),
        (session["links"]["upload"], "POST", {"filename": wheel.filename, "size": 1, "hashes": {"sha256": wheel.sha256},
                                              "mechanism": "http-post-bytes"}),
        (session["links"]["extend"], "POST", {"extend-for": 60}),
        (session["links"]["publish"], "POST", {}),
        (upload["links"]["file-upload-session"], "GET", None),
        (upload["links"]["complete"], "POST", {}),
        (upload["links"]["file-upload-session"], "DELETE", None),
        (session["links"]["session"], "DELETE", None),
    ]
    for url, method, payload in requests:
        reply = call(url, method, payload)
        assert_problem(reply, 401)
        assert "Basic" in reply.headers["WWW-Authenticate"]
    reply = send_bytes(env, upload, wheel.data, token="pypi-" + "x" * 40)
    assert_problem(reply, 401)
    assert status(env, session)["files"][wheel.filename]["status"] == "pending"
    call(session["links"]["session"], "DELETE", token=env.account_token)


def test_authorization_is_checked_on_each_request_not_bound_to_the_creator(
    env: Env, index: LocalIndex, tmp_path: Path
) -> None:
    name = fresh("tp")
    env.world.trust_github_publisher(name)
    wheel = build_wheel(tmp_path, name, "1.0")
    first = env.minted()
    session = create(env, name, token=first)
    upload = add_file(env, session, wheel, token=first)
    # Another project's token is refused on every session URL.
    stranger = index.add_api_token(fresh("stranger"))
    for url, method, payload in [
        (session["links"]["session"], "GET", None),
        (upload["links"]["complete"], "POST", {}),
        (session["links"]["publish"], "POST", {}),
        (session["links"]["session"], "DELETE", None),
    ]:
        assert_problem(call(url, method, payload, token=stranger), 403)
    assert_problem(send_bytes(env, upload, wheel.data, token=stranger), 403)
    # Revoking the publisher's access denies even the session's creator; restoring it is not sticky.
    store = index._store
    (publisher_id,) = [pid for pid, p in store.publishers.items() if name in p.projects]
    publisher = store.publishers[publisher_id]
    store.publishers[publisher_id] = dataclasses.replace(
        publisher, projects=tuple(p for p in publisher.projects if p != name)
    )
    try:
        assert_problem(send_bytes(env, upload, wheel.data, token=first), 403)
    finally:
        store.publishers[publisher_id] = publisher
    # A rotated trusted-publishing token (a new mint) joins the same session.
    second = env.minted()
    assert send_bytes(env, upload, wheel.data, token=second).status == 204
    assert complete(env, upload, token=second).status == 201
    assert call(session["links"]["publish"], "POST", {}, token=first).status == 201
    assert listed(index.simple_url, name) == {wheel.filename}


def test_trusted_publishing_cannot_create_a_project(env: Env, index: LocalIndex) -> None:
    token = env.minted()
    reply = call(env.root, "POST", {"name": fresh(), "version": "1.0"}, token=token)
    assert_problem(reply, 403, text="Non-user identities")


# == attestations ===================================================================


def test_attestations_are_verified_and_published_with_the_file(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh("att")
    env.world.trust_github_publisher(name)
    wheel = build_wheel(tmp_path, name, "1.0")
    other = build_wheel(tmp_path / "other", name, "1.0", tag="py2-none-any")
    token = env.minted()
    session = create(env, name, token=token)
    # An attestation of another file is refused on completion, with the index's message.
    upload = add_file(env, session, other, token=token)
    assert send_bytes(env, upload, other.data, token=token).status == 204
    reply = call(upload["mechanism"]["attestations_url"], "POST", data=json.dumps([env.attest(wheel)]).encode(),
                 content_type="application/json", token=token)
    assert reply.status == 204
    assert_problem(complete(env, upload, token=token), 400, source=other.filename, text="Invalid attestations")
    assert_problem(call(upload["mechanism"]["attestations_url"], "POST", data=b"{}", content_type="application/json",
                        token=token), 409)
    assert call(upload["links"]["file-upload-session"], "DELETE", token=token).status == 204
    # The right one is verified and served by the integrity API once published.
    upload = add_file(env, session, wheel, token=token)
    assert send_bytes(env, upload, wheel.data, token=token).status == 204
    assert call(upload["mechanism"]["attestations_url"], "POST", data=b"not json", content_type="application/json",
                token=token).status == 400
    assert call(upload["mechanism"]["attestations_url"], "POST", data=json.dumps([env.attest(wheel)]).encode(),
                content_type="application/json", token=token).status == 204
    assert complete(env, upload, token=token).status == 201
    assert call(session["links"]["publish"], "POST", {}, token=token).status == 201
    provenance = call(f"{index.url}/integrity/{name}/1.0/{wheel.filename}/provenance")
    assert provenance.status == 200, provenance.body
    (bundle,) = provenance.json()["attestation_bundles"]
    assert bundle["publisher"]["kind"] == "GitHub"


# == fault knobs ====================================================================


def test_fault_knobs_fail_and_reset_byte_uploads(env: Env, index: LocalIndex, tmp_path: Path) -> None:
    name = fresh()
    wheel = build_wheel(tmp_path, name, "1.0", payload=b"x" * 300_000)
    session = create(env, name)
    upload = add_file(env, session, wheel)
    index.upload2.fail_next(1, 503, retry_after=2)
    reply = send_bytes(env, upload, wheel.data)
    assert_problem(reply, 503)
    assert reply.headers["Retry-After"] == "2"
    index.upload2.reset_next(1)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        send_bytes(env, upload, wheel.data)
    assert send_bytes(env, upload, wheel.data).status == 204
    index.upload2.fail_next(1, 500, action="publish")
    assert complete(env, upload).status == 201
    assert_problem(call(session["links"]["publish"], "POST", {}, token=env.account_token), 500)
    assert status(env, session)["status"] == "open"
    assert call(session["links"]["publish"], "POST", {}, token=env.account_token).status == 201
    with pytest.raises(ValueError, match="unknown action"):
        index.upload2.fail_next(1, action="nothing")
