"""The result of a release to several indexes (:func:`trustpub.multi.publish_many`).

Per index, in publishing order, a :class:`TargetOutcome`: its status and the
single-index :class:`~trustpub.publish_result.PublishResult` of what happened there.
The JSON document (``schema`` :data:`REPORT_SCHEMA`) holds, per index, the
single-index document plus ``target``, ``origin``, ``status`` and ``smoke``; a release
to one index keeps printing the single-index document, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trustpub.publish_result import PublishResult
from trustpub.target_list import IndexTarget

__all__ = ["REPORT_SCHEMA", "MultiPublishResult", "Status", "TargetOutcome"]

#: The ``schema`` of the JSON document of a release to several indexes. A release to
#: one index keeps the single-index document, unchanged and without this key.
REPORT_SCHEMA = "trustpub.publish.many/1"

Status = Literal["landed", "failed", "refused", "not-attempted"]


@dataclass
class TargetOutcome:
    """One index of the release: what happened there.

    ``status``: ``landed`` (every file is there, and the smoke test passed if asked),
    ``failed`` (publishing or its smoke test failed), ``refused`` (an up-front check
    for this index stopped the release) or ``not-attempted``.
    """

    index: IndexTarget
    status: Status = "not-attempted"
    result: PublishResult | None = None
    error: str | None = None
    #: ``passed``/``failed`` after ``--smoke``; None when none ran.
    smoke: str | None = None

    def to_json(self) -> dict[str, Any]:
        body = self.result.to_json() if self.result is not None else {
            "ok": False, "registry": str(self.index.registry), "upload_url": self.index.registry.upload_url,
            "files": [], "error": self.error,
        }
        return {
            "target": self.index.name, "origin": self.index.target.origin, "status": self.status,
            "smoke": self.smoke, **body, "error": self.error,
        }


@dataclass
class MultiPublishResult:
    """The release to every index, in order; ``ok`` only when every one landed."""

    targets: list[TargetOutcome]
    project: str = ""
    version: str = ""
    dry_run: bool = False
    elapsed: float = 0.0
    provenance: Path | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and all(t.status == "landed" for t in self.targets)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "ok": self.ok,
            "dry_run": self.dry_run,
            "project": self.project,
            "version": self.version,
            "elapsed_seconds": round(self.elapsed, 3),
            "release_provenance": str(self.provenance) if self.provenance else None,
            "landed": sum(t.status == "landed" for t in self.targets),
            "targets": [t.to_json() for t in self.targets],
            "warnings": self.warnings,
            "error": self.error,
        }
