"""Rekor v1 submissions through trustpub's pooled transport, the reply read once.

sigstore-python 4.5.1 logs every signature with ``requests`` (which scans the
environment for proxy settings on each request) and turns each reply into a
``TransparencyLogEntry`` by first building a pydantic ``TypeAdapter`` for Rekor's
whole entry schema, for every reply. Measured on the local instance that is about
0.85 ms of CPU per entry: half the cost of signing a file, and most of what a
release of many files spends. :class:`PooledRekorClient` posts the same request
body over one pooled keep-alive connection per thread and builds the same entry
from the reply directly.

Nothing is trusted more because of it: like sigstore-python, the reply is not
checked cryptographically here, and like every attestation trustpub makes, the
result is verified in full right after signing. When a proxy is configured for the
log's URL the stock client is kept (it honours ``HTTPS_PROXY``; trustpub's
transport does not).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from sigstore._internal.rekor import EntryRequestBody
from sigstore._internal.rekor.client import RekorClient
from sigstore.models import TransparencyLogEntry
from sigstore_models.common import v1 as common_v1
from sigstore_models.rekor import v1 as rekor_v1

from trustpub.attest._signing import SigningError
from trustpub.transport import Transport, TransportError

__all__ = ["PooledRekorClient", "pooled_rekor"]

_logger = logging.getLogger(__name__)

_KINDS = frozenset({"dsse", "hashedrekord"})


class PooledRekorClient(RekorClient):
    """sigstore's Rekor v1 client with :meth:`create_entry` on a pooled transport."""

    def __init__(self, url: str, transport: Transport | None = None) -> None:
        super().__init__(url)
        self._transport = transport or Transport(maxsize=16)

    def create_entry(self, request: EntryRequestBody) -> TransparencyLogEntry:
        url = f"{self.url}/log/entries"
        try:
            response = self._transport.request(
                "POST", url, json=dict(request), headers={"Accept": "application/json"}, max_redirects=0
            )
        except TransportError as exc:
            raise SigningError(f"cannot reach Rekor: {exc.message}", hint=exc.hint) from None
        if response.status != 201:
            try:
                message = str(json.loads(response.data).get("message") or "")
            except (ValueError, AttributeError):
                message = ""
            detail = f"HTTP {response.status}" + (f": {message}" if message else "")
            raise SigningError(f"Rekor refused the log entry ({detail})", hint="re-run; if it persists, check the Sigstore instance's status")
        try:
            entry = entry_from_v1_reply(json.loads(response.data))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise SigningError(f"Rekor answered with an unusable log entry: {exc}") from None
        _logger.debug("rekor: logged at index %s", entry._inner.log_index)
        return entry


def entry_from_v1_reply(reply: Any) -> TransparencyLogEntry:
    """The ``TransparencyLogEntry`` for Rekor v1's ``{uuid: entry}`` reply (as sigstore builds it)."""
    if not isinstance(reply, dict) or len(reply) != 1:
        raise ValueError("expected exactly one entry in the reply")
    (entry,) = reply.values()
    body = json.loads(base64.b64decode(entry["body"]))
    kind, version = body.get("kind"), body.get("apiVersion")
    if kind not in _KINDS:
        raise ValueError(f"log entry is not of an expected kind: {kind!r}")
    if entry.get("integratedTime") is None:
        raise ValueError("the entry has no integrated time")
    verification = entry["verification"]
    proof = verification["inclusionProof"]
    inner = rekor_v1.TransparencyLogEntry(
        log_index=str(entry["logIndex"]),  # type: ignore[arg-type]
        log_id=common_v1.LogId(key_id=base64.b64encode(bytes.fromhex(entry["logID"]))),
        kind_version=rekor_v1.KindVersion(kind=kind, version=version),
        integrated_time=str(entry["integratedTime"]),  # type: ignore[arg-type]
        inclusion_promise=rekor_v1.InclusionPromise(signed_entry_timestamp=verification["signedEntryTimestamp"]),
        inclusion_proof=rekor_v1.InclusionProof(
            log_index=str(proof["logIndex"]),  # type: ignore[arg-type]
            root_hash=base64.b64encode(bytes.fromhex(proof["rootHash"])),
            tree_size=str(proof["treeSize"]),  # type: ignore[arg-type]
            hashes=[base64.b64encode(bytes.fromhex(h)) for h in proof["hashes"]],
            checkpoint=rekor_v1.Checkpoint(envelope=proof["checkpoint"]),
        ),
        canonicalized_body=entry["body"],
    )
    return TransparencyLogEntry(inner)


def pooled_rekor(tlog: Any) -> Any:
    """``tlog`` (a signing config's Rekor client) replaced by :class:`PooledRekorClient` when it is safe.

    Only sigstore's Rekor v1 client is replaced, and only when no proxy applies to its URL.
    """
    if type(tlog) is not RekorClient:
        return tlog
    from requests.utils import get_environ_proxies

    base = tlog.url.removesuffix("/api/v1")
    if get_environ_proxies(base):
        _logger.debug("rekor: a proxy is configured for %s; keeping sigstore's client", base)
        return tlog
    return PooledRekorClient(base)
