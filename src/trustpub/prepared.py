"""What a multi-index release decided for one index before any byte left (:mod:`trustpub.multi`).

:meth:`trustpub.orchestrator.Orchestrator.publish` takes it instead of doing those
steps again: the files are inspected and preflighted once, the credentials for every
index are chosen (and trusted-publishing tokens minted) up front, and the attestations
are signed once, so every index receives the same bundles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trustpub.attest import AttestedFile
    from trustpub.auth import CredentialSource
    from trustpub.dists import Distribution

__all__ = ["PreparedTarget"]


@dataclass(frozen=True)
class PreparedTarget:
    """The shared, already-done steps for one index of a release.

    ``dists`` are preflighted, in upload order; ``source`` is this index's credential
    source (a trusted-publishing one has minted its first token); ``attested`` holds
    the attestations of every file when this index gets them, else nothing. The
    orchestrator then writes no release provenance: :mod:`trustpub.multi` writes one
    for the whole release, naming every index.
    """

    dists: Sequence[Distribution]
    source: CredentialSource
    attestations: bool
    attested: Mapping[str, AttestedFile] = field(default_factory=dict)
