"""trustpub.pep740 against real attestations signed on the local Sigstore instance.

Every rule of ``warehouse-contract.md`` §3 is exercised here directly (no HTTP);
``test_index.py`` repeats the important ones through the upload API. One test runs
pypi-attestations' own ``Attestation.verify`` (its production verifier swapped for the
local one) on the same inputs, so a drift between our copy and the library shows up.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypi_attestations
import pytest
from pypi_attestations import (
    Attestation,
    AttestationType,
    Distribution,
    GitHubPublisher,
    GitLabPublisher,
    GooglePublisher,
)
from sigstore.dsse import DigestSet, Statement, StatementBuilder, Subject
from sigstore.oidc import IdentityToken
from sigstore.sign import Signer, SigningContext
from sigstore.verify import Verifier

from tests.local._dists import build_sdist, build_wheel
from trustpub.local.issuer import GitHubIdentity, OIDCIssuer
from trustpub.local.sigstore import SigstoreInstance
from trustpub.pep740 import (
    UPLOAD_MESSAGE_PREFIX,
    AttestationRejected,
    verify_attestation,
    verify_attestation_set,
)

PUBLISH = AttestationType.PYPI_PUBLISH_V1.value
SLSA = AttestationType.SLSA_PROVENANCE_V1.value
VERIFY = "Could not verify the uploaded artifact using the included attestation: "
FAILED = VERIFY + "Verification failed: "
PUBLISHER = GitHubPublisher(repository="octo-org/demo", workflow="release.yml")


@dataclass
class World:
    issuer: OIDCIssuer
    sigstore: SigstoreInstance
    context: SigningContext
    verifier: Verifier
    signer: Signer
    wheel: Path
    sdist: Path

    def sign(self, path: Path) -> Attestation:
        return Attestation.sign(self.signer, Distribution.from_file(path))

    def sign_statement(
        self,
        subjects: list[tuple[str, str]],
        predicate_type: str = PUBLISH,
        raw: bytes | None = None,
    ) -> Attestation:
        statement = (
            StatementBuilder()
            .subjects([Subject(name=n, digest=DigestSet(root={"sha256": d})) for n, d in subjects])
            .predicate_type(predicate_type)
            .predicate({})
            .build()
        )
        if raw is not None:
            # Sign bytes the client-side model would refuse (PAE covers _contents).
            statement = Statement(statement._contents)
            statement._contents = raw
        return Attestation.from_bundle(self.signer.sign_dsse(statement))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("pep740")
    with OIDCIssuer() as issuer, SigstoreInstance(issuer) as sigstore:
        config = sigstore.client_trust_config()
        context = SigningContext.from_trust_config(config)
        verifier = Verifier(trusted_root=config.trusted_root)
        wheel = build_wheel(tmp, "demo", "1.0").path
        sdist = build_sdist(tmp, "demo", "1.0").path
        token = IdentityToken(issuer.mint_github("sigstore"))
        with context.signer(token, cache=True) as signer:
            yield World(issuer, sigstore, context, verifier, signer, wheel, sdist)


def _check(world: World, attestations: list[Any] | str, **overrides: Any) -> list[Attestation]:
    raw = attestations if isinstance(attestations, str) else json.dumps(attestations)
    arguments: dict[str, Any] = {
        "filename": world.wheel.name,
        "sha256": _digest(world.wheel),
        "publisher": PUBLISHER,
        "verifier": world.verifier,
    }
    arguments.update(overrides)
    return verify_attestation_set(raw, **arguments)


def _dump(attestation: Attestation) -> dict[str, Any]:
    return attestation.model_dump(mode="json")


def _rejected(call: Callable[[], object]) -> str:
    with pytest.raises(AttestationRejected) as info:
        call()
    assert info.value.upload_message == UPLOAD_MESSAGE_PREFIX + info.value.reason
    return info.value.reason


def test_a_publish_attestation_verifies_and_returns_its_type(world: World) -> None:
    attestation = world.sign(world.wheel)
    predicate = verify_attestation(
        attestation,
        filename=world.wheel.name,
        sha256=_digest(world.wheel),
        publisher=PUBLISHER,
        verifier=world.verifier,
    )
    assert predicate == PUBLISH
    assert _check(world, [_dump(attestation)]) == [attestation]


def test_publish_and_slsa_attestations_together_are_accepted(world: World) -> None:
    publish = world.sign(world.wheel)
    slsa = world.sign_statement([(world.wheel.name, _digest(world.wheel))], SLSA)
    assert len(_check(world, [_dump(publish), _dump(slsa)])) == 2


def test_the_environment_is_not_part_of_the_identity(world: World) -> None:
    publisher = GitHubPublisher(repository="octo-org/demo", workflow="release.yml", environment="x")
    assert _check(world, [_dump(world.sign(world.wheel))], publisher=publisher)


@pytest.mark.parametrize(
    ("raw", "start"),
    [
        ("{}", "Malformed attestations: 1 validation error for list[Attestation]"),
        ("not json", "Malformed attestations: 1 validation error for list[Attestation]"),
        ("[{}]", "Malformed attestations: 3 validation errors for list[Attestation]"),
        ("[]", "Malformed attestations: an empty attestation set is not permitted"),
    ],
)
def test_malformed_sets_are_refused(world: World, raw: str, start: str) -> None:
    assert _rejected(lambda: _check(world, raw)).startswith(start)


def test_a_single_object_is_not_a_set(world: World) -> None:
    single = json.dumps(_dump(world.sign(world.wheel)))
    assert _rejected(lambda: _check(world, single)).startswith(
        "Malformed attestations: 1 validation error for list[Attestation]"
    )


def test_at_most_two_attestations(world: World) -> None:
    attestation = _dump(world.sign(world.wheel))
    assert (
        _rejected(lambda: _check(world, [attestation] * 3))
        == "A maximum of 2 attestations per file are supported"
    )


def test_two_attestations_of_one_predicate_type_are_refused(world: World) -> None:
    attestation = _dump(world.sign(world.wheel))
    assert _rejected(lambda: _check(world, [attestation, attestation])) == (
        f"Multiple attestations for the same file with the same predicate type ({PUBLISH}) "
        "are not supported"
    )


def test_wrong_workflow_fails_the_publisher_policy(world: World) -> None:
    publisher = GitHubPublisher(repository="octo-org/demo", workflow="other.yml")
    reason = _rejected(lambda: _check(world, [_dump(world.sign(world.wheel))], publisher=publisher))
    assert reason.startswith(FAILED + "Certificate's Build Config URI")
    assert reason.endswith("does not match expected Trusted Publisher (other.yml @ octo-org/demo)")


def test_wrong_repository_fails_the_publisher_policy(world: World) -> None:
    publisher = GitHubPublisher(repository="octo-org/other", workflow="release.yml")
    reason = _rejected(lambda: _check(world, [_dump(world.sign(world.wheel))], publisher=publisher))
    assert reason.startswith(FAILED)


def test_reusable_workflow_certificates_name_the_caller(world: World) -> None:
    # The certificate's Build Config URI comes from workflow_ref (the caller), so a
    # publisher registered for the called workflow does not verify.
    identity = GitHubIdentity(
        job_workflow_ref="octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0",
        workflow_ref="octo-org/demo/.github/workflows/ci.yml@refs/tags/v1.0.0",
    )
    token = IdentityToken(world.issuer.mint_github("sigstore", identity=identity))
    with world.context.signer(token, cache=True) as signer:
        attestation = Attestation.sign(signer, Distribution.from_file(world.wheel))
    assert _rejected(lambda: _check(world, [_dump(attestation)])).startswith(
        FAILED + "Certificate's Build Config URI"
    )
    caller = GitHubPublisher(repository="octo-org/demo", workflow="ci.yml")
    assert _check(world, [_dump(attestation)], publisher=caller)


def test_gitlab_and_google_identities_verify(world: World, tmp_path: Path) -> None:
    token = IdentityToken(world.issuer.mint_gitlab("sigstore"))
    with world.context.signer(token, cache=True) as signer:
        gitlab = Attestation.sign(signer, Distribution.from_file(world.wheel))
    publisher = GitLabPublisher(repository="octo-group/demo", workflow_filepath=".gitlab-ci.yml")
    assert _check(world, [_dump(gitlab)], publisher=publisher)

    email = "release@demo-project.iam.gserviceaccount.com"
    token = IdentityToken(world.issuer.mint_google("sigstore", email=email))
    with world.context.signer(token, cache=True) as signer:
        google = Attestation.sign(signer, Distribution.from_file(world.wheel))
    assert _check(world, [_dump(google)], publisher=GooglePublisher(email=email))
    wrong = GooglePublisher(email="other@demo-project.iam.gserviceaccount.com")
    assert _rejected(lambda: _check(world, [_dump(google)], publisher=wrong)).startswith(FAILED)


def test_the_digest_must_be_the_servers_lowercase_hex(world: World) -> None:
    attestation = [_dump(world.sign(world.wheel))]
    other = hashlib.sha256(b"other bytes").hexdigest()
    expected = FAILED + "subject does not match distribution digest"
    assert _rejected(lambda: _check(world, attestation, sha256=other)) == expected
    upper = world.sign_statement([(world.wheel.name, _digest(world.wheel).upper())])
    assert _rejected(lambda: _check(world, [_dump(upper)])) == expected


def test_the_subject_must_name_the_uploaded_file(world: World) -> None:
    attestation = [_dump(world.sign(world.wheel))]
    reason = _rejected(
        lambda: _check(world, attestation, filename=world.sdist.name, sha256=_digest(world.sdist))
    )
    assert reason == (
        FAILED
        + f"subject does not match distribution name: {world.wheel.name} != {world.sdist.name}"
    )


def test_an_equivalent_filename_spelling_passes(world: World) -> None:
    # pypi-attestations compares parsed names: 1.0 and 1.0.0 are the same version.
    attestation = [_dump(world.sign(world.wheel))]
    assert _check(world, attestation, filename="demo-1.0.0-py3-none-any.whl")


def test_statement_rules(world: World) -> None:
    digest = _digest(world.wheel)
    two = world.sign_statement([(world.wheel.name, digest), ("demo-1.0.tar.gz", digest)])
    assert (
        _rejected(lambda: _check(world, [_dump(two)]))
        == FAILED + "too many subjects in statement (must be exactly one)"
    )
    unknown = world.sign_statement([(world.wheel.name, digest)], "https://example.com/predicate")
    assert (
        _rejected(lambda: _check(world, [_dump(unknown)]))
        == FAILED + "unknown attestation type: https://example.com/predicate"
    )
    bad_name = world.sign_statement([("demo-1.0.exe", digest)])
    assert (
        _rejected(lambda: _check(world, [_dump(bad_name)]))
        == FAILED + "invalid subject: unknown distribution format: demo-1.0.exe"
    )
    old_type = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "subject": [{"name": world.wheel.name, "digest": {"sha256": digest}}],
            "predicateType": PUBLISH,
            "predicate": {},
        }
    ).encode()
    v01 = world.sign_statement([(world.wheel.name, digest)], raw=old_type)
    assert _rejected(lambda: _check(world, [_dump(v01)])).startswith(FAILED + "invalid statement: ")
    nameless = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": None, "digest": {"sha256": digest}}],
            "predicateType": PUBLISH,
        }
    ).encode()
    no_name = world.sign_statement([(world.wheel.name, digest)], raw=nameless)
    assert (
        _rejected(lambda: _check(world, [_dump(no_name)]))
        == FAILED + "invalid subject: missing name"
    )


def test_tampering_is_caught(world: World) -> None:
    attestation = _dump(world.sign(world.wheel))
    signature = bytearray(base64.b64decode(attestation["envelope"]["signature"]))
    signature[-1] ^= 1
    attestation["envelope"]["signature"] = base64.b64encode(bytes(signature)).decode()
    assert _rejected(lambda: _check(world, [attestation])).startswith(FAILED)


def test_a_foreign_trust_root_is_refused(world: World) -> None:
    with SigstoreInstance(world.issuer) as other:
        verifier = Verifier(trusted_root=other.client_trust_config().trusted_root)
    attestation = [_dump(world.sign(world.wheel))]
    assert _rejected(lambda: _check(world, attestation, verifier=verifier)).startswith(FAILED)


def test_unexpected_errors_are_reported_as_pypi_does(world: World) -> None:
    attestation = _dump(world.sign(world.wheel))
    attestation["verification_material"]["certificate"] = base64.b64encode(b"nope").decode()
    assert _rejected(lambda: _check(world, [attestation])) == (
        "Unknown error while trying to verify included attestations: invalid X.509 certificate"
    )


def test_a_non_distribution_filename_is_a_caller_error(world: World) -> None:
    with pytest.raises(ValueError, match="is not a wheel or sdist filename"):
        verify_attestation(
            world.sign(world.wheel),
            filename="demo.exe",
            sha256=_digest(world.wheel),
            publisher=PUBLISHER,
            verifier=world.verifier,
        )


def test_same_verdicts_as_pypi_attestations(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our copy of Attestation.verify and the library agree, message for message."""

    class LocalVerifier:
        @staticmethod
        def production(offline: bool = False) -> Verifier:
            return world.verifier

    monkeypatch.setattr(pypi_attestations._impl, "Verifier", LocalVerifier)
    digest = _digest(world.wheel)
    cases: list[tuple[Attestation, str, str, pypi_attestations.Publisher]] = [
        (world.sign(world.wheel), world.wheel.name, digest, PUBLISHER),
        (world.sign(world.wheel), world.wheel.name, digest.upper(), PUBLISHER),
        (world.sign(world.wheel), world.sdist.name, digest, PUBLISHER),
        (
            world.sign(world.wheel),
            world.wheel.name,
            digest,
            GitHubPublisher(repository="octo-org/demo", workflow="other.yml"),
        ),
        (
            world.sign_statement([(world.wheel.name, digest), (world.sdist.name, digest)]),
            world.wheel.name,
            digest,
            PUBLISHER,
        ),
        (
            world.sign_statement([(world.wheel.name, digest)], "https://example.com/p"),
            world.wheel.name,
            digest,
            PUBLISHER,
        ),
    ]
    for attestation, filename, sha256, publisher in cases:
        try:
            expected: str = attestation.verify(
                publisher, Distribution(name=filename, digest=sha256)
            )[0]
        except pypi_attestations.VerificationError as exc:
            expected = f"{VERIFY}{exc}"
        try:
            got = verify_attestation(
                attestation,
                filename=filename,
                sha256=sha256,
                publisher=publisher,
                verifier=world.verifier,
            )
        except AttestationRejected as exc:
            got = exc.reason
        assert got == expected
