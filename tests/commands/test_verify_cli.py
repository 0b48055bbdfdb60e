"""``trustpub verify``: real PEP 740 attestations offline, and tampering on the local Sigstore.

The real attestations (``corpora/pep740-real``, signed on production Sigstore by
GitHub Actions and accepted by PyPI) are read in place and verified against the
production trust root shipped in sigstore-python, with no network and no writes.
Tampered attestations are made from trustpub's own on the local instance; each one
must be refused with one line naming the file and the reason.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pypi_attestations import GitHubPublisher

from tests.distfactory import make_sdist
from trustpub.attest import Attester, load_attestation, load_trust_config
from trustpub.cli import main
from trustpub.dists import inspect
from trustpub.local.world import LocalWorld
from trustpub.secrets import uninstall_log_redaction

REAL_PUBLISHER = "github:trailofbits/pypi-attestations/release.yml"
REAL_DIST = "pypi_attestations-0.0.19.tar.gz"
MODELS_PUBLISHER = "github:trailofbits/pypi-attestation-models/release.yml"
MODELS_DIST = "pypi_attestation_models-0.0.4a2.tar.gz"
LOCAL_PUBLISHER = "github:octo-org/demo/release.yml"


@pytest.fixture(autouse=True)
def _redaction() -> Iterator[None]:
    yield
    uninstall_log_redaction()  # the command installs it process-wide


@pytest.fixture(scope="module")
def real(shared_dir: Path) -> Path:
    return shared_dir / "corpora" / "pep740-real"


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    for var, sub in (("HOME", ""), ("XDG_CACHE_HOME", ".cache"), ("XDG_DATA_HOME", ".local/share")):
        monkeypatch.setenv(var, str(home / sub))
    return home


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------- real attestations


def test_real_attestations_verify_offline_writing_nothing(
    real: Path, empty_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = verify(capsys, str(real / REAL_DIST), "--publisher", REAL_PUBLISHER, "--offline", "--json")
    assert code == 0, err
    assert f"{REAL_DIST}: verified: publish/v1 (log index 153454663), SLSA provenance v1 (log index 153454647)" in err
    document = json.loads(out)
    assert document["ok"] is True and document["sigstore"] == "production" and document["offline"] is True
    (entry,) = document["files"]
    assert [a["source"] for a in entry["attestations"]] == [f"{REAL_DIST}.publish.attestation", f"{REAL_DIST}.slsa.attestation"]
    code, _, err = verify(capsys, str(real / MODELS_DIST), "--publisher", MODELS_PUBLISHER, "--offline")
    assert code == 0, err
    assert f"{MODELS_DIST}: verified: publish/v1" in err  # the older <dist>.attestation name
    assert list(empty_home.iterdir()) == []  # offline: no TUF cache, nothing under HOME


@pytest.mark.parametrize(
    ("publisher", "reason"),
    [
        ("github:trailofbits/other-repo/release.yml", "Certificate's OIDCSourceRepositoryURI"),
        ("github:trailofbits/pypi-attestations/publish.yml", "does not match expected Trusted Publisher (publish.yml @ trailofbits/pypi-attestations)"),
        ("google:someone@example.iam.gserviceaccount.com", "Verification failed"),
    ],
)
def test_real_attestations_refused_for_another_publisher(
    real: Path, capsys: pytest.CaptureFixture[str], publisher: str, reason: str
) -> None:
    code, _, err = verify(capsys, str(real / REAL_DIST), "--publisher", publisher, "--offline")
    assert code == 1
    line = next(line for line in err.splitlines() if line.startswith(REAL_DIST))
    assert line.startswith(f"{REAL_DIST}: not verified: {REAL_DIST}.publish.attestation: ") and reason in line


def test_real_attestation_refused_for_a_changed_file(real: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    changed = tmp_path / REAL_DIST
    changed.write_bytes(real.joinpath(REAL_DIST).read_bytes() + b"\0")
    shutil.copy(real / f"{REAL_DIST}.publish.attestation", tmp_path)
    code, _, err = verify(capsys, str(changed), "--publisher", REAL_PUBLISHER, "--offline")
    assert code == 1
    assert f"{REAL_DIST}: not verified: {REAL_DIST}.publish.attestation: Verification failed: subject does not match distribution digest" in err


def test_real_attestation_refused_on_the_staging_root(real: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = verify(capsys, str(real / REAL_DIST), "--publisher", REAL_PUBLISHER, "--offline", "--sigstore", "staging")
    assert code == 1
    assert "failed to build timestamp certificate chain" in err
    assert "was it signed on another Sigstore instance than Sigstore staging?" in err


def test_real_provenance_document(real: Path, capsys: pytest.CaptureFixture[str]) -> None:
    provenance = str(real / f"{REAL_DIST}.provenance")
    code, out, err = verify(capsys, str(real / REAL_DIST), "--publisher", REAL_PUBLISHER, "--offline", "--provenance", provenance, "--json")
    assert code == 0, err
    (entry,) = json.loads(out)["files"]
    assert entry["attestations"][0]["source"] == f"{REAL_DIST}.provenance bundle 1 attestation 1"
    assert entry["notes"] == []
    code, _, err = verify(capsys, str(real / REAL_DIST), "--publisher", "github:octo-org/demo/release.yml", "--offline", "--provenance", provenance)
    assert code == 1
    assert "note: " in err and "names publisher" in err and "OIDCSourceRepositoryURI" in err


def test_explicit_attestation_file(real: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The publish attestation of one dist is no attestation for the other.
    code, _, err = verify(
        capsys, str(real / MODELS_DIST), "--publisher", REAL_PUBLISHER, "--offline",
        "--attestation", str(real / f"{REAL_DIST}.publish.attestation"),
    )
    assert code == 1 and "subject does not match distribution name" in err


# --------------------------------------------------------------------------- usage


def test_usage_errors(real: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["verify", str(real / REAL_DIST)])
    assert info.value.code == 2 and "--publisher" in capsys.readouterr().err
    assert verify(capsys, str(real / REAL_DIST), "--publisher", "github:only-two/parts")[0] == 2
    two = verify(capsys, str(real / REAL_DIST), str(real / MODELS_DIST), "--publisher", REAL_PUBLISHER,
                 "--offline", "--attestation", str(real / f"{REAL_DIST}.publish.attestation"))
    assert two[0] == 2 and "ONE distribution" in two[2]
    assert verify(capsys, str(tmp_path / "missing.whl"), "--publisher", REAL_PUBLISHER)[0] == 2
    assert verify(capsys, str(real / REAL_DIST), "--publisher", REAL_PUBLISHER, "--sigstore", str(tmp_path / "nope.json"))[0] == 2


def test_no_attestation_is_not_verified(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dist = make_sdist(tmp_path)
    code, _, err = verify(capsys, str(dist), "--publisher", LOCAL_PUBLISHER, "--offline")
    assert code == 1
    assert f"{dist.name}: not verified: no attestation found (looked for {tmp_path / dist.name}.publish.attestation" in err


# --------------------------------------------------------------------------- tampering (local Sigstore)


@dataclass(frozen=True)
class _Named:
    path: Path
    filename: str
    sha256: str


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("signed")
    with LocalWorld.start(base / "world", project="demo-pkg") as world:
        (base / "dist").mkdir()
        dist = inspect(make_sdist(base / "dist"))
        trust = load_trust_config(str(world.trust_config))
        publisher = GitHubPublisher(repository="octo-org/demo", workflow="release.yml")

        def attest(target: Any, directory: Path) -> Path:
            att = Attester(trust, lambda: world.issuer.mint_github("sigstore"), publisher=publisher, attestations_dir=directory)
            return att.attest([target])[0].paths[0]

        good = attest(dist, base / "good")
        other = attest(dist, base / "other")  # another signing run: another certificate
        renamed = attest(_Named(dist.path, "demo_pkg-2.0.0.tar.gz", dist.sha256), base / "renamed")
        yield {"world": world, "dist": dist.path, "good": good, "other": other, "renamed": renamed, "trust": str(world.trust_config)}


def _tampered(source: Path, target: Path, change: Any) -> Path:
    data = json.loads(source.read_text())
    change(data)
    target.write_text(json.dumps(data))
    return target


def _flip_b64(value: str, index: int = 10) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _statement_changed(data: dict[str, Any]) -> None:
    statement = json.loads(base64.b64decode(data["envelope"]["statement"]))
    statement["predicate"] = {"tampered": True}
    data["envelope"]["statement"] = base64.b64encode(json.dumps(statement).encode()).decode()


def _entry(data: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = data["verification_material"]["transparency_entries"][0]
    return entry


TAMPERING = {
    "statement": (_statement_changed, "DSSE: invalid signature"),
    "signature": (lambda d: d["envelope"].update(signature=_flip_b64(d["envelope"]["signature"])), "DSSE: invalid signature"),
    "log entry time": (lambda d: _entry(d).update(integratedTime=str(int(_entry(d)["integratedTime"]) + 1)), "invalid log entry"),
    "log entry proof": (
        lambda d: _entry(d)["inclusionProof"].update(rootHash=_flip_b64(_entry(d)["inclusionProof"]["rootHash"], 3)),
        "invalid log entry",
    ),
    "log entry body": (lambda d: _entry(d).update(canonicalizedBody=_flip_b64(_entry(d)["canonicalizedBody"], 40)), "invalid log entry"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampered_attestation_is_refused(signed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    change, reason = TAMPERING[case]
    tampered = _tampered(signed["good"], tmp_path / "tampered.attestation", change)
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", LOCAL_PUBLISHER, "--sigstore", signed["trust"], "--attestation", str(tampered))
    assert code == 1, err
    line = next(line for line in err.splitlines() if line.startswith("demo_pkg-1.0.0.tar.gz:"))
    assert line.startswith("demo_pkg-1.0.0.tar.gz: not verified: tampered.attestation: ") and reason in line, line


def test_untampered_attestation_verifies(signed: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", LOCAL_PUBLISHER, "--sigstore", signed["trust"], "--attestation", str(signed["good"]))
    assert code == 0, err
    # --attestations-dir finds it by name, and TRUSTPUB_SIGSTORE works like --sigstore.
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", LOCAL_PUBLISHER, "--sigstore", signed["trust"],
                          "--attestations-dir", str(signed["good"].parent))
    assert code == 0, err


def test_swapped_certificate_is_refused(signed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other_cert = load_attestation(signed["other"]).verification_material.certificate
    tampered = _tampered(
        signed["good"], tmp_path / "cert.attestation",
        lambda d: d["verification_material"].update(certificate=base64.b64encode(other_cert).decode()),
    )
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", LOCAL_PUBLISHER, "--sigstore", signed["trust"], "--attestation", str(tampered))
    assert code == 1 and "demo_pkg-1.0.0.tar.gz: not verified: cert.attestation: " in err
    garbage = _tampered(signed["good"], tmp_path / "garbage.attestation", lambda d: d["verification_material"].update(certificate="AAAA"))
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", LOCAL_PUBLISHER, "--sigstore", signed["trust"], "--attestation", str(garbage))
    assert code == 1 and "invalid X.509 certificate" in err


def test_other_subject_name_digest_and_identity_are_refused(signed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--sigstore", signed["trust"]]
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", LOCAL_PUBLISHER, *base, "--attestation", str(signed["renamed"]))
    assert code == 1 and "subject does not match distribution name: demo_pkg-2.0.0.tar.gz != demo_pkg-1.0.0.tar.gz" in err
    changed = tmp_path / "demo_pkg-1.0.0.tar.gz"
    changed.write_bytes(signed["dist"].read_bytes() + b"\0")
    code, _, err = verify(capsys, str(changed), "--publisher", LOCAL_PUBLISHER, *base, "--attestation", str(signed["good"]))
    assert code == 1 and "subject does not match distribution digest" in err
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", "github:octo-org/demo/other.yml", *base, "--attestation", str(signed["good"]))
    assert code == 1 and "does not match expected Trusted Publisher (other.yml @ octo-org/demo)" in err
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", "github:octo-org/elsewhere/release.yml", *base, "--attestation", str(signed["good"]))
    assert code == 1 and "OIDCSourceRepositoryURI" in err
    # The right identity on the wrong trust root (production, offline).
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", LOCAL_PUBLISHER, "--offline", "--attestation", str(signed["good"]))
    assert code == 1 and "another Sigstore instance than Sigstore production" in err


# --------------------------------------------------------------------------- --offline and TRUSTPUB_SIGSTORE


def test_offline_ignores_trustpub_sigstore(
    real: Path, signed: dict[str, Any], empty_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The variable points at the local world's trust config (as `source DIR/env` sets
    # it): offline, the real production attestations still verify on the shipped root...
    monkeypatch.setenv("TRUSTPUB_SIGSTORE", signed["trust"])
    code, out, err = verify(capsys, str(real / REAL_DIST), "--publisher", REAL_PUBLISHER, "--offline", "--json")
    assert code == 0, err
    assert json.loads(out)["sigstore"] == "production"
    assert f"--offline ignores TRUSTPUB_SIGSTORE ({signed['trust']})" in err
    assert "against Sigstore production for" in err
    # ... and an attestation of the local instance is not trusted because of it.
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", LOCAL_PUBLISHER, "--offline", "--attestation", str(signed["good"]))
    assert code == 1 and "another Sigstore instance than Sigstore production" in err
    # staging in the variable does not change the offline root either.
    monkeypatch.setenv("TRUSTPUB_SIGSTORE", "staging")
    code, _, err = verify(capsys, str(real / REAL_DIST), "--publisher", REAL_PUBLISHER, "--offline", "-q")
    assert code == 0 and err == ""  # -q: no note, no verdict line
    assert list(empty_home.iterdir()) == []
    # Online, the variable still chooses the root, as documented.
    monkeypatch.setenv("TRUSTPUB_SIGSTORE", signed["trust"])
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", LOCAL_PUBLISHER, "--attestation", str(signed["good"]))
    assert code == 0, err


def test_offline_with_a_trust_config_named_on_the_command_line(
    real: Path, signed: dict[str, Any], empty_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # --offline --sigstore FILE: that file's root, read from disk, nothing else.
    monkeypatch.setenv("TRUSTPUB_SIGSTORE", "staging")
    code, _, err = verify(capsys, str(signed["dist"]), "--publisher", LOCAL_PUBLISHER, "--offline",
                          "--sigstore", signed["trust"], "--attestation", str(signed["good"]))
    assert code == 0, err
    assert "ignores" not in err
    code, _, err = verify(capsys, str(real / REAL_DIST), "--publisher", REAL_PUBLISHER, "--offline", "--sigstore", signed["trust"])
    assert code == 1 and f"another Sigstore instance than the Sigstore instance of {signed['trust']}" in err
    assert list(empty_home.iterdir()) == []
