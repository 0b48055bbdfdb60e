"""The local world as one piece: fast start, clean stop, and a trusted-publishing release by hand.

No ``trustpub publish`` here: every step a publishing client takes (audience, runner
token, mint, sign, upload, provenance) is driven explicitly, with trustpub's shipped
building blocks, so the world is proven to speak the real protocols.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from pypi_attestations import Attestation, GitHubPublisher
from pypi_attestations import Distribution as AttestedDistribution
from sigstore.models import ClientTrustConfig
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext
from sigstore.verify import Verifier

from tests.distfactory import make_wheel
from trustpub.dists import inspect
from trustpub.local.world import LocalWorld
from trustpub.pep740 import verify_attestation
from trustpub.secrets import Secret
from trustpub.transport import Transport
from trustpub.upload._types import UploadRequest
from trustpub.upload.native import NativeUploader


def test_world_starts_fast_and_stops_clean(tmp_path: Path) -> None:
    threads_before = threading.active_count()
    started = time.perf_counter()
    world = LocalWorld.start(tmp_path / "world", project="demo-pkg")
    elapsed = time.perf_counter() - started
    try:
        assert elapsed < 1.0, f"world took {elapsed:.2f}s to start"
        for url in (world.index.url, world.issuer.url, world.sigstore.url):
            assert url.startswith("http://127.0.0.1:")
        assert json.loads(world.trust_config.read_text())["mediaType"].startswith("application/vnd.dev.sigstore.clienttrustconfig")
        info_path = world.write_info()
        info = json.loads(info_path.read_text())
        assert info["environment"]["ACTIONS_ID_TOKEN_REQUEST_URL"] == world.issuer.github_token_url
    finally:
        world.stop()
    deadline = time.monotonic() + 5
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == threads_before


def test_trusted_publishing_release_by_hand(tmp_path: Path) -> None:
    transport = Transport()
    with LocalWorld.start(tmp_path / "world", project="demo-pkg") as world:
        # 1. audience, 2. a runner token for it, 3. mint
        audience = transport.get_json(world.index.url + "/_/oidc/audience")[1]["audience"]
        assert audience == "pypi"
        runner = transport.get_json(
            f"{world.issuer.github_token_url}&audience={audience}",
            authorization=Secret(f"Bearer {world.issuer.request_token}"),
        )[1]
        minted = transport.post_json(world.index.url + "/_/oidc/mint-token", {"token": runner["value"]}, credentials=True)[1]
        assert minted["success"] is True and minted["token"].startswith("pypi-")
        assert abs(minted["expires"] - (time.time() + 900)) < 60

        # 4. sign a publish/v1 attestation with a sigstore-audience token
        wheel = make_wheel(tmp_path)
        dist = inspect(wheel)
        config = ClientTrustConfig.from_json(world.trust_config.read_text())
        config.force_tlog_version = 1
        context = SigningContext.from_trust_config(config)
        with context.signer(IdentityToken(world.issuer.mint_github("sigstore")), cache=True) as signer:
            attestation = Attestation.sign(signer, AttestedDistribution(name=dist.filename, digest=dist.sha256))
        att_path = tmp_path / f"{dist.filename}.publish.attestation"
        att_path.write_text(attestation.model_dump_json())

        # 5. upload with the minted token and the attestation
        request = UploadRequest(
            wheel, dist.filename, dist.sha256, dist.blake2_256, dist.size, world.index.upload_url,
            "__token__", Secret(minted["token"]), (att_path,),
        )
        result = NativeUploader(transport).upload(request, dist=dist)
        assert result.outcome == "uploaded"

        # 6. the simple API lists it with its hash and a provenance link
        _, simple = transport.get_json(
            world.index.url + "/simple/demo-pkg/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        (entry,) = simple["files"]
        assert entry["filename"] == dist.filename and entry["hashes"]["sha256"] == dist.sha256
        assert entry["provenance"]

        # 7. the integrity API serves the attestation back, and it verifies
        response, provenance = transport.get_json(entry["provenance"])
        assert response.status == 200
        (bundle,) = provenance["attestation_bundles"]
        assert bundle["publisher"]["kind"] == "GitHub"
        assert bundle["publisher"]["repository"] == "octo-org/demo"
        served = Attestation.model_validate(bundle["attestations"][0])
        verifier = Verifier(trusted_root=config.trusted_root)
        predicate = verify_attestation(
            served, filename=dist.filename, sha256=dist.sha256,
            publisher=GitHubPublisher(repository="octo-org/demo", workflow="release.yml"), verifier=verifier,
        )
        assert predicate == "https://docs.pypi.org/attestations/publish/v1"

        # 8. pip gets the same bytes back
        out = tmp_path / "pip"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
             "--index-url", world.index.url + "/simple/", "-d", str(out), "demo-pkg==1.0.0"],
            check=True, capture_output=True, timeout=120,
        )
        assert (out / dist.filename).read_bytes() == wheel.read_bytes()


def test_serve_command_prints_and_writes_world(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trustpub.local", "serve", "--dir", str(tmp_path), "--project", "demo-pkg"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("}"):
                break
        info = json.loads("".join(lines))
        assert info["index"]["upload_url"].startswith("http://127.0.0.1:")
        assert (tmp_path / "world.json").exists() and (tmp_path / "env").exists()
        assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" in (tmp_path / "env").read_text()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
