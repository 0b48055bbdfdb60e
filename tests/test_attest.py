"""trustpub.attest: statements, identities, trust roots, and signing on the local Sigstore.

Everything signs and verifies through the shipped code path (``Attester``, which
verifies with ``trustpub.pep740``) against a real local Sigstore instance; one test
runs pypi-attestations' own ``Attestation.verify`` on the same files (its verifier
swapped for the local trust root, sigstore-offline.md §6 approach b), and one uploads
trustpub's attestations to the local index, which checks them as PyPI does.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pypi_attestations
import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st
from pypi_attestations import Attestation, GitHubPublisher, GitLabPublisher, GooglePublisher
from pypi_attestations import Distribution as PADistribution
from sigstore.models import Bundle
from sigstore.verify import Verifier

from tests.distfactory import make_sdist, make_wheel
from trustpub.attest import (
    DEFAULT_BUILDER_ID,
    PUBLISH_V1,
    SLSA_PROVENANCE_V1,
    AttestationFailed,
    Attester,
    CIContext,
    Subject,
    build_statement,
    encode_statement,
    load_attestation,
    load_trust_config,
    parse_publisher_spec,
    predict_rejection,
    publish_statement,
    publisher_from_claims,
    release_statement,
    unsigned_statements,
)
from trustpub.dists import Distribution, inspect
from trustpub.errors import ConfigurationError
from trustpub.local.issuer import GitHubIdentity, OIDCIssuer
from trustpub.local.sigstore import SigstoreInstance
from trustpub.local.world import LocalWorld
from trustpub.oidc import decode_claims
from trustpub.pep740 import verify_attestation

PUBLISHER = GitHubPublisher(repository="octo-org/demo", workflow="release.yml", environment="release")
SHA = "ab" * 32
WORKFLOW_URL = "https://github.com/octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0"
RUN_URL = "https://github.com/octo-org/demo/actions/runs/9876543210/attempts/1"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path_factory.mktemp("world"), project="demo-pkg") as running:
        yield running


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "world" in request.fixturenames:
        w: LocalWorld = request.getfixturevalue("world")
        w.issuer.github = GitHubIdentity()
        s = w.sigstore
        s.cert_lifetime = timedelta(minutes=10)
        s.rekor_wrong_key = s.rekor_bad_inclusion_proof = s.fulcio_bad_sct = False
        s.fulcio_fail_next = s.rekor_fail_next = 0


class Tokens:
    """A token source that counts its calls."""

    def __init__(self, world: LocalWorld, **claims: Any) -> None:
        self.world = world
        self.claims = claims
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.world.issuer.mint_github("sigstore", **self.claims)


def release(directory: Path, *, wheels: int = 1, content: bytes = b"") -> list[Distribution]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [
        make_wheel(directory, tag=f"py3{i}-none-any" if i else "py3-none-any", extra_files={"demo_pkg/data.txt": content})
        for i in range(wheels)
    ]
    paths.append(make_sdist(directory))
    return [inspect(p) for p in paths]


def attester(world: LocalWorld, tokens: Callable[[], str] | None = None, **kwargs: Any) -> Attester:
    return Attester(
        load_trust_config(str(world.trust_config)),
        tokens or Tokens(world),
        publisher=kwargs.pop("publisher", PUBLISHER),
        **kwargs,
    )


def local_verifier(world: LocalWorld) -> Verifier:
    return Verifier(trusted_root=world.sigstore.client_trust_config().trusted_root)


def certificate_of(path: Path) -> bytes:
    return load_attestation(path).verification_material.certificate


# --------------------------------------------------------------------------- statements


def test_publish_statement_bytes_are_canonical() -> None:
    expected = (
        b'{"_type":"https://in-toto.io/Statement/v1","predicate":{},'
        b'"predicateType":"https://docs.pypi.org/attestations/publish/v1",'
        b'"subject":[{"digest":{"sha256":"' + SHA.encode() + b'"},"name":"demo_pkg-1.0.0.tar.gz"}]}'
    )
    assert encode_statement(publish_statement("demo_pkg-1.0.0.tar.gz", SHA)) == expected
    assert encode_statement(publish_statement("demo_pkg-1.0.0.tar.gz", SHA)) == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[a-z]{1,8}-1\.0\.tar\.gz", fullmatch=True), st.from_regex(r"[0-9a-f]{64}", fullmatch=True)), min_size=1, max_size=6, unique_by=lambda t: t[0]), st.randoms())
def test_statement_bytes_do_not_depend_on_order(pairs: list[tuple[str, str]], rnd: Any) -> None:
    subjects = [Subject(n, d) for n, d in pairs]
    shuffled = list(subjects)
    rnd.shuffle(shuffled)
    a = encode_statement(build_statement(subjects, SLSA_PROVENANCE_V1, {"b": 1, "a": [1, "x"]}))
    b = encode_statement(build_statement(shuffled, SLSA_PROVENANCE_V1, {"a": [1, "x"], "b": 1}))
    assert a == b
    decoded = json.loads(a)
    assert [s["name"] for s in decoded["subject"]] == sorted(n for n, _ in pairs)
    assert b" " not in a.replace(b"Statement/v1", b"")


def test_subjects_are_checked() -> None:
    with pytest.raises(ValueError, match="lowercase hex"):
        Subject("demo-1.0.tar.gz", SHA.upper())
    with pytest.raises(ValueError, match="more than once"):
        build_statement([Subject("a-1.0.tar.gz", SHA), Subject("a-1.0.tar.gz", "cd" * 32)], PUBLISH_V1, {})
    with pytest.raises(TypeError, match="floats"):
        encode_statement(build_statement([Subject("a-1.0.tar.gz", SHA)], PUBLISH_V1, {"x": 1.5}))


def test_release_statement_is_the_origin_statement() -> None:
    claims = decode_claims(OIDCIssuer().mint_github("sigstore"))
    context = CIContext.from_claims(claims)
    subjects = [Subject("demo_pkg-1.0.0.tar.gz", SHA), Subject("demo_pkg-1.0.0-py3-none-any.whl", "cd" * 32)]
    statement = release_statement(subjects, context, finished_on=1_780_000_000)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert [s["name"] for s in statement["subject"]] == ["demo_pkg-1.0.0-py3-none-any.whl", "demo_pkg-1.0.0.tar.gz"]
    assert all(set(s["digest"]) == {"sha256"} for s in statement["subject"])
    run = statement["predicate"]["runDetails"]
    assert run["builder"]["id"] == WORKFLOW_URL  # the CI workflow, = the certificate's Build Signer URI
    assert run["metadata"] == {"invocationId": RUN_URL, "finishedOn": "2026-05-28T20:26:40Z"}
    build = statement["predicate"]["buildDefinition"]
    assert build["buildType"] == "https://actions.github.io/buildtypes/workflow/v1"
    assert build["externalParameters"]["workflow"] == {
        "ref": "refs/tags/v1.0.0", "repository": "https://github.com/octo-org/demo", "path": ".github/workflows/release.yml",
    }
    assert build["resolvedDependencies"][0]["digest"]["gitCommit"] == claims["sha"]
    # No CI context: the fallback builder id, invocation id "auto"; an explicit id wins over both.
    bare = release_statement(subjects, CIContext(), finished_on=0)["predicate"]["runDetails"]
    assert bare == {"builder": {"id": DEFAULT_BUILDER_ID}, "metadata": {"invocationId": "auto", "finishedOn": "1970-01-01T00:00:00Z"}}
    custom = release_statement(subjects, context, finished_on=0, builder_id="https://example.org/b@v2")
    assert custom["predicate"]["runDetails"]["builder"]["id"] == "https://example.org/b@v2"


def test_ci_context_from_gitlab_claims() -> None:
    claims = decode_claims(OIDCIssuer().mint_gitlab("sigstore"))
    context = CIContext.from_claims(claims)
    assert context.builder_id == "https://gitlab.com/octo-group/demo//.gitlab-ci.yml@refs/tags/v1.0.0"
    assert context.invocation_id == "https://gitlab.com/octo-group/demo/-/jobs/5500"
    assert context.workflow_path == ".gitlab-ci.yml" and context.repository_uri == "https://gitlab.com/octo-group/demo"
    assert CIContext.from_claims({"iss": "https://example.org"}) == CIContext()


def test_ci_context_sources_and_precedence() -> None:
    issuer = OIDCIssuer()
    env = {
        "GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "octo-org/demo",
        "GITHUB_RUN_ID": "9876543210", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_REF": "refs/tags/v1.0.0", "GITHUB_SHA": "f" * 40,
        "GITHUB_WORKFLOW_REF": "octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0", "PATH": "/usr/bin",
    }
    from_env = CIContext.from_environment(env)
    assert (from_env.builder_id, from_env.invocation_id, from_env.workflow_path) == (WORKFLOW_URL, RUN_URL, ".github/workflows/release.yml")
    # The token's claims beat the environment; explicit field names beat both.
    claims = decode_claims(issuer.mint_github("sigstore", identity=GitHubIdentity(sha="a" * 40)))
    resolved = CIContext.resolve({**env, "invocation_id": "https://ci.example/run/7"}, claims)
    assert resolved.sha == "a" * 40 and resolved.invocation_id == "https://ci.example/run/7"
    assert resolved.builder_id == WORKFLOW_URL
    gitlab = CIContext.from_environment({
        "GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.com", "CI_PROJECT_PATH": "g/p", "CI_COMMIT_TAG": "v1",
        "CI_JOB_URL": "https://gitlab.com/g/p/-/jobs/5", "CI_COMMIT_SHA": "c" * 40,
    })
    assert gitlab.builder_id == "https://gitlab.com/g/p//.gitlab-ci.yml@refs/tags/v1"
    assert gitlab.invocation_id == "https://gitlab.com/g/p/-/jobs/5"
    assert CIContext.from_environment({"PATH": "/usr/bin"}) == CIContext()


def test_unsigned_statements_are_what_gets_signed(tmp_path: Path) -> None:
    dists = release(tmp_path)
    out = unsigned_statements(dists, slsa=True, finished_on=0, ci_context={"builder_id": "https://b.example/x"})
    assert len(out) == 5  # 2 files x (publish, slsa) + release
    names = [json.loads(s)["subject"][0]["name"] for s in out[:4]]
    assert names == sorted(names) and names[0] == names[1]
    assert [json.loads(s)["predicateType"] for s in out] == [PUBLISH_V1, SLSA_PROVENANCE_V1] * 2 + [SLSA_PROVENANCE_V1]
    assert json.loads(out[-1])["predicate"]["runDetails"]["builder"]["id"] == "https://b.example/x"
    assert out == unsigned_statements(dists, slsa=True, finished_on=0, ci_context={"builder_id": "https://b.example/x"})


# --------------------------------------------------------------------------- identities


def test_publisher_from_claims_is_what_the_index_checks() -> None:
    issuer = OIDCIssuer()
    assert publisher_from_claims(decode_claims(issuer.mint_github("sigstore"))) == PUBLISHER
    # A reusable workflow: PyPI matched the token on the called file (job_workflow_ref).
    reusable = GitHubIdentity(job_workflow_ref="octo-org/demo/.github/workflows/publish.yml@refs/tags/v1.0.0")
    claims = decode_claims(issuer.mint_github("sigstore", identity=reusable))
    assert publisher_from_claims(claims).workflow == "publish.yml"  # type: ignore[union-attr]
    reason = predict_rejection(claims, publisher_from_claims(claims))
    assert reason is not None and "reusable workflow 'publish.yml', called from 'release.yml'" in reason
    assert publisher_from_claims(decode_claims(issuer.mint_gitlab("sigstore"))) == GitLabPublisher(
        repository="octo-group/demo", workflow_filepath=".gitlab-ci.yml"
    )
    assert publisher_from_claims(decode_claims(issuer.mint_google("sigstore"))) == GooglePublisher(
        email="release@demo-project.iam.gserviceaccount.com"
    )
    with pytest.raises(ConfigurationError, match=r"issuer is 'https://buildkite\.example'"):
        publisher_from_claims({"iss": "https://buildkite.example", "sub": "x"})


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("github:octo-org/demo/release.yml", GitHubPublisher(repository="octo-org/demo", workflow="release.yml")),
        ("github:octo-org/demo/release.yml@pypi", GitHubPublisher(repository="octo-org/demo", workflow="release.yml", environment="pypi")),
        ("gitlab:group/sub/proj/.gitlab-ci.yml", GitLabPublisher(repository="group/sub/proj", workflow_filepath=".gitlab-ci.yml")),
        ("gitlab:group/proj//ci/release.yml@prod", GitLabPublisher(repository="group/proj", workflow_filepath="ci/release.yml", environment="prod")),
        ("google:sa@p.iam.gserviceaccount.com", GooglePublisher(email="sa@p.iam.gserviceaccount.com")),
    ],
)
def test_parse_publisher_spec(spec: str, expected: Any) -> None:
    assert parse_publisher_spec(spec) == expected


@pytest.mark.parametrize("spec", ["octo-org/demo", "github:octo-org/release.yml", "bitbucket:a/b/c", "gitlab:proj/.gitlab-ci.yml"])
def test_bad_publisher_spec(spec: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_publisher_spec(spec)


# --------------------------------------------------------------------------- trust roots


def test_load_trust_config(tmp_path: Path) -> None:
    assert load_trust_config("production", env={}).kind == "production"
    assert load_trust_config(None, env={}).name == "production"
    assert load_trust_config(None, env={"TRUSTPUB_SIGSTORE": "staging"}).kind == "staging"
    with pytest.raises(ConfigurationError, match="neither production, staging nor an existing"):
        load_trust_config(str(tmp_path / "missing.json"), env={})
    bad = tmp_path / "bad.json"
    bad.write_text('{"mediaType": "nonsense"}')
    with pytest.raises(ConfigurationError, match="not a valid ClientTrustConfig"):
        load_trust_config(str(bad)).signing_context()


def test_offline_public_roots_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for var, sub in (("HOME", ""), ("XDG_CACHE_HOME", ".cache"), ("XDG_DATA_HOME", ".local/share")):
        monkeypatch.setenv(var, str(home / sub))
    for name in ("production", "staging"):
        trust = load_trust_config(name)
        verifier = trust.verifier(offline=True)
        assert verifier is trust.verifier(offline=True)  # one parsed root per target
        assert trust.client_trust_config(offline=True).force_tlog_version == 1
    assert list(home.iterdir()) == []


def test_trusted_root_file_verifies_but_cannot_sign(world: LocalWorld, tmp_path: Path) -> None:
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps(world.sigstore.trusted_root()))
    trust = load_trust_config(str(root))
    assert trust.verifier() is not None
    with pytest.raises(ConfigurationError, match="is a TrustedRoot"):
        trust.signing_context()


# --------------------------------------------------------------------------- signing


def test_attest_signs_verifies_and_writes(world: LocalWorld, tmp_path: Path) -> None:
    dists = release(tmp_path / "dist")
    tokens = Tokens(world)
    att = attester(world, tokens, slsa=True)
    results = att.attest(dists)
    assert att.certificates == 1 and tokens.calls == 1  # one certificate for the release
    verifier = local_verifier(world)
    certificates = set()
    for dist, result in zip(dists, results, strict=True):
        assert (result.filename, result.sha256, result.reused) == (dist.filename, dist.sha256, False)
        assert [p.name for p in result.paths] == [f"{dist.filename}.publish.attestation", f"{dist.filename}.slsa.attestation"]
        assert result.log_index is not None and result.integrated_time is not None
        for path, predicate_type in zip(result.paths, (PUBLISH_V1, SLSA_PROVENANCE_V1), strict=True):
            attestation = load_attestation(path)
            certificates.add(attestation.verification_material.certificate)
            statement = json.loads(attestation.envelope.statement)
            assert statement["subject"] == [{"name": dist.filename, "digest": {"sha256": dist.sha256}}]
            assert statement["predicateType"] == predicate_type
            assert verify_attestation(
                attestation, filename=dist.filename, sha256=dist.sha256, publisher=PUBLISHER, verifier=verifier
            ) == predicate_type
        publish = load_attestation(result.paths[0])
        assert publish.envelope.statement == encode_statement(publish_statement(dist.filename, dist.sha256))
        assert json.loads(publish.envelope.statement)["predicate"] == {}
        slsa = json.loads(load_attestation(result.paths[1]).envelope.statement)["predicate"]
        assert slsa["runDetails"]["builder"]["id"] == WORKFLOW_URL
        assert slsa["runDetails"]["metadata"] == {"invocationId": RUN_URL}
    assert len(certificates) == 1


def test_pypi_attestations_agrees(world: LocalWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's own verify (production verifier swapped for the local root) accepts them."""
    root = world.sigstore.client_trust_config().trusted_root

    class LocalVerifier(Verifier):
        @classmethod
        def production(cls, *, offline: bool = False) -> Verifier:
            return Verifier(trusted_root=root)

        staging = production

    monkeypatch.setattr(pypi_attestations._impl, "Verifier", LocalVerifier)
    (dist,) = [d for d in release(tmp_path) if d.is_wheel]
    (result,) = attester(world, slsa=True).attest([dist])
    target = PADistribution(name=dist.filename, digest=dist.sha256)
    publish, slsa = (load_attestation(p) for p in result.paths)
    assert publish.verify(PUBLISHER, target, offline=True) == (PUBLISH_V1, {})
    predicate_type, predicate = slsa.verify(PUBLISHER, target, offline=True)
    assert predicate_type == SLSA_PROVENANCE_V1 and predicate is not None and predicate["runDetails"]["builder"]["id"] == WORKFLOW_URL
    with pytest.raises(pypi_attestations.VerificationError, match="does not match expected Trusted Publisher"):
        publish.verify(GitHubPublisher(repository="octo-org/demo", workflow="other.yml"), target, offline=True)
    with pytest.raises(pypi_attestations.VerificationError, match="digest"):
        publish.verify(PUBLISHER, PADistribution(name=dist.filename, digest=SHA), offline=True)


def test_rerun_reuses_without_signing(world: LocalWorld, tmp_path: Path) -> None:
    dists = release(tmp_path / "dist")
    first = attester(world, slsa=True).attest(dists)
    before = {p: p.read_bytes() for r in first for p in r.paths}
    tokens = Tokens(world)
    again = attester(world, tokens, slsa=True)
    second = again.attest(dists)
    assert all(r.reused for r in second) and tokens.calls == 0 and again.certificates == 0
    assert [(r.log_index, r.integrated_time) for r in second] == [(r.log_index, r.integrated_time) for r in first]
    assert {p: p.read_bytes() for r in second for p in r.paths} == before
    # Without --slsa the publish attestations alone are reused.
    assert all(r.reused and len(r.paths) == 1 for r in attester(world, Tokens(world)).attest(dists))


def test_stale_attestations_are_replaced(world: LocalWorld, tmp_path: Path) -> None:
    wheel, sdist = release(tmp_path / "dist")
    attester(world, slsa=True).attest([wheel, sdist])
    # The wheel is rebuilt (same name, other bytes): its attestations name the old digest.
    rebuilt = inspect(make_wheel(tmp_path / "dist", extra_files={"demo_pkg/data.txt": b"changed"}))
    assert rebuilt.filename == wheel.filename and rebuilt.sha256 != wheel.sha256
    # The sdist's publish attestation is garbage; its SLSA one is a publish attestation.
    sdist_publish, sdist_slsa = (tmp_path / "dist" / f"{sdist.filename}.{k}.attestation" for k in ("publish", "slsa"))
    sdist_publish.write_text("{not json")
    sdist_slsa.write_bytes((tmp_path / "dist" / f"{wheel.filename}.publish.attestation").read_bytes())
    tokens = Tokens(world)
    results = attester(world, tokens, slsa=True).attest([rebuilt, sdist])
    assert [r.reused for r in results] == [False, False] and tokens.calls == 1
    verifier = local_verifier(world)
    for dist, result in zip((rebuilt, sdist), results, strict=True):
        for path in result.paths:
            verify_attestation(load_attestation(path), filename=dist.filename, sha256=dist.sha256, publisher=PUBLISHER, verifier=verifier)


def test_attestation_from_another_identity_is_replaced(world: LocalWorld, tmp_path: Path) -> None:
    (dist,) = [d for d in release(tmp_path / "dist") if d.is_sdist]
    other = GitHubPublisher(repository="octo-org/other", workflow="release.yml")
    world.issuer.github = GitHubIdentity(repository="octo-org/other")
    (old,) = attester(world, publisher=other).attest([dist])
    world.issuer.github = GitHubIdentity()
    (new,) = attester(world).attest([dist])
    assert not new.reused and new.log_index != old.log_index
    verify_attestation(load_attestation(new.paths[0]), filename=dist.filename, sha256=dist.sha256, publisher=PUBLISHER, verifier=local_verifier(world))


def test_attestations_dir_keeps_dist_clean(world: LocalWorld, tmp_path: Path) -> None:
    dists = release(tmp_path / "dist")
    store = tmp_path / "attestations"
    results = attester(world, attestations_dir=store).attest(dists)
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == sorted(d.filename for d in dists)
    assert all(r.paths[0].parent == store and r.paths[0].is_file() for r in results)
    assert all(r.reused for r in attester(world, attestations_dir=store).attest(dists))


# --------------------------------------------------------------------------- long releases


def test_certificate_renewed_before_it_expires(world: LocalWorld, tmp_path: Path) -> None:
    """Ten files, a clock that moves 150 s per signature: a fresh certificate every few files."""
    dists = release(tmp_path / "dist", wheels=9)
    ticks = [0]

    def clock() -> float:
        ticks[0] += 1
        return time.time() + 150 * ticks[0]

    tokens = Tokens(world)
    att = attester(world, tokens, clock=clock, jobs=1)
    results = att.attest(dists)
    assert att.certificates >= 3 and tokens.calls == att.certificates
    assert len({certificate_of(r.paths[0]) for r in results}) == att.certificates
    verifier = local_verifier(world)
    for dist, result in zip(dists, results, strict=True):
        verify_attestation(load_attestation(result.paths[0]), filename=dist.filename, sha256=dist.sha256, publisher=PUBLISHER, verifier=verifier)


def test_short_lived_certificate_is_replaced_in_real_time(world: LocalWorld, tmp_path: Path) -> None:
    world.sigstore.cert_lifetime = timedelta(seconds=2)
    wheel, sdist = release(tmp_path / "dist")
    att = attester(world)
    att.attest([wheel])
    time.sleep(1.1)  # past half the certificate's life: the next signature needs a new one
    att.attest([sdist])
    assert att.certificates == 2


def test_expired_token_is_fetched_again(world: LocalWorld, tmp_path: Path) -> None:
    served: list[str] = []

    def tokens() -> str:
        served.append("expired" if not served else "fresh")
        now = int(time.time())
        if len(served) == 1:
            return world.issuer.mint_github("sigstore", iat=now - 600, nbf=now - 600, exp=now - 300)
        return world.issuer.mint_github("sigstore")

    (dist,) = [d for d in release(tmp_path) if d.is_sdist]
    assert not attester(world, tokens).attest([dist])[0].reused
    assert served == ["expired", "fresh"]


def test_certificate_expired_on_arrival_fails_naming_the_file(world: LocalWorld, tmp_path: Path) -> None:
    world.sigstore.cert_lifetime = timedelta(0)
    (dist,) = [d for d in release(tmp_path) if d.is_sdist]
    with pytest.raises(AttestationFailed, match=r"demo_pkg-1\.0\.0\.tar\.gz: .*already expired") as info:
        attester(world).attest([dist])
    assert info.value.hint and "clock" in info.value.hint


# --------------------------------------------------------------------------- failures caught before upload


@pytest.mark.parametrize(("knob", "detail"), [("rekor_wrong_key", "invalid log entry"), ("rekor_bad_inclusion_proof", "inclusion proof")])
def test_bad_log_answer_is_caught_after_signing(world: LocalWorld, tmp_path: Path, knob: str, detail: str) -> None:
    setattr(world.sigstore, knob, True)
    (dist,) = [d for d in release(tmp_path) if d.is_sdist]
    with pytest.raises(AttestationFailed, match="would be refused by the index") as info:
        attester(world).attest([dist])
    assert dist.filename in str(info.value) and detail in str(info.value)
    assert not (tmp_path / f"{dist.filename}.publish.attestation").exists()


def test_fulcio_refusal_is_explained(world: LocalWorld, tmp_path: Path) -> None:
    world.sigstore.fulcio_fail_next, world.sigstore.fulcio_fail_status = 1, 401
    (dist,) = [d for d in release(tmp_path) if d.is_sdist]
    with pytest.raises(AttestationFailed, match=r"Fulcio refused the signing certificate \(.*injected failure"):
        attester(world).attest([dist])
    world.sigstore.fulcio_fail_status = 500


def test_rekor_refusal_is_explained(world: LocalWorld, tmp_path: Path) -> None:
    world.sigstore.rekor_fail_next, world.sigstore.rekor_fail_status = 1, 503
    (dist,) = [d for d in release(tmp_path) if d.is_sdist]
    with pytest.raises(AttestationFailed, match=r"tar\.gz: Rekor refused the log entry \(HTTP 503: injected failure"):
        attester(world).attest([dist])
    world.sigstore.rekor_fail_status = 500
    assert not (tmp_path / f"{dist.filename}.publish.attestation").exists()


def test_rekor_client_choice_and_reply_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    from sigstore._internal.rekor.client import RekorClient

    from trustpub.attest._rekor import PooledRekorClient, entry_from_v1_reply, pooled_rekor

    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    stock = RekorClient("http://127.0.0.1:9")
    pooled = pooled_rekor(stock)
    assert isinstance(pooled, PooledRekorClient) and pooled.url == stock.url
    # A proxy applies: sigstore's own client (it honours it; trustpub's transport does not).
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert pooled_rekor(stock) is stock
    with pytest.raises(ValueError, match="exactly one entry"):
        entry_from_v1_reply({})
    body = base64.b64encode(json.dumps({"kind": "rekord", "apiVersion": "0.0.1"}).encode()).decode()
    with pytest.raises(ValueError, match="expected kind"):
        entry_from_v1_reply({"uuid": {"body": body}})


def test_foreign_trust_root_is_caught(world: LocalWorld, tmp_path: Path) -> None:
    """A trust root that is not the signing instance's: refused at signing or right after."""
    with OIDCIssuer() as issuer, SigstoreInstance(issuer) as other:
        foreign = other.trusted_root()
    (dist,) = [d for d in release(tmp_path / "dist") if d.is_sdist]

    def signing_with(root: dict[str, Any], name: str) -> Attester:
        config = json.loads(world.trust_config.read_text())
        config["trustedRoot"] = root
        path = tmp_path / name
        path.write_text(json.dumps(config))
        return Attester(load_trust_config(str(path)), Tokens(world), publisher=PUBLISHER)

    # All of it foreign: the certificate's SCT does not check out (sigstore checks that much).
    with pytest.raises(AttestationFailed, match="certificate from Fulcio does not check out: SCT"):
        signing_with(foreign, "foreign.json").attest([dist])
    # Only the log key foreign: sigstore signs happily; trustpub's verification refuses.
    mixed = dict(world.sigstore.trusted_root(), tlogs=foreign["tlogs"])
    with pytest.raises(AttestationFailed, match=r"would be refused by the index: .*invalid log entry"):
        signing_with(mixed, "mixed.json").attest([dist])
    assert not (tmp_path / "dist" / f"{dist.filename}.publish.attestation").exists()


def test_reusable_workflow_stops_before_anything_is_logged(world: LocalWorld, tmp_path: Path) -> None:
    world.issuer.github = GitHubIdentity(workflow_ref="octo-org/demo/.github/workflows/ci.yml@refs/tags/v1.0.0")
    (dist,) = [d for d in release(tmp_path) if d.is_sdist]
    size = world.sigstore.rekor.size
    with pytest.raises(AttestationFailed, match=r"would be refused by the index: the certificate's Build Config URI will name workflow 'ci\.yml'") as info:
        attester(world).attest([dist])
    assert "release.yml" in str(info.value) and world.sigstore.rekor.size == size


# --------------------------------------------------------------------------- release provenance and the index


def test_release_provenance(world: LocalWorld, tmp_path: Path) -> None:
    dists = release(tmp_path / "dist", wheels=2)
    att = attester(world, clock=lambda: 1_780_000_000.0)
    path = att.release_provenance(dists, out_dir=tmp_path / "dist")
    assert path.name == "demo_pkg-1.0.0.provenance.sigstore.json"
    bundle = Bundle.from_json(path.read_bytes())
    payload_type, payload = local_verifier(world).verify_dsse(bundle, PUBLISHER._as_policy())
    assert payload_type == "application/vnd.in-toto+json"
    statement = json.loads(payload)
    assert statement["predicateType"] == SLSA_PROVENANCE_V1
    assert statement["subject"] == [{"name": d.filename, "digest": {"sha256": d.sha256}} for d in sorted(dists, key=lambda d: d.filename)]
    assert statement["predicate"]["runDetails"] == {
        "builder": {"id": WORKFLOW_URL},
        "metadata": {"invocationId": RUN_URL, "finishedOn": "2026-05-28T20:26:40Z"},
    }
    assert payload == unsigned_statements(dists, finished_on=1_780_000_000.0, ci_context=CIContext.from_claims(
        decode_claims(world.issuer.mint_github("sigstore"))))[-1]


def test_release_provenance_names_and_place(tmp_path: Path) -> None:
    from trustpub.attest import default_provenance_dir, release_provenance_name

    assert release_provenance_name(["Demo.Pkg-1.0-py3-none-any.whl", "demo_pkg-1.0.tar.gz"]) == "demo_pkg-1.0.provenance.sigstore.json"
    assert release_provenance_name(["a-1.0.tar.gz", "b-1.0.tar.gz"]) == "release.provenance.sigstore.json"
    state = tmp_path / "state"
    # Never beside the dists nor in the project: in the state folder, per index when there is one.
    assert default_provenance_dir(state_dir=state) == state / "provenance"
    assert default_provenance_dir(state_dir=state, registry="https://upload.pypi.org/legacy/").parent == state / "provenance"
    assert default_provenance_dir(state_dir=state, registry="https://upload.pypi.org/legacy/") != default_provenance_dir(
        state_dir=state, registry="https://test.pypi.org/legacy/")
    assert default_provenance_dir(tmp_path / "att", state_dir=state) == tmp_path / "att"


def test_index_accepts_trustpub_attestations(world: LocalWorld, tmp_path: Path) -> None:
    from trustpub.secrets import Secret
    from trustpub.transport import Transport
    from trustpub.upload._types import UploadRequest
    from trustpub.upload.native import NativeUploader

    (wheel,) = [d for d in release(tmp_path, content=b"for the index") if d.is_wheel]
    (result,) = attester(world, slsa=True).attest([wheel])
    transport = Transport()
    jwt = world.issuer.mint_github("pypi")
    minted = transport.post_json(world.index.url + "/_/oidc/mint-token", {"token": jwt}, credentials=True)[1]
    request = UploadRequest(
        wheel.path, wheel.filename, wheel.sha256, wheel.blake2_256, wheel.size, world.index.upload_url,
        "__token__", Secret(minted["token"]), result.paths,
    )
    outcome = NativeUploader(transport).upload(request, dist=wheel)
    assert outcome.outcome == "uploaded", outcome.message
    url = f"{world.index.url}/integrity/demo-pkg/1.0.0/{wheel.filename}/provenance"
    response, provenance = transport.get_json(url)
    assert response.status == 200
    served = [Attestation.model_validate(a) for a in provenance["attestation_bundles"][0]["attestations"]]
    assert [a.statement["predicateType"] for a in served] == [PUBLISH_V1, SLSA_PROVENANCE_V1]
    assert served[0].envelope.statement == load_attestation(result.paths[0]).envelope.statement


def test_importing_attest_does_not_load_sigstore() -> None:
    code = "import sys, trustpub.attest, trustpub.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in ('sigstore', 'pypi_attestations')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_certificate_names_the_calling_workflow(world: LocalWorld, tmp_path: Path) -> None:
    (dist,) = [d for d in release(tmp_path) if d.is_sdist]
    (result,) = attester(world).attest([dist])
    cert = x509.load_der_x509_certificate(certificate_of(result.paths[0]))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [WORKFLOW_URL]
