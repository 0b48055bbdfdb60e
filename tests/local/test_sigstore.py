"""The local Sigstore instance, end to end with the real sigstore-python client and verifier.

Signing goes through ``SigningContext.from_trust_config`` and ``Attestation.sign``;
verification through ``sigstore.verify.Verifier`` with pypi-attestations' own
publisher policies (sigstore-offline.md §6, approach a), so a local certificate is
judged exactly as a real one would be.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pypi_attestations._impl as attestations_impl
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from pypi_attestations import (
    Attestation,
    AttestationError,
    Distribution,
    Envelope,
    GitHubPublisher,
    GitLabPublisher,
    GooglePublisher,
)
from sigstore._internal.fulcio.client import FulcioClientError
from sigstore._internal.rekor import RekorClientError
from sigstore._internal.rekor.client import RekorClient
from sigstore.errors import VerificationError
from sigstore.models import ClientTrustConfig, TrustedRoot
from sigstore.oidc import IdentityToken, detect_credential
from sigstore.sign import SigningContext
from sigstore.verify import Verifier, policy
from sigstore.verify.policy import VerificationPolicy

from trustpub.local._merkle import MerkleTree, leaf_hash, node_hash, root_from_inclusion_proof
from trustpub.local.issuer import GITHUB_ISSUER, GitHubIdentity, OIDCIssuer
from trustpub.local.sigstore import SigstoreInstance

from .test_issuer import assert_no_thread_left

WHEEL = Distribution(
    name="demo-1.0.0-py3-none-any.whl", digest=hashlib.sha256(b"wheel").hexdigest()
)
PUBLISHER = GitHubPublisher(repository="octo-org/demo", workflow="release.yml")
EMAIL = "release@demo-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def issuer() -> Iterator[OIDCIssuer]:
    with OIDCIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def sigstore(issuer: OIDCIssuer) -> Iterator[SigstoreInstance]:
    with SigstoreInstance(issuer) as running:
        yield running


@pytest.fixture(scope="module")
def context(sigstore: SigstoreInstance) -> SigningContext:
    return SigningContext.from_trust_config(sigstore.client_trust_config())


@pytest.fixture(scope="module")
def verifier(sigstore: SigstoreInstance) -> Verifier:
    return Verifier(trusted_root=sigstore.client_trust_config().trusted_root)


@pytest.fixture
def faulty(issuer: OIDCIssuer) -> Iterator[SigstoreInstance]:
    """A private instance for tests that flip fault knobs."""
    with SigstoreInstance(issuer) as running:
        yield running


def sign(context: SigningContext, token: str, dist: Distribution = WHEEL) -> Attestation:
    with context.signer(IdentityToken(token), cache=True) as signer:
        return Attestation.sign(signer, dist)


def verify(
    attestation: Attestation,
    dist: Distribution,
    identity: VerificationPolicy | Any,
    verifier: Verifier,
) -> dict[str, Any]:
    """What trustpub's verification does: the real verifier, then PEP 740's post-checks."""
    check = identity._as_policy() if hasattr(identity, "_as_policy") else identity
    payload_type, payload = verifier.verify_dsse(attestation.to_bundle(), check)
    assert payload_type == "application/vnd.in-toto+json"
    statement: dict[str, Any] = json.loads(payload)
    (subject,) = statement["subject"]
    if subject["name"] != dist.name or subject["digest"]["sha256"] != dist.digest:
        raise VerificationError("subject does not match the distribution")
    return statement


def _post(url: str, body: Any, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _csr_body() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    return {
        "certificateSigningRequest": base64.b64encode(
            csr.public_bytes(serialization.Encoding.PEM)
        ).decode()
    }


# -- the happy paths ------------------------------------------------------------------


def test_trust_config_round_trips(sigstore: SigstoreInstance, tmp_path: Any) -> None:
    path = sigstore.write_trust_config(tmp_path / "deep" / "trust.json")
    config = ClientTrustConfig.from_json(path.read_text())
    config.force_tlog_version = 1
    assert config.signing_config.get_fulcio().url == sigstore.url
    assert TrustedRoot.from_file(str(_dump(tmp_path / "root.json", sigstore.trusted_root())))


def _dump(path: Any, data: Any) -> Any:
    path.write_text(json.dumps(data))
    return path


def test_github_attestation_verifies_with_publisher_policy(
    issuer: OIDCIssuer, context: SigningContext, verifier: Verifier
) -> None:
    attestation = sign(context, issuer.mint_github("sigstore"))
    statement = verify(attestation, WHEEL, PUBLISHER, verifier)
    assert statement["predicateType"] == "https://docs.pypi.org/attestations/publish/v1"
    # The JSON form PyPI stores round-trips and still verifies.
    again = Attestation.model_validate_json(attestation.model_dump_json())
    verify(again, WHEEL, PUBLISHER, verifier)


def test_github_certificate_has_fulcio_profile(issuer: OIDCIssuer, context: SigningContext) -> None:
    attestation = sign(context, issuer.mint_github("sigstore"))
    claims = attestation.certificate_claims
    workflow = "https://github.com/octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0"
    expected = {
        "1.3.6.1.4.1.57264.1.8": GITHUB_ISSUER,
        "1.3.6.1.4.1.57264.1.9": workflow,
        "1.3.6.1.4.1.57264.1.11": "github-hosted",
        "1.3.6.1.4.1.57264.1.12": "https://github.com/octo-org/demo",
        "1.3.6.1.4.1.57264.1.14": "refs/tags/v1.0.0",
        "1.3.6.1.4.1.57264.1.16": "https://github.com/octo-org",
        "1.3.6.1.4.1.57264.1.17": "1234567",
        "1.3.6.1.4.1.57264.1.18": workflow,
        "1.3.6.1.4.1.57264.1.20": "push",
        "1.3.6.1.4.1.57264.1.21": "https://github.com/octo-org/demo/actions/runs/9876543210/attempts/1",
    }
    assert expected.items() <= claims.items()
    cert = x509.load_der_x509_certificate(attestation.verification_material.certificate)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        workflow
    ]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(minutes=10)
    issuer_v1 = cert.extensions.get_extension_for_oid(
        x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
    )
    assert issuer_v1.value.public_bytes() == GITHUB_ISSUER.encode()


def test_artifact_signature_verifies_with_identity_policy(
    issuer: OIDCIssuer, context: SigningContext, verifier: Verifier
) -> None:
    with context.signer(IdentityToken(issuer.mint_github("sigstore")), cache=True) as signer:
        bundle = signer.sign_artifact(b"payload")
    identity = policy.Identity(
        identity="https://github.com/octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0",
        issuer=GITHUB_ISSUER,
    )
    verifier.verify_artifact(b"payload", bundle, identity)
    with pytest.raises(VerificationError):
        verifier.verify_artifact(b"other payload", bundle, identity)


def test_gitlab_attestation_verifies_with_gitlab_policy(
    issuer: OIDCIssuer, context: SigningContext, verifier: Verifier
) -> None:
    attestation = sign(context, issuer.mint_gitlab("sigstore"))
    verify(
        attestation,
        WHEEL,
        GitLabPublisher(repository="octo-group/demo", workflow_filepath=".gitlab-ci.yml"),
        verifier,
    )
    with pytest.raises(VerificationError):
        verify(
            attestation,
            WHEEL,
            GitLabPublisher(repository="octo-group/demo", workflow_filepath="ci/other.yml"),
            verifier,
        )
    with pytest.raises(VerificationError):
        verify(attestation, WHEEL, PUBLISHER, verifier)


def test_google_attestation_verifies_with_google_policy(
    issuer: OIDCIssuer, context: SigningContext, verifier: Verifier
) -> None:
    attestation = sign(context, issuer.mint_google("sigstore", email=EMAIL))
    verify(attestation, WHEEL, GooglePublisher(email=EMAIL), verifier)
    with pytest.raises(VerificationError):
        verify(
            attestation,
            WHEEL,
            GooglePublisher(email="other@demo-project.iam.gserviceaccount.com"),
            verifier,
        )


def test_pypi_attestations_own_verify_agrees(
    issuer: OIDCIssuer,
    context: SigningContext,
    sigstore: SigstoreInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cross-check (approach b): the library's Attestation.verify, with its Verifier swapped."""
    local = Verifier(trusted_root=sigstore.client_trust_config().trusted_root)

    class LocalVerifier(Verifier):
        @classmethod
        def production(cls, *, offline: bool = False) -> Verifier:
            return local

    monkeypatch.setattr(attestations_impl, "Verifier", LocalVerifier)
    attestation = sign(context, issuer.mint_github("sigstore"))
    predicate_type, _ = attestation.verify(PUBLISHER, WHEEL)
    assert predicate_type == "https://docs.pypi.org/attestations/publish/v1"
    with pytest.raises(attestations_impl.VerificationError):
        attestation.verify(PUBLISHER, Distribution(name=WHEEL.name, digest="00" * 32))


def test_ambient_runner_credential_signs(
    issuer: OIDCIssuer, context: SigningContext, verifier: Verifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", issuer.github_token_url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", issuer.request_token)
    token = detect_credential()
    assert token is not None
    verify(sign(context, token), WHEEL, PUBLISHER, verifier)


def test_log_serves_entries_and_tree_head(issuer: OIDCIssuer, faulty: SigstoreInstance) -> None:
    context = SigningContext.from_trust_config(faulty.client_trust_config())
    local = Verifier(trusted_root=faulty.client_trust_config().trusted_root)
    with context.signer(IdentityToken(issuer.mint_github("sigstore")), cache=True) as signer:
        attestations = [
            Attestation.sign(signer, Distribution(name=f"demo-1.0.{n}.tar.gz", digest=f"{n:064x}"))
            for n in range(7)
        ]
    # Earlier entries keep verifying against the checkpoints they were issued with.
    for n, attestation in enumerate(attestations):
        verify(
            attestation,
            Distribution(name=f"demo-1.0.{n}.tar.gz", digest=f"{n:064x}"),
            PUBLISHER,
            local,
        )
    with urllib.request.urlopen(faulty.url + "/api/v1/log") as response:
        info = json.loads(response.read())
    assert info["treeSize"] == 7
    assert (
        f"\n7\n{base64.b64encode(bytes.fromhex(info['rootHash'])).decode()}\n"
        in info["signedTreeHead"]
    )
    with urllib.request.urlopen(faulty.url + "/api/v1/log/entries?logIndex=2") as response:
        ((uuid, entry),) = json.loads(response.read()).items()
    proof = entry["verification"]["inclusionProof"]
    body = base64.b64decode(entry["body"])
    leaf = leaf_hash(body)
    root = root_from_inclusion_proof(
        2, proof["treeSize"], leaf, [bytes.fromhex(h) for h in proof["hashes"]]
    )
    assert root.hex() == proof["rootHash"] == info["rootHash"]
    assert json.loads(body)["kind"] == "dsse"
    with urllib.request.urlopen(f"{faulty.url}/api/v1/log/entries/{uuid}") as response:
        assert next(iter(json.loads(response.read()).values()))["logIndex"] == 2
    # sigstore-python's own Rekor client reads the same endpoints.
    client = RekorClient(faulty.url)
    assert client.log.get().tree_size == 7
    assert client.log.entries.get(log_index=2)._inner.canonicalized_body == body
    assert client.log.entries.get(uuid=uuid)._inner.log_index == 2


# -- tampering and identity mismatches ------------------------------------------------------


@pytest.fixture(scope="module")
def attestation(issuer: OIDCIssuer, context: SigningContext) -> Attestation:
    return sign(context, issuer.mint_github("sigstore"))


def test_altered_statement_is_rejected(attestation: Attestation, verifier: Verifier) -> None:
    statement = attestation.statement
    statement["subject"][0]["digest"]["sha256"] = "00" * 32
    forged = attestation.model_copy(
        update={
            "envelope": Envelope(
                statement=base64.b64encode(json.dumps(statement).encode()),
                signature=base64.b64encode(attestation.envelope.signature),
            )
        }
    )
    with pytest.raises(VerificationError):
        verify(forged, Distribution(name=WHEEL.name, digest="00" * 32), PUBLISHER, verifier)


def test_other_distribution_is_rejected(attestation: Attestation, verifier: Verifier) -> None:
    with pytest.raises(VerificationError):
        verify(attestation, Distribution(name=WHEEL.name, digest="11" * 32), PUBLISHER, verifier)


@pytest.mark.parametrize(
    "publisher",
    [
        GitHubPublisher(repository="octo-org/other", workflow="release.yml"),
        GitHubPublisher(repository="octo-org/demo", workflow="nightly.yml"),
        GooglePublisher(email=EMAIL),
    ],
    ids=["other-repository", "other-workflow", "other-kind"],
)
def test_wrong_identity_is_rejected(
    attestation: Attestation, verifier: Verifier, publisher: Any
) -> None:
    with pytest.raises(VerificationError):
        verify(attestation, WHEEL, publisher, verifier)


def test_signature_from_another_repository_is_rejected(
    issuer: OIDCIssuer, context: SigningContext, verifier: Verifier
) -> None:
    other = GitHubIdentity(repository="mallory/demo", repository_owner_id="666")
    attestation = sign(context, issuer.mint_github("sigstore", identity=other))
    with pytest.raises(VerificationError):
        verify(attestation, WHEEL, PUBLISHER, verifier)


def test_foreign_trust_root_is_rejected(attestation: Attestation, faulty: SigstoreInstance) -> None:
    foreign = Verifier(trusted_root=faulty.client_trust_config().trusted_root)
    with pytest.raises(VerificationError):
        verify(attestation, WHEEL, PUBLISHER, foreign)


def test_sct_from_untrusted_ct_log_is_rejected(
    attestation: Attestation, sigstore: SigstoreInstance, faulty: SigstoreInstance
) -> None:
    """Same CA and Rekor, but the trusted CT log is another one: the SCT must fail."""
    config = json.loads(sigstore.trust_config_json())
    config["trustedRoot"]["ctlogs"] = faulty.trusted_root()["ctlogs"]
    other_ct = Verifier(trusted_root=ClientTrustConfig.from_json(json.dumps(config)).trusted_root)
    with pytest.raises(VerificationError, match="SCT"):
        verify(attestation, WHEEL, PUBLISHER, other_ct)


# -- fault knobs ----------------------------------------------------------------------


def _context(instance: SigstoreInstance) -> tuple[SigningContext, Verifier]:
    config = instance.client_trust_config()
    return SigningContext.from_trust_config(config), Verifier(trusted_root=config.trusted_root)


@pytest.mark.parametrize("entries_before", [0, 3], ids=["one-leaf-tree", "deeper-tree"])
def test_bad_inclusion_proof_is_rejected(
    issuer: OIDCIssuer, faulty: SigstoreInstance, entries_before: int
) -> None:
    context, local = _context(faulty)
    token = issuer.mint_github("sigstore")
    for n in range(entries_before):
        sign(context, token, Distribution(name=f"demo-0.{n}.tar.gz", digest=f"{n:064x}"))
    faulty.rekor_bad_inclusion_proof = True
    attestation = sign(context, token)  # the client does not check the log's reply
    with pytest.raises(VerificationError, match="inclusion"):
        verify(attestation, WHEEL, PUBLISHER, local)


def test_rekor_wrong_key_is_rejected(issuer: OIDCIssuer, faulty: SigstoreInstance) -> None:
    context, local = _context(faulty)
    faulty.rekor_wrong_key = True
    attestation = sign(context, issuer.mint_github("sigstore"))
    with pytest.raises(VerificationError):
        verify(attestation, WHEEL, PUBLISHER, local)


def test_bad_sct_is_refused_at_sign_time(issuer: OIDCIssuer, faulty: SigstoreInstance) -> None:
    context, _ = _context(faulty)
    faulty.fulcio_bad_sct = True
    with pytest.raises(VerificationError, match="SCT"):
        sign(context, issuer.mint_github("sigstore"))


@pytest.mark.parametrize("status", [401, 500])
def test_fulcio_fail_next(issuer: OIDCIssuer, faulty: SigstoreInstance, status: int) -> None:
    context, local = _context(faulty)
    faulty.fulcio_fail_next, faulty.fulcio_fail_status = 1, status
    with pytest.raises(FulcioClientError):
        sign(context, issuer.mint_github("sigstore"))
    verify(
        sign(context, issuer.mint_github("sigstore")), WHEEL, PUBLISHER, local
    )  # only the next one


def test_rekor_fail_next(issuer: OIDCIssuer, faulty: SigstoreInstance) -> None:
    context, _ = _context(faulty)
    faulty.rekor_fail_next = 1
    with pytest.raises(RekorClientError, match="500"):
        sign(context, issuer.mint_github("sigstore"))
    assert faulty.rekor.size == 0


def test_expired_certificate(issuer: OIDCIssuer, faulty: SigstoreInstance) -> None:
    context, _ = _context(faulty)
    faulty.cert_lifetime = timedelta(0)
    with pytest.raises(AttestationError):
        sign(context, issuer.mint_github("sigstore"))


# -- Fulcio and Rekor refuse bad requests ------------------------------------------------------


def test_fulcio_refuses_foreign_token(context: SigningContext) -> None:
    stranger = OIDCIssuer()  # same iss string, different key
    with pytest.raises(FulcioClientError):
        sign(context, stranger.mint_github("sigstore"))


def test_fulcio_checks_token_and_csr(issuer: OIDCIssuer, sigstore: SigstoreInstance) -> None:
    url = sigstore.url + "/api/v2/signingCert"
    assert _post(url, _csr_body())[0] == 401
    assert _post(url, _csr_body(), issuer.mint_github("pypi"))[0] == 401
    now = int(time.time())
    assert (
        _post(
            url,
            _csr_body(),
            issuer.mint_github("sigstore", iat=now - 600, nbf=now - 600, exp=now - 300),
        )[0]
        == 401
    )
    assert (
        _post(url, {"certificateSigningRequest": "bm90IGEgY3Ny"}, issuer.mint_github("sigstore"))[0]
        == 400
    )
    assert _post(url, _csr_body(), issuer.mint_github("sigstore", job_workflow_ref=None))[0] == 400
    assert _post(url, _csr_body(), issuer.mint_google("sigstore", email_verified=False))[0] == 400
    status, body = _post(url, _csr_body(), issuer.mint_github("sigstore"))
    assert status == 201 and len(body["signedCertificateEmbeddedSct"]["chain"]["certificates"]) == 3


def test_rekor_refuses_bad_signature_and_duplicates(
    issuer: OIDCIssuer, faulty: SigstoreInstance
) -> None:
    context, _ = _context(faulty)
    with context.signer(IdentityToken(issuer.mint_github("sigstore")), cache=True) as signer:
        bundle = signer.sign_artifact(b"artifact")
    cert_pem = bundle.signing_certificate.public_bytes(serialization.Encoding.PEM)
    assert bundle._inner.message_signature is not None
    signature = bundle._inner.message_signature.signature
    entry = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(cert_pem).decode()},
            },
            "data": {
                "hash": {"algorithm": "sha256", "value": hashlib.sha256(b"artifact").hexdigest()}
            },
        },
    }
    url = faulty.url + "/api/v1/log/entries"
    assert _post(url, entry)[0] == 409  # the client already logged it
    entry["spec"]["data"]["hash"]["value"] = hashlib.sha256(b"other").hexdigest()  # type: ignore[index]
    assert _post(url, entry)[0] == 400
    assert _post(url, {"apiVersion": "0.0.1", "kind": "rekord", "spec": {}})[0] == 400


# -- the Merkle tree itself ----------------------------------------------------------------


def _naive_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_naive_root(leaves[:k]), _naive_root(leaves[k:]))


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 70), data=st.data())
def test_merkle_proofs_match_rfc6962(size: int, data: st.DataObject) -> None:
    tree = MerkleTree()
    for n in range(size):
        tree.append(n.to_bytes(4, "big"))
    upto = data.draw(st.integers(1, size))
    index = data.draw(st.integers(0, upto - 1))
    assert tree.root(upto) == _naive_root([leaf_hash(n.to_bytes(4, "big")) for n in range(upto)])
    proof = tree.inclusion_proof(index, upto)
    assert root_from_inclusion_proof(index, upto, tree.leaf(index), proof) == tree.root(upto)
    if proof:
        bent = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert root_from_inclusion_proof(index, upto, tree.leaf(index), bent) != tree.root(upto)


# -- lifecycle ------------------------------------------------------------------------


def test_start_and_stop_leave_no_thread(issuer: OIDCIssuer) -> None:
    before = set(threading.enumerate())
    started = time.perf_counter()
    instance = SigstoreInstance(issuer).start()
    startup = time.perf_counter() - started
    context, local = _context(instance)
    verify(
        sign(context, issuer.mint_github("sigstore")), WHEEL, PUBLISHER, local
    )  # keep-alive sessions stay open
    instance.stop()
    assert_no_thread_left(before)
    assert startup < 1.0
