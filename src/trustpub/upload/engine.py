"""Parallel, retried, idempotent uploads of one release.

Idempotency is by hash, on every index: before the first byte, the index's simple API
says which files exist and with which sha256. Identical files count as published;
a file with the same name and other bytes stops the release before anything is sent.
After a failed upload the index is asked again, because the upload may have landed
before the connection broke.

Wheels go first (in parallel over one connection pool: one first, then as many as pay
off, up to ``jobs``, :mod:`trustpub.upload.pace`; files of :data:`LARGE_FILE` or more
one at a time); the sdist
goes last and only when every wheel is on the index, so an interrupted release never
shows an sdist without its wheels. Outcomes come back in a deterministic order.

    >>> dists = inspect_many(paths)        # trustpub.dists                                   # doctest: +SKIP
    >>> engine = UploadEngine(NativeUploader(transport), lookup=SimpleIndex(transport, url),
    ...                       progress=progress_for())                                       # doctest: +SKIP
    >>> results = engine.upload(dists, request_for)                                           # doctest: +SKIP

A file is hashed before its upload only when something needs the digest first (the
index lists its name, an attestation names it); otherwise the native uploader hashes
it while it streams (:class:`trustpub.dists.Digests`). An uploader
that declares ``accepts_distribution`` (the native one) gets that inspected
:class:`~trustpub.dists.Distribution` and a byte callback for the progress display,
so no archive is opened twice.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, cast

from trustpub.dists import Distribution
from trustpub.errors import TrustpubError
from trustpub.upload._types import Uploader, UploadRejected, UploadRequest, UploadResult
from trustpub.upload.pace import Pace
from trustpub.upload.plan import FileConflict, plan_release, project_of, upload_order
from trustpub.upload.progress import NullProgress, UploadProgress
from trustpub.upload.simple import ExistingFiles

__all__ = ["FileConflict", "RetryPolicy", "UploadEngine", "plan_release", "upload_order"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 20.0
    total: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap)
        return random.uniform(0, min(self.cap, self.base * (2 ** (attempt - 1))))


Progress = Callable[[str, UploadResult], None]

#: Files at least this large are sent one at a time (small ones still go ``jobs`` at a
#: time beside them). Parallel uploads win where each waits on the index's latency; a
#: large file is bound by the one pipe and the index's CPU instead, which parallel
#: streams only share (measured, 3 x 200 MiB to pypiserver on loopback: 7.5 s in
#: parallel, 6.9 s one at a time), while each of them holds buffers on the index.
LARGE_FILE = 32 * 1024 * 1024

class _DistributionUploader(Protocol):
    def upload(
        self,
        request: UploadRequest,
        *,
        dist: Distribution | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> UploadResult: ...


class UploadEngine:
    """Runs an :class:`Uploader` over a release with the guarantees above."""

    def __init__(
        self,
        uploader: Uploader,
        *,
        lookup: ExistingFiles | None,
        jobs: int = 4,
        retry: RetryPolicy = RetryPolicy(),
        on_result: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: UploadProgress | None = None,
    ) -> None:
        self.uploader = uploader
        self.lookup = lookup
        self.jobs = max(1, jobs)
        self.retry = retry
        self.on_result = on_result
        self.progress: UploadProgress = progress if progress is not None else NullProgress()
        self._sleep = sleep
        self._stop = threading.Event()
        self._pace = Pace(1, stopped=self._stop)
        self._large = threading.Semaphore(1)
        self._passes_distribution = bool(getattr(uploader, "accepts_distribution", False))
        #: Files that were tried and failed, with the reason (and the number of attempts):
        #: after a failed :meth:`upload`, every file not here and without a result was
        #: never sent, which is what reports call ``not-attempted``.
        self.failures: dict[str, str] = {}
        self._failures_lock = threading.Lock()

    def plan(self, dists: Sequence[Distribution]) -> dict[str, str]:
        """See :func:`plan_release`."""
        return plan_release(dists, self.lookup)

    def upload(
        self, dists: Sequence[Distribution], request_for: Callable[[Distribution], UploadRequest]
    ) -> list[UploadResult]:
        ordered = upload_order(dists)
        present = self.plan(ordered)
        self.progress.begin([(d.filename, d.size) for d in ordered if d.filename not in present])
        try:
            return self._upload(ordered, present, request_for)
        finally:
            self.progress.end()

    def _upload(
        self,
        ordered: list[Distribution],
        present: dict[str, str],
        request_for: Callable[[Distribution], UploadRequest],
    ) -> list[UploadResult]:
        results: dict[str, UploadResult] = {}
        for dist in ordered:
            if dist.filename in present:
                results[dist.filename] = self._report(
                    UploadResult(dist.filename, "already-present", message="identical file already on the index")
                )
        wheels = [d for d in ordered if d.filetype == "bdist_wheel" and d.filename not in results]
        others = [d for d in ordered if d.filetype != "bdist_wheel" and d.filename not in results]
        errors: list[BaseException] = []
        if len(wheels) == 1 or self.jobs == 1:
            # No thread pool for nothing to overlap: one file goes out on this thread.
            for dist in wheels:
                results[dist.filename] = self._one(dist, request_for)
        elif wheels:
            lanes = min(self.jobs, len(wheels))
            self._pace = Pace(lanes, stopped=self._stop)
            with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="trustpub-upload") as pool:
                futures = [pool.submit(self._one, d, request_for) for d in wheels]
                for dist, future in zip(wheels, futures, strict=True):
                    try:
                        results[dist.filename] = future.result()
                    except BaseException as exc:  # collected, re-raised after every wheel settled
                        errors.append(exc)
                        # Whatever it was (a failed file, an error of request_for, Ctrl-C on
                        # this thread), no waiting wheel starts now.
                        self._halt()
        if errors:
            # The error that stopped the release, not a file that was waiting when it stopped.
            raise next((e for e in errors if not isinstance(e, _NotStarted)), errors[0])
        for dist in others:
            results[dist.filename] = self._one(dist, request_for)
        return [results[d.filename] for d in ordered]

    def _send(self, dist: Distribution, request_for: Callable[[Distribution], UploadRequest]) -> UploadResult:
        # The request, and with it the credentials (a token re-minted when near its expiry),
        # is made when the upload really starts: after its lane and, for a large file, after
        # the large file before it, which on a slow link can take longer than a token lives.
        if dist.size >= LARGE_FILE:
            with self._large:
                return self._send_now(dist, request_for(dist))
        return self._send_now(dist, request_for(dist))

    def _send_now(self, dist: Distribution, request: UploadRequest) -> UploadResult:
        if self._passes_distribution:
            uploader = cast(_DistributionUploader, self.uploader)
            on_bytes = functools.partial(self.progress.sent, dist.filename)
            return uploader.upload(request, dist=dist, on_bytes=on_bytes)
        return self.uploader.upload(request)

    def _one(self, dist: Distribution, request_for: Callable[[Distribution], UploadRequest]) -> UploadResult:
        if self._stop.is_set():
            raise _not_started(dist)
        started = time.monotonic()
        attempt = 0
        last = ""  # why the previous attempt failed
        while True:
            attempt += 1
            if attempt > 1 and self._stop.is_set():
                raise self._not_retried(dist, attempt - 1, last)
            waiting = time.monotonic()
            if not self._pace.enter():
                if attempt > 1:
                    raise self._not_retried(dist, attempt - 1, last)
                raise _not_started(dist)
            began, took, sent, decided = time.monotonic(), 0.0, False, False
            started += began - waiting  # the wait for a lane is not spent on this file's retries
            try:
                self.progress.attempt(dist.filename, dist.size, attempt)
                result = self._send(dist, request_for)  # fresh credentials for every attempt
                took, sent = time.monotonic() - began, True
                reported = self._report(result)
                decided = True
                return reported
            except UploadRejected as exc:
                if self._landed(dist):
                    _logger.info("%s: attempt %d failed (%s), but the index holds these exact bytes", dist.filename,
                                 attempt, _reason(exc))
                    reported = self._report(
                        UploadResult(dist.filename, "already-present" if _is_exists(exc) else "uploaded", exc.status,
                                     "the index already holds these exact bytes", confirmed=True)
                    )
                    decided = True
                    return reported
                if _is_exists(exc):
                    self._failed(dist, _reason(exc), attempt)
                    raise FileConflict(
                        f"{exc.message} (another file with this name or these bytes is already on the index); "
                        "nothing more was uploaded",
                        hint="a published filename can never be replaced, and the same bytes cannot be uploaded "
                        "under two names; bump the version and rebuild",
                    ) from None
                elapsed = time.monotonic() - started
                if not exc.retryable or attempt >= self.retry.attempts or elapsed >= self.retry.total:
                    self._failed(dist, _reason(exc), attempt)
                    raise
                last = _reason(exc)
                pause = self.retry.delay(attempt, exc.retry_after)
                # Said once: by the display when there is one, else in the log (-v).
                if isinstance(self.progress, NullProgress):
                    _logger.info("%s: attempt %d failed (%s); retrying in %.1f s", dist.filename, attempt, _reason(exc), pause)
                else:
                    self.progress.retrying(dist.filename, attempt, _reason(exc), pause)
                self._sleep(pause)
                decided = True
            except BaseException as exc:
                self._failed(dist, exc.message if isinstance(exc, TrustpubError) else type(exc).__name__, attempt)
                raise
            finally:
                # After the handlers: a stop is set before the lane frees, a retry's pause
                # keeps it (fewer requests at a struggling index). Anything raised on the
                # way (the journal, the display, the index listing, Ctrl-C) stops too.
                if not decided:
                    self._stop.set()
                self._pace.leave(uploaded=dist.size if sent else None, seconds=took)
                if self._stop.is_set():
                    self._pace.stop()

    def _halt(self) -> None:
        """Stop the release: no upload starts from now on; waiting ones return without a lane."""
        self._stop.set()
        self._pace.stop()

    def _not_retried(self, dist: Distribution, attempts: int, reason: str) -> _NotStarted:
        """A file that failed and was waiting to be retried when the release stopped."""
        self._failed(dist, f"{reason}; not retried, the release stopped on an earlier error", attempts)
        return _NotStarted(f"{dist.filename}: not uploaded ({reason}), the release stopped on an earlier error")

    def _failed(self, dist: Distribution, reason: str, attempts: int) -> None:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        with self._failures_lock:
            self.failures[dist.filename] = f"{reason}{tries}"

    def _landed(self, dist: Distribution) -> bool:
        """After a failure: is exactly this file on the index now?"""
        if self.lookup is None:
            return False
        try:
            existing = self.lookup.files(project_of(dist), refresh=True)
        except TrustpubError:
            return False
        return existing.get(dist.filename, "").lower() == dist.sha256

    def _report(self, result: UploadResult) -> UploadResult:
        if self.on_result is not None:
            self.on_result(result.filename, result)
        self.progress.finished(result)
        return result


class _NotStarted(TrustpubError):
    """A file that was never sent because the release had already stopped."""


def _not_started(dist: Distribution) -> _NotStarted:
    return _NotStarted(f"{dist.filename}: not uploaded, the release stopped on an earlier error")


def _reason(exc: UploadRejected) -> str:
    """The rejection without the "filename: " prefix the display already shows."""
    prefix = f"{exc.filename}: "
    return exc.message[len(prefix):] if exc.message.startswith(prefix) else exc.message


def _is_exists(exc: UploadRejected) -> bool:
    text = exc.message.lower()
    return exc.status == 409 or (exc.status == 400 and "already exist" in text)
