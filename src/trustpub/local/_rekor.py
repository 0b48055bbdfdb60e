"""The local Rekor v1 transparency log: entry checks, Merkle tree, checkpoints, SETs.

Everything a Sigstore verifier checks about a log entry is real here: the stored
body is the canonical entry Rekor itself would store (for ``dsse`` that is *not* the
proposed entry: it keeps hashes and signatures, not the envelope), each response has
an RFC 6962 inclusion proof against the current tree, a signed checkpoint (a signed
note, as transparency-dev formats it) and a Signed Entry Timestamp over the RFC 8785
JSON of body, time, log ID and index. Submissions whose signature does not verify
are refused with 400, duplicates with 409, as Rekor does.

The HTTP side lives in :mod:`trustpub.local.sigstore`; this module is plain objects.

Usage::

    from trustpub.local._rekor import RekorLog

    log = RekorLog()
    response = log.add(proposed_entry_json)      # {uuid: {body, integratedTime, ...}}
    info = log.log_info()                        # GET /api/v1/log
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from trustpub.local._fulcio import spki_der
from trustpub.local._merkle import MerkleTree, leaf_hash

__all__ = ["RekorError", "RekorLog"]

_logger = logging.getLogger(__name__)

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class RekorError(Exception):
    """A submission Rekor refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class _Entry:
    body: bytes
    integrated_time: int
    uuid: str


def _b64decode(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise RekorError(400, f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RekorError(400, f"{what} is not valid base64") from None


def _get(data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]...``; a missing key is a 400, like Rekor's schema check."""
    for name in path:
        if not isinstance(data, dict) or data.get(name) is None:
            raise RekorError(400, f"entry is missing {'.'.join(path)}")
        data = data[name]
    return data


def _load_verifier(pem: bytes) -> tuple[Any, bytes]:
    """A public key from a PEM certificate or PEM public key, and the PEM to store."""
    try:
        if b"CERTIFICATE" in pem:
            cert = x509.load_pem_x509_certificate(pem)
            return cert.public_key(), cert.public_bytes(serialization.Encoding.PEM)
        return serialization.load_pem_public_key(pem), pem
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise RekorError(400, f"invalid verifier: {exc}") from None


def _ec_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    size = key.curve.key_size
    return hashes.SHA256() if size <= 256 else hashes.SHA384() if size <= 384 else hashes.SHA512()


def _verify(
    key: Any, signature: bytes, data: bytes, *, prehashed: hashes.HashAlgorithm | None = None
) -> bool:
    """Whether ``signature`` over ``data`` (or over the digest ``data``) verifies."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            algorithm: Any = utils.Prehashed(prehashed) if prehashed else _ec_hash(key)
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey) and prehashed is None:
            key.verify(signature, data)
        elif isinstance(key, rsa.RSAPublicKey):
            algorithm = utils.Prehashed(prehashed) if prehashed else hashes.SHA256()
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what the envelope signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _dsse_body(spec: Any) -> dict[str, Any]:
    """The stored dsse 0.0.1 body for a proposed entry, after checking its signatures."""
    envelope_text = _get(spec, "proposedContent", "envelope")
    verifiers = _get(spec, "proposedContent", "verifiers")
    if not isinstance(envelope_text, str) or not isinstance(verifiers, list) or not verifiers:
        raise RekorError(400, "dsse entry needs an envelope string and at least one verifier")
    try:
        envelope = json.loads(envelope_text)
    except ValueError:
        raise RekorError(400, "dsse envelope is not JSON") from None
    payload = _b64decode(_get(envelope, "payload"), "envelope payload")
    payload_type = _get(envelope, "payloadType")
    signatures = _get(envelope, "signatures")
    if not isinstance(payload_type, str) or not isinstance(signatures, list) or not signatures:
        raise RekorError(400, "dsse envelope needs a payloadType and signatures")
    keys = [_load_verifier(_b64decode(v, "verifier")) for v in verifiers]
    pae = _pae(payload_type, payload)
    stored: list[dict[str, str]] = []
    for entry in signatures:
        signature = _b64decode(_get(entry, "sig"), "envelope signature")
        match = next((pem for key, pem in keys if _verify(key, signature, pae)), None)
        if match is None:
            raise RekorError(400, "envelope signature does not verify with any verifier")
        stored.append(
            {
                "signature": base64.b64encode(signature).decode(),
                "verifier": base64.b64encode(match).decode(),
            }
        )
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(envelope_text.encode()).hexdigest(),
            },
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": stored,
        },
    }


def _hashedrekord_body(spec: Any) -> dict[str, Any]:
    """The stored hashedrekord 0.0.1 body (the proposed spec, normalised), checked."""
    algorithm = _get(spec, "data", "hash", "algorithm")
    digest_hex = _get(spec, "data", "hash", "value")
    if algorithm not in _HASHES or not isinstance(digest_hex, str):
        raise RekorError(400, f"unsupported hash algorithm {algorithm!r}")
    try:
        digest = bytes.fromhex(digest_hex)
    except ValueError:
        raise RekorError(400, "hash value is not hex") from None
    signature = _b64decode(_get(spec, "signature", "content"), "signature")
    key, pem = _load_verifier(
        _b64decode(_get(spec, "signature", "publicKey", "content"), "public key")
    )
    if not _verify(key, signature, digest, prehashed=_HASHES[algorithm]()):
        raise RekorError(400, "signature does not verify against the artifact hash")
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": algorithm, "value": digest.hex()}},
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(pem).decode()},
            },
        },
    }


class RekorLog:
    """An in-memory Rekor v1 log with a fresh P-256 key.

    Thread-safe: the HTTP server calls it from many threads.
    """

    def __init__(self, *, name: str = "rekor.trustpub.local") -> None:
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        #: SHA-256 of the key's SPKI: the log ID and the trusted root's keyId.
        self.log_id = hashlib.sha256(spki_der(self.key.public_key())).digest()
        self.tree_id = secrets.randbits(63)
        self._tree = MerkleTree()
        self._entries: list[_Entry] = []
        self._by_leaf: dict[bytes, int] = {}
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        with self._lock:
            return self._tree.size

    def add(
        self,
        proposed: Any,
        *,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
        bad_inclusion_proof: bool = False,
    ) -> dict[str, Any]:
        """Check and log a proposed entry; the v1 ``POST /api/v1/log/entries`` reply.

        ``signing_key`` replaces the log key for the checkpoint and SET (a fault);
        ``bad_inclusion_proof`` corrupts the audit path (a fault).
        Raises :class:`RekorError` for entries Rekor would refuse.
        """
        kind = _get(proposed, "kind")
        version = _get(proposed, "apiVersion")
        spec = _get(proposed, "spec")
        if (kind, version) == ("dsse", "0.0.1"):
            stored = _dsse_body(spec)
        elif (kind, version) == ("hashedrekord", "0.0.1"):
            stored = _hashedrekord_body(spec)
        else:
            raise RekorError(400, f"unsupported entry kind {kind!r} version {version!r}")
        body = rfc8785.dumps(stored)
        leaf = leaf_hash(body)
        with self._lock:
            existing = self._by_leaf.get(leaf)
            if existing is not None:
                raise RekorError(
                    409,
                    "an equivalent entry already exists in the transparency log "
                    f"with UUID {self._entries[existing].uuid}",
                )
            index = self._tree.append(body)
            entry = _Entry(body, int(time.time()), f"{self.tree_id:016x}{leaf.hex()}")
            self._entries.append(entry)
            self._by_leaf[leaf] = index
            response = self._response(index, signing_key, bad_inclusion_proof)
        _logger.debug("rekor: logged %s entry %d", kind, index)
        return response

    def get(
        self,
        index: int,
        *,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
        bad_inclusion_proof: bool = False,
    ) -> dict[str, Any]:
        """Entry ``index`` with a proof against the current tree (``KeyError`` if absent)."""
        with self._lock:
            if not 0 <= index < len(self._entries):
                raise KeyError(index)
            return self._response(index, signing_key, bad_inclusion_proof)

    def index_of(self, uuid: str) -> int | None:
        """The index of the entry with ``uuid`` (with or without the tree-ID prefix)."""
        try:
            leaf = bytes.fromhex(uuid[-64:])
        except ValueError:
            return None
        with self._lock:
            return self._by_leaf.get(leaf)

    def log_info(self, *, signing_key: ec.EllipticCurvePrivateKey | None = None) -> dict[str, Any]:
        """The ``GET /api/v1/log`` reply: size, root and signed tree head."""
        with self._lock:
            size = self._tree.size
            root = self._tree.root()
        return {
            "rootHash": root.hex(),
            "treeSize": size,
            "signedTreeHead": self._checkpoint(size, root, signing_key or self.key),
            "treeID": str(self.tree_id),
            "inactiveShards": [],
        }

    def _response(
        self,
        index: int,
        signing_key: ec.EllipticCurvePrivateKey | None,
        bad_inclusion_proof: bool,
    ) -> dict[str, Any]:
        """Build one entry reply (the caller holds the lock)."""
        key = signing_key or self.key
        entry = self._entries[index]
        size = self._tree.size
        root = self._tree.root(size)
        proof = self._tree.inclusion_proof(index, size)
        if bad_inclusion_proof:
            # Flip a bit in the audit path; a one-leaf tree has none, so add a bogus
            # sibling. Either way the recomputed root cannot match.
            proof = (
                [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]] if proof else [b"\x00" * 32]
            )
        body_b64 = base64.b64encode(entry.body).decode()
        set_payload = rfc8785.dumps(
            {
                "body": body_b64,
                "integratedTime": entry.integrated_time,
                "logID": self.log_id.hex(),
                "logIndex": index,
            }
        )
        signed_entry_timestamp = key.sign(set_payload, ec.ECDSA(hashes.SHA256()))
        return {
            entry.uuid: {
                "body": body_b64,
                "integratedTime": entry.integrated_time,
                "logID": self.log_id.hex(),
                "logIndex": index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": self._checkpoint(size, root, key),
                        "hashes": [h.hex() for h in proof],
                        "logIndex": index,
                        "rootHash": root.hex(),
                        "treeSize": size,
                    },
                    "signedEntryTimestamp": base64.b64encode(signed_entry_timestamp).decode(),
                },
            }
        }

    def _checkpoint(self, size: int, root: bytes, key: ec.EllipticCurvePrivateKey) -> str:
        """A signed note: origin, size, root; blank line; ``— name b64(keyhint || sig)``.

        sigstore-python matches the 4-byte key hint against the log ID's prefix.
        """
        note = f"{self.name} - {self.tree_id}\n{size}\n{base64.b64encode(root).decode()}\n"
        signature = key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        encoded = base64.b64encode(self.log_id[:4] + signature).decode()
        return f"{note}\n\u2014 {self.name} {encoded}\n"
