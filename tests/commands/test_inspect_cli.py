"""``trustpub inspect``: what a real attestation, a provenance document and a release bundle say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pypi_attestations import GitHubPublisher

from tests.distfactory import make_sdist, make_wheel
from trustpub.attest import Attester, load_trust_config
from trustpub.cli import main
from trustpub.dists import inspect
from trustpub.local.world import LocalWorld

REAL_DIST = "pypi_attestations-0.0.19.tar.gz"


@pytest.fixture(scope="module")
def real(shared_dir: Path) -> Path:
    return shared_dir / "corpora" / "pep740-real"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["inspect", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_real_attestation(real: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trustpub.dists import hash_file

    sha256 = hash_file(real / REAL_DIST).sha256
    code, out, err = run(capsys, str(real / f"{REAL_DIST}.publish.attestation"))
    assert code == 0 and out == ""
    assert "(not verified; use `trustpub verify`)" in err
    assert "  predicate type: https://docs.pypi.org/attestations/publish/v1" in err
    assert f"  subject:        {REAL_DIST}  sha256:{sha256}" in err
    assert "  issuer:         https://token.actions.githubusercontent.com" in err
    assert "  identity (SAN): https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19" in err
    assert "  repository:     https://github.com/trailofbits/pypi-attestations" in err
    assert "  workflow:       https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19" in err
    assert "  ref:            refs/tags/v0.0.19" in err
    assert "  log entry:      index 153454663, integrated 2024-12-" in err


def test_json_for_a_provenance_document_and_slsa(real: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(real / f"{REAL_DIST}.provenance"), str(real / f"{REAL_DIST}.slsa.attestation"), "--json")
    assert code == 0
    document = json.loads(out)
    first, slsa = document["attestations"]
    assert first["source"].endswith(".provenance bundle 1 attestation 1") and first["kind"] == "PEP 740 attestation"
    assert first["log_index"] == 153454663 and first["integrated_time_utc"].startswith("2024-")
    assert first["certificate"]["issuer"] == "https://token.actions.githubusercontent.com"
    assert first["certificate"]["sha"] and first["certificate"]["run_invocation_uri"].startswith("https://github.com/trailofbits/")
    assert slsa["predicate_type"] == "https://slsa.dev/provenance/v1"
    assert slsa["statement"]["predicate"]["buildDefinition"]["buildType"]
    assert slsa["subjects"] == first["subjects"]
    assert document["errors"] == []


def test_release_provenance_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dist").mkdir()
    dists = [inspect(make_wheel(tmp_path / "dist")), inspect(make_sdist(tmp_path / "dist"))]
    with LocalWorld.start(tmp_path / "world", project="demo-pkg") as world:
        attester = Attester(
            load_trust_config(str(world.trust_config)),
            lambda: world.issuer.mint_github("sigstore"),
            publisher=GitHubPublisher(repository="octo-org/demo", workflow="release.yml"),
        )
        bundle = attester.release_provenance(dists, out_dir=tmp_path / "dist")
    code, out, err = run(capsys, str(bundle), "--json")
    assert code == 0, err
    (item,) = json.loads(out)["attestations"]
    assert item["kind"] == "Sigstore bundle (DSSE)"
    assert [s["name"] for s in item["subjects"]] == sorted(d.filename for d in dists)
    assert item["certificate"]["san"] == "https://github.com/octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0"
    assert item["log_index"] == 0 and item["statement"]["predicate"]["runDetails"]["builder"]["id"].startswith("https://github.com/")


def test_unreadable_files(tmp_path: Path, real: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk.attestation").write_text("{not json")
    (tmp_path / "other.json").write_text('{"hello": "world"}')
    (tmp_path / "half.attestation").write_text('{"version": 1, "envelope": {}, "verification_material": {}}')
    code, _, err = run(capsys, str(tmp_path / "junk.attestation"), str(tmp_path / "other.json"),
                       str(tmp_path / "half.attestation"), str(tmp_path / "missing"), str(real / f"{REAL_DIST}.publish.attestation"))
    assert code == 1
    assert f"{tmp_path / 'junk.attestation'}: cannot inspect: not JSON" in err
    assert f"{tmp_path / 'other.json'}: cannot inspect: not an attestation, a provenance document or a Sigstore bundle" in err
    assert f"{tmp_path / 'half.attestation'}: cannot inspect: malformed (" in err
    assert f"{tmp_path / 'missing'}: cannot inspect: cannot read it" in err
    assert "predicate type: https://docs.pypi.org/attestations/publish/v1" in err  # the good one is still shown
    assert run(capsys)[0] == 2
