"""How many uploads to keep in flight: one first, then as many as pay off, up to ``--jobs``.

Parallel uploads are what make a release to PyPI fast: each upload there waits on the
network and on the index, and eight waits overlap (bench/RESULTS.md, case b: 6x the
peers). An index on the same machine or LAN that does its work on one CPU or behind one
write lock (devpi-server, pypiserver) gains nothing from that: every upload in flight
only queues behind the others, and eight at once were measured slower than two.

So a release starts with **one** upload, and how soon it is answered says how far the
index is (a near index that refuses the credentials or the metadata stops the release
with one request sent, not eight):

- no answer within :data:`FAR` seconds (a remote index: PyPI answers in hundreds of
  milliseconds) opens all ``jobs`` lanes at once, without waiting for it;
- otherwise the lanes double (1, 2, 4, 8, ...) as long as each step raises the
  throughput (bytes uploaded per second, over :data:`WINDOW` uploads per lane) by at
  least :data:`GAIN`; the first step that does not settles the width, one step back
  only if it made things clearly slower (below :data:`LOSS` of the step before).

Only successful uploads teach it; a failed attempt keeps its lane until the engine has
decided to retry or to stop, so no waiting upload starts on the heels of a refusal.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["FAR", "GAIN", "LOSS", "WINDOW", "Pace"]

_logger = logging.getLogger(__name__)

#: No answer to the first upload within this many seconds means a remote index: latency,
#: not the index's CPU, bounds the release, so every lane opens then (a release to PyPI
#: pays this once).
FAR = 0.05
#: A doubling of the lanes stays only if it raises the throughput by at least this factor.
GAIN = 1.25
#: A width is judged on this many uploads per lane: one upload's time on a near index
#: varies by more than the gain looked for.
WINDOW = 2
#: Back a step only when the wider lanes were clearly slower; merely no faster keeps them.
LOSS = 0.8


class Pace:
    """Lanes for uploads in flight; thread-safe. ``enter`` waits for a lane, ``leave`` frees it.

    ``stopped`` is checked while waiting: once the release stops, ``enter`` returns
    False instead of admitting another upload.
    """

    def __init__(self, limit: int, *, stopped: threading.Event, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = max(1, limit)
        self.width = 1
        self._settled = self.limit == 1
        self._stopped = stopped
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._window_start = clock()
        self._window_done = 0
        self._window_bytes = 0
        self._rate: float | None = None
        self._first_began: float | None = None
        self._near = False  # the first upload was answered within FAR
        self._queue: collections.deque[object] = collections.deque()

    def enter(self) -> bool:
        """Wait for a free lane; False (and no lane) once the release has stopped.

        Lanes go first come, first served: an upload that failed and comes back for its
        retry queues behind the ones already waiting, so a burst of refusals is spread
        over the files instead of using up one file's attempts.
        """
        with self._cond:
            me = object()
            self._queue.append(me)
            try:
                while not self._stopped.is_set() and (self._in_flight >= self.width or self._queue[0] is not me):
                    if self._in_flight >= self.width and self._first_began is not None and not self._near \
                            and not self._settled:
                        left = self._first_began + FAR - self._clock()
                        if left <= 0:
                            self._settle(self.limit)  # the first upload is still out: a far index
                            continue
                        self._cond.wait(left)
                    else:
                        self._cond.wait(0.5)
                if self._stopped.is_set():
                    return False
                if self._first_began is None:
                    self._first_began = self._clock()
                self._in_flight += 1
                return True
            finally:
                self._queue.remove(me)
                self._cond.notify_all()  # the next in the queue; the others now wait with the first upload's deadline

    def leave(self, *, uploaded: int | None, seconds: float) -> None:
        """Free a lane. ``uploaded`` is the file's size when the attempt succeeded, else None."""
        with self._cond:
            self._in_flight -= 1
            if uploaded is not None and not self._settled:
                self._learn(uploaded, seconds)
            self._cond.notify_all()

    def stop(self) -> None:
        """Wake every waiting upload (the release stopped: they return without a lane)."""
        with self._cond:
            self._cond.notify_all()

    def _learn(self, size: int, seconds: float) -> None:
        if not self._near:
            if seconds >= FAR:
                self._settle(self.limit)  # answered, but late: a far index all the same
                return
            self._near = True
        self._window_done += 1
        self._window_bytes += size
        if self._window_done < WINDOW * self.width:
            return
        now = self._clock()
        rate = self._window_bytes / max(now - self._window_start, 1e-6)
        if self._rate is not None and rate < self._rate * GAIN:
            # This width did not pay: keep it unless it was clearly slower, then go back a step.
            self._settle(self.width if rate >= self._rate * LOSS else max(1, self.width // 2))
            return
        self._rate = rate
        if self.width * 2 >= self.limit:
            self._settle(self.limit)
            return
        self.width *= 2
        _logger.debug("uploads in flight: %d, throughput %.0f KiB/s", self.width, rate / 1024)
        self._window_start, self._window_done, self._window_bytes = now, 0, 0

    def _settle(self, width: int) -> None:
        self.width = width
        self._settled = True
        _logger.info("uploads in flight: %d (of --jobs %d)", width, self.limit)
