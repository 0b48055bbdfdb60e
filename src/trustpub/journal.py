"""The release journal: what happened to each file, kept on disk across runs.

One small JSON file per (index, project, version) under ``<state dir>/journal/``, the
per-user state folder of :mod:`trustpub.state` (never the project, where the next build
would pack it). The same release sent to the same index finds the same journal. Each
file's state is ``planned``, ``uploaded`` (with its sha256), ``already-present`` or
``failed`` (with the reason). Every change is written atomically (temporary file,
fsync, rename), so a crash or a kill at any point leaves either the old or the new
journal, never a torn one; the temporary file a killed run left behind is removed by
the next run of the same release.

A run holds an exclusive lock on ``<journal>.lock`` from :meth:`Journal.start_run`
to :meth:`Journal.finish_run`: a second run of the same release (same index, project
and version) started meanwhile is refused with :class:`JournalLocked`, instead of
uploading every file a second time and overwriting the first run's records. The lock
is an OS file lock, so a killed run never leaves a stale one.

A journal of the wrong shape (not JSON, or JSON that is not the structure below) is
treated as damaged: the parts that are not valid are dropped and rewritten, and the
run goes on, since the index is the source of truth.

The journal records; it does not decide. What is on the index, by hash, decides what
a re-run uploads (:mod:`trustpub.upload.engine`), so a journal that is lost, stale or
from another machine can never cause a duplicate or a different upload.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from packaging.utils import canonicalize_name

from trustpub.errors import TrustpubError
from trustpub.outcomes import UPLOAD_OUTCOMES
from trustpub.state import index_key

__all__ = ["Journal", "JournalLocked"]

STATES = ("planned", *UPLOAD_OUTCOMES, "failed", "staged")  # "not-attempted" is a "planned" left behind

#: A temporary journal file of the old naming (``.journal-*``) older than this is a
#: leftover of a killed run and is removed; newer ones may belong to a live run of
#: another release in the same folder.
STALE_TEMP_SECONDS = 3600


class JournalLocked(TrustpubError):
    """Another run is publishing the same release right now (it holds the journal lock)."""


class Journal:
    """A release's journal file; thread-safe updates, atomic writes."""

    def __init__(self, path: Path, *, registry: str, project: str, version: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._lock_file: IO[str] | None = None
        self._identity = {"registry": registry, "project": project, "version": version}
        self.data: dict[str, Any] = self._load()

    def _load(self) -> dict[str, Any]:
        data: dict[str, Any] = {**self._identity, "files": {}, "runs": []}
        try:
            loaded = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return data
        except (OSError, ValueError, RecursionError):
            return data  # a damaged journal is replaced; the index stays the source of truth
        data.update(_valid_parts(loaded))
        return data

    @classmethod
    def for_release(cls, state_dir: Path, *, registry: str, project: str, version: str) -> Journal:
        """The journal of ``project`` ``version`` on the index ``registry`` (its upload URL) in ``state_dir``."""
        name = f"{canonicalize_name(project)}-{version}-{index_key(registry)}.json"
        return cls(state_dir / "journal" / name, registry=registry, project=project, version=version)

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def start_run(self, *, dry_run: bool) -> None:
        """Take the release's lock, then record a new run.

        Raises :class:`JournalLocked` when another run of the same release holds it.
        The journal is re-read under the lock (the other run may have just finished),
        and temporary files left by a killed run are removed.
        """
        with self._lock:
            self._acquire()
            self.data = self._load()
            self._remove_leftovers()
            self.data["runs"].append({"started": _now(), "dry_run": dry_run, "finished": None, "outcome": None})
            self._write()

    def finish_run(self, outcome: str) -> None:
        """Record the run's outcome and release the lock."""
        with self._lock:
            try:
                if self.data["runs"]:
                    self.data["runs"][-1].update({"finished": _now(), "outcome": outcome})
                self._write()
            finally:
                self._release()

    def _acquire(self) -> None:
        if self._lock_file is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held until finish_run
        if not _try_lock(handle):
            handle.seek(0)
            holder = handle.read(200).strip()
            handle.close()
            who = f" (pid {holder})" if holder.isdigit() else ""
            release = f"{self._identity['project']} {self._identity['version']}"
            raise JournalLocked(
                f"another trustpub run{who} is publishing {release} to {self._identity['registry']} right now "
                f"(it holds {self.lock_path}); this run was refused before uploading anything",
                hint="wait for that run to finish, then re-run this command: it uploads whatever is still missing",
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_file = handle

    def _release(self) -> None:
        handle, self._lock_file = self._lock_file, None
        if handle is not None:
            handle.close()  # closing the descriptor drops the OS lock

    def __del__(self) -> None:
        self._release()

    def _remove_leftovers(self) -> None:
        folder = self.path.parent
        for leftover in folder.glob(f".{self.path.name}.*.tmp"):
            leftover.unlink(missing_ok=True)  # ours: nobody else writes this journal while we hold the lock
        cutoff = time.time() - STALE_TEMP_SECONDS
        for leftover in folder.glob(".journal-*"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink(missing_ok=True)
            except OSError:
                continue

    def record(self, filename: str, state: str, *, sha256: str, reason: str | None = None) -> None:
        if state not in STATES:
            raise ValueError(f"unknown journal state {state!r}")
        with self._lock:
            entry = {"state": state, "sha256": sha256, "updated": _now()}
            if reason:
                entry["reason"] = reason
            self.data["files"][filename] = entry
            self._write()

    def record_many(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """Record ``(filename, state, sha256)`` for several files in ONE atomic write (the plan)."""
        with self._lock:
            now = _now()
            for filename, state, sha256 in entries:
                if state not in STATES:
                    raise ValueError(f"unknown journal state {state!r}")
                self.data["files"][filename] = {"state": state, "sha256": sha256, "updated": now}
            self._write()

    def record_session(self, url: str, *, status: str) -> None:
        """Record the release's Upload 2.0 session (its URL and our view of its status).

        A new URL replaces the old record and its files.  Never the session token: the
        session URL is useless without the index's credentials, the token is not.
        """
        with self._lock:
            old = self.data.get("session")
            files = old.get("files", {}) if isinstance(old, dict) and old.get("url") == url else {}
            self.data["session"] = {"url": url, "status": status, "files": files, "updated": _now()}
            self._write()

    def record_session_file(self, filename: str, url: str) -> None:
        """Record the file upload session URL of ``filename`` in the current session."""
        with self._lock:
            session = self.data.get("session")
            if isinstance(session, dict):
                session.setdefault("files", {})[filename] = url
                self._write()

    def session(self) -> dict[str, Any] | None:
        """The recorded Upload 2.0 session, if it may still be open (not published or canceled)."""
        session = self.data.get("session")
        if isinstance(session, dict) and session.get("status") not in ("published", "canceled"):
            return session
        return None

    def state(self, filename: str) -> str | None:
        entry = self.data["files"].get(filename)
        return entry.get("state") if isinstance(entry, dict) else None

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                # Without ``indent`` json uses its C encoder: a journal is rewritten after
                # every upload, and the pure-Python one cost more than the upload itself.
                handle.write(json.dumps(self.data, sort_keys=True))
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _valid_parts(loaded: object) -> dict[str, Any]:
    """The parts of a loaded journal that have the right shape; the rest is dropped."""
    if not isinstance(loaded, dict):
        return {}
    parts: dict[str, Any] = {}
    files = loaded.get("files")
    if isinstance(files, dict):
        parts["files"] = {
            name: entry
            for name, entry in files.items()
            if isinstance(name, str)
            and isinstance(entry, dict)
            and entry.get("state") in STATES
            and isinstance(entry.get("sha256"), str)
        }
    session = loaded.get("session")
    if isinstance(session, dict) and isinstance(session.get("url"), str) and isinstance(session.get("status"), str):
        files = session.get("files")
        parts["session"] = {
            "url": session["url"], "status": session["status"], "updated": str(session.get("updated", "")),
            "files": {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(files, dict) else {},
        }
    runs = loaded.get("runs")
    if isinstance(runs, list):
        parts["runs"] = [run for run in runs if isinstance(run, dict)]
    return parts


def _try_lock(handle: IO[str]) -> bool:
    """An exclusive, non-blocking OS lock on ``handle``; False when another holder has it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
