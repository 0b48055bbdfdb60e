"""The release journal: what happened to each file, kept on disk across runs.

One small JSON file per (index, project, version) under ``.trustpub/journal/``. Each
file's state is ``planned``, ``uploaded`` (with its sha256), ``already-present`` or
``failed`` (with the reason). Every change is written atomically (temporary file,
fsync, rename), so a crash or a kill at any point leaves either the old or the new
journal, never a torn one.

The journal records; it does not decide. What is on the index, by hash, decides what
a re-run uploads (:mod:`trustpub.upload.engine`), so a journal that is lost, stale or
from another machine can never cause a duplicate or a different upload.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

__all__ = ["Journal"]

STATES = ("planned", "uploaded", "already-present", "failed", "skipped")


class Journal:
    """A release's journal file; thread-safe updates, atomic writes."""

    def __init__(self, path: Path, *, registry: str, project: str, version: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.data: dict[str, Any] = {"registry": registry, "project": project, "version": version, "files": {}, "runs": []}
        if path.exists():
            try:
                loaded = json.loads(path.read_text())
                if isinstance(loaded, dict) and isinstance(loaded.get("files"), dict):
                    self.data.update(loaded)
            except (OSError, ValueError):
                pass  # a damaged journal is replaced; the index stays the source of truth

    @classmethod
    def for_release(cls, state_dir: Path, *, registry: str, project: str, version: str) -> Journal:
        key = hashlib.sha256(registry.encode()).hexdigest()[:12]
        name = f"{canonicalize_name(project)}-{version}-{key}.json"
        return cls(state_dir / "journal" / name, registry=registry, project=project, version=version)

    def start_run(self, *, dry_run: bool) -> None:
        with self._lock:
            self.data["runs"].append({"started": _now(), "dry_run": dry_run, "finished": None, "outcome": None})
            self._write()

    def finish_run(self, outcome: str) -> None:
        with self._lock:
            if self.data["runs"]:
                self.data["runs"][-1].update({"finished": _now(), "outcome": outcome})
            self._write()

    def record(self, filename: str, state: str, *, sha256: str, reason: str | None = None) -> None:
        if state not in STATES:
            raise ValueError(f"unknown journal state {state!r}")
        with self._lock:
            entry = {"state": state, "sha256": sha256, "updated": _now()}
            if reason:
                entry["reason"] = reason
            self.data["files"][filename] = entry
            self._write()

    def state(self, filename: str) -> str | None:
        entry = self.data["files"].get(filename)
        return entry.get("state") if isinstance(entry, dict) else None

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".journal-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(self.data, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
