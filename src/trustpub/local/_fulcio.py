"""The local Fulcio: a two-level code-signing CA and the CT log that vouches for it.

sigstore-python accepts a signing certificate only with an embedded SCT from a CT log
in its trusted root, and verifiers accept it only if it chains to a trusted CA and
has the profile Fulcio gives (empty subject, critical SAN, code-signing EKU, AKI, the
``1.3.6.1.4.1.57264.1.*`` extensions). This module issues exactly such certificates;
the HTTP side and the token checks live in :mod:`trustpub.local.sigstore`.

The chain mirrors Fulcio's: a P-384 root, a P-384 intermediate that signs leaves,
and a P-256 CT log key that signs the precertificate (RFC 6962 §3.2). ``cryptography``
cannot build SCTs, so the SCT list is encoded by hand and attached as a raw extension;
because it is appended last, ``leaf.tbs_precertificate_bytes`` equals the signed
precertificate's TBS, which is what verifiers check.

Usage::

    from trustpub.local._fulcio import FulcioCA
    from trustpub.local._principals import principal_from_claims

    ca = FulcioCA()
    leaf = ca.issue(csr.public_key(), principal_from_claims(claims), lifetime=timedelta(minutes=10))
    chain = [leaf, *ca.chain]          # leaf, intermediate, root
"""

from __future__ import annotations

import hashlib
import logging
import struct
import time
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from trustpub.local._principals import Principal

__all__ = ["CertificatePublicKey", "FulcioCA", "spki_der"]

_logger = logging.getLogger(__name__)

_SCT_OID = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")

#: Any public key a certificate may certify (what a CSR can carry).
CertificatePublicKey = CertificatePublicKeyTypes


def spki_der(key: CertificatePublicKey) -> bytes:
    """DER SubjectPublicKeyInfo: what key IDs and log IDs are hashes of."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "trustpub local"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _der_octet_string(data: bytes) -> bytes:
    n = len(data)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return b"\x04" + length + data


class FulcioCA:
    """A fresh in-memory CA (root, intermediate) and CT log key.

    ``valid_from`` backdates the CA certificates so clocks a little behind still
    accept them; trust configs use the same instant as ``validFor.start``.
    """

    def __init__(self, *, valid_from: datetime | None = None) -> None:
        start = valid_from or datetime.now(timezone.utc) - timedelta(days=1)
        end = start + timedelta(days=365 * 5)
        self._root_key = ec.generate_private_key(ec.SECP384R1())
        self._intermediate_key = ec.generate_private_key(ec.SECP384R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        #: RFC 6962 log ID: SHA-256 of the CT key's SPKI (also the trusted root's keyId).
        self.ct_log_id = hashlib.sha256(spki_der(self.ct_key.public_key())).digest()

        root_ski = x509.SubjectKeyIdentifier.from_public_key(self._root_key.public_key())
        self.root: x509.Certificate = (
            x509.CertificateBuilder()
            .subject_name(_name("trustpub local fulcio root"))
            .issuer_name(_name("trustpub local fulcio root"))
            .public_key(self._root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(root_ski, critical=False)
            .sign(self._root_key, hashes.SHA384())
        )
        self._intermediate_ski = x509.SubjectKeyIdentifier.from_public_key(
            self._intermediate_key.public_key()
        )
        self.intermediate: x509.Certificate = (
            x509.CertificateBuilder()
            .subject_name(_name("trustpub local fulcio intermediate"))
            .issuer_name(self.root.subject)
            .public_key(self._intermediate_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(self._intermediate_ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
                critical=False,
            )
            .sign(self._root_key, hashes.SHA384())
        )
        self._issuer_key_hash = hashlib.sha256(
            spki_der(self._intermediate_key.public_key())
        ).digest()

    @property
    def chain(self) -> list[x509.Certificate]:
        """The CA chain above a leaf, issuer first: ``[intermediate, root]``."""
        return [self.intermediate, self.root]

    def issue(
        self,
        public_key: CertificatePublicKey,
        principal: Principal,
        *,
        lifetime: timedelta,
        sct_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> x509.Certificate:
        """A leaf for ``public_key`` asserting ``principal``, with an embedded SCT.

        ``sct_key`` replaces the CT log's key when signing the SCT (the log ID stays
        the real one): a fault that clients must reject.
        """
        not_before = datetime.now(timezone.utc).replace(microsecond=0)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + lifetime)
            .add_extension(_leaf_key_usage(), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    self._intermediate_ski
                ),
                critical=False,
            )
            # An empty subject requires a critical SAN (RFC 5280 §4.2.1.6).
            .add_extension(principal.san, critical=True)
        )
        for extension in principal.extensions:
            builder = builder.add_extension(extension, critical=False)
        precert = builder.sign(self._intermediate_key, hashes.SHA256())
        sct = self._sct(precert.tbs_certificate_bytes, sct_key or self.ct_key)
        sct_list = struct.pack("!H", len(sct)) + sct
        extension = x509.UnrecognizedExtension(
            _SCT_OID, _der_octet_string(struct.pack("!H", len(sct_list)) + sct_list)
        )
        leaf = builder.add_extension(extension, critical=False).sign(
            self._intermediate_key, hashes.SHA256()
        )
        _logger.debug(
            "issued certificate for %s, valid until %s",
            principal.identity,
            leaf.not_valid_after_utc,
        )
        return leaf

    def _sct(self, tbs: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
        """An RFC 6962 v1 SCT over a precert entry (``digitally-signed`` struct §3.2)."""
        timestamp = int(time.time() * 1000)
        signed = (
            struct.pack("!BBQH", 0, 0, timestamp, 1)  # v1, certificate_timestamp, ts, precert_entry
            + self._issuer_key_hash
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack("!H", 0)  # no CT extensions
        )
        signature = key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return (
            struct.pack("!B", 0)
            + self.ct_log_id
            + struct.pack("!QH", timestamp, 0)
            + struct.pack("!BBH", 4, 3, len(signature))  # sha256, ecdsa
            + signature
        )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
