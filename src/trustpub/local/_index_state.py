"""The state every part of :class:`~trustpub.local.index.LocalIndex` shares.

The index is one object assembled from a few parts of one job each (configuration,
the legacy upload API, the read side); :class:`IndexState` declares the attributes
``LocalIndex.__init__`` sets, so each part is typed against the same state.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from trustpub.local._http import LocalService
from trustpub.local._storage import (
    IndexStore,
)

if TYPE_CHECKING:
    from sigstore.verify import Verifier

    from trustpub.local._upload2 import Upload2

_logger = logging.getLogger(__name__)


class IndexState(LocalService):
    """Attributes set by ``LocalIndex.__init__`` (documented there), and the shared helpers."""

    storage: Path
    audience: str
    trust_config: Path | None
    upload_delay: float
    disallow_oidc: bool
    disallow_oidc_services: set[str]
    disallow_pep740: bool
    read_only: bool
    disallow_new_uploads: bool
    token_lifetime: int
    max_file_size: int
    max_project_size: int
    stored_log: list[str]
    upload2: Upload2
    _lock: threading.RLock
    _store: IndexStore
    _fail_next: list[tuple[int, int | None]]
    _reset_next: int
    _verifier: Verifier | None

    @property
    def upload_url(self) -> str:
        """The legacy upload URL, with PyPI's required trailing slash."""
        return self.url + "/legacy/"

    def _verifier_for_attestations(self) -> Verifier:
        if self._verifier is None:
            if self.trust_config is None:
                raise RuntimeError("no Sigstore trust root configured for this index")
            from sigstore.models import ClientTrustConfig
            from sigstore.verify import Verifier

            config = ClientTrustConfig.from_json(self.trust_config.read_text(encoding="utf-8"))
            self._verifier = Verifier(trusted_root=config.trusted_root)
        return self._verifier
