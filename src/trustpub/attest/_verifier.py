"""A sigstore ``Verifier`` that builds each certificate chain once per signing time.

A release's attestations are signed with ONE Fulcio certificate, and Rekor stamps
entries with a whole-second ``integratedTime``, so verifying 100 attestations asks
100 times "does this leaf chain to the trusted root at this second?" with the same
two inputs. Building that chain (``cryptography``'s path validation) is the single
most expensive step of a verification; this subclass remembers its answer keyed by
(certificate fingerprint, time, time source). Nothing else changes: every other step
(SCT, policy, log entry proof and SET, signature, entry consistency) still runs for
every attestation. A failed chain is never remembered, so it is re-checked and
reported each time.

The override targets ``Verifier._verify_chain_at_time`` of sigstore 4.5.1 (pinned):
a pure function of the certificate, the time and the verifier's trusted root.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.x509 import Certificate
from sigstore.verify import Verifier

__all__ = ["CachingVerifier"]

_logger = logging.getLogger(__name__)

#: Chains remembered per verifier; a release uses one certificate per ~10 minutes.
MAX_CACHED_CHAINS = 512


class CachingVerifier(Verifier):
    """``sigstore.verify.Verifier`` with chain building memoised (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._chains: OrderedDict[tuple[bytes, Any, Any], list[Certificate]] = OrderedDict()
        self._chains_lock = threading.Lock()

    def _verify_chain_at_time(self, certificate: Certificate, timestamp_result: Any) -> list[Certificate]:
        key = (certificate.fingerprint(hashes.SHA256()), timestamp_result.time, timestamp_result.source)
        with self._chains_lock:
            chain = self._chains.get(key)
            if chain is not None:
                self._chains.move_to_end(key)
                return list(chain)
        chain = super()._verify_chain_at_time(certificate, timestamp_result)
        with self._chains_lock:
            self._chains[key] = list(chain)
            while len(self._chains) > MAX_CACHED_CHAINS:
                self._chains.popitem(last=False)
        return chain
