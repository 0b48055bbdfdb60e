"""What a release run shows while it uploads: bars on a terminal, lines in CI logs, or nothing.

    >>> progress = progress_for(quiet=args.quiet)                            # doctest: +SKIP
    >>> engine = UploadEngine(NativeUploader(transport), lookup=lookup, progress=progress)  # doctest: +SKIP
    >>> engine.upload(dists, request_for)                                    # doctest: +SKIP

The engine drives an :class:`UploadProgress`: :meth:`~UploadProgress.begin` with the
files it is about to send, :meth:`~UploadProgress.attempt` before each try (a retry
starts the file's byte count again), :meth:`~UploadProgress.sent` as bytes stream
(the native uploader reports them as each chunk has gone to the socket),
:meth:`~UploadProgress.retrying`, :meth:`~UploadProgress.finished` with each outcome,
and :meth:`~UploadProgress.end` whatever happened. Calls come from the upload
threads, so every implementation here is thread-safe.

:func:`progress_for` picks one, and why:

- ``quiet``: :class:`NullProgress`; the caller still gets every :class:`UploadResult`.
- not a terminal, ``CI`` set, or ``TERM=dumb``: :class:`PlainProgress`, one line per
  event. CI logs are files: redrawn bars become thousands of lines or nothing at all,
  and a job killed mid-release must leave a log that says which files went up.
  Large transfers get a line every :data:`PLAIN_INTERVAL` seconds, so a slow upload
  never looks like a hang (the classic "twine hangs in CI" report).
- otherwise :class:`RichProgress`: a bar per file in flight and one for the total.
  ``rich`` is imported only when such a display is created, so a CI run, a quiet
  run and ``import trustpub.upload.engine`` never pay for it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO

from trustpub.text import printable
from trustpub.upload._types import UploadResult

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "PLAIN_INTERVAL",
    "NullProgress",
    "PlainProgress",
    "ProgressMode",
    "RichProgress",
    "UploadProgress",
    "format_bytes",
    "progress_for",
]

ProgressMode = Literal["auto", "rich", "plain", "quiet"]

#: Seconds between two "still sending" lines for one file in plain output.
PLAIN_INTERVAL = 10.0
#: Files at least this large get a line when they start in plain output.
PLAIN_ANNOUNCE = 16 * 1024 * 1024


class UploadProgress(Protocol):
    """Receives the events of one run; see the module docstring for the order."""

    def begin(self, files: Sequence[tuple[str, int]]) -> None:
        """The run starts; ``files`` are (filename, size) of everything that will be sent."""
        ...

    def attempt(self, filename: str, size: int, attempt: int) -> None:
        """Attempt number ``attempt`` (1-based) of ``filename`` starts; its byte count restarts."""
        ...

    def sent(self, filename: str, nbytes: int) -> None:
        """``nbytes`` more bytes of ``filename`` went out."""
        ...

    def retrying(self, filename: str, attempt: int, reason: str, delay: float) -> None:
        """Attempt ``attempt`` failed with ``reason``; the next starts in ``delay`` seconds."""
        ...

    def finished(self, result: UploadResult) -> None:
        """``result.filename`` is done (uploaded, already present or skipped)."""
        ...

    def end(self) -> None:
        """The run is over, successfully or not; release the display."""
        ...


def format_bytes(size: float) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as PyPI states its limits)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


class NullProgress:
    """Shows nothing (``--quiet``, and the default when no display is given)."""

    def begin(self, files: Sequence[tuple[str, int]]) -> None:
        pass

    def attempt(self, filename: str, size: int, attempt: int) -> None:
        pass

    def sent(self, filename: str, nbytes: int) -> None:
        pass

    def retrying(self, filename: str, attempt: int, reason: str, delay: float) -> None:
        pass

    def finished(self, result: UploadResult) -> None:
        pass

    def end(self) -> None:
        pass


class _Tally:
    """Bytes and timings per file, shared by the displays (callers hold the lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sizes: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.outcomes: dict[str, int] = {}
        self.finished: set[str] = set()
        self.began = time.monotonic()

    def begin(self, files: Sequence[tuple[str, int]]) -> None:
        self.sizes = dict(files)
        self.done = dict.fromkeys(self.sizes, 0)
        self.began = time.monotonic()

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    @property
    def sent(self) -> int:
        return sum(self.done.values())


class PlainProgress:
    """One line per event, for logs: no cursor movement, no colour, flushed at once."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = PLAIN_INTERVAL) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._tally = _Tally()
        self._last_line: dict[str, float] = {}

    def _write(self, line: str) -> None:
        # Filenames and server reasons are outside text: one inert line each.
        self.stream.write(printable(line) + "\n")
        self.stream.flush()

    def begin(self, files: Sequence[tuple[str, int]]) -> None:
        with self._tally.lock:
            self._tally.begin(files)
            if files:
                self._write(f"uploading {len(files)} file{'s' * (len(files) != 1)} ({format_bytes(self._tally.total)})")

    def attempt(self, filename: str, size: int, attempt: int) -> None:
        with self._tally.lock:
            now = time.monotonic()
            self._tally.done[filename] = 0
            self._tally.started.setdefault(filename, now)
            self._last_line[filename] = now
            if attempt == 1 and size >= PLAIN_ANNOUNCE:
                self._write(f"sending {filename} ({format_bytes(size)})")

    def sent(self, filename: str, nbytes: int) -> None:
        with self._tally.lock:
            done = self._tally.done.get(filename, 0) + nbytes
            self._tally.done[filename] = done
            now = time.monotonic()
            if now - self._last_line.get(filename, now) >= self.interval:
                self._last_line[filename] = now
                size = self._tally.sizes.get(filename) or done or 1
                self._write(
                    f"sending {filename}: {format_bytes(done)} of {format_bytes(size)} ({100 * done // size}%)"
                )

    def retrying(self, filename: str, attempt: int, reason: str, delay: float) -> None:
        with self._tally.lock:
            self._write(f"{filename}: attempt {attempt} failed ({reason}); retrying in {delay:.1f} s")

    def finished(self, result: UploadResult) -> None:
        with self._tally.lock:
            tally = self._tally
            tally.outcomes[result.outcome] = tally.outcomes.get(result.outcome, 0) + 1
            tally.finished.add(result.filename)
            if result.outcome == "uploaded":
                size = tally.sizes.get(result.filename, 0)
                tally.done[result.filename] = size
                took = time.monotonic() - tally.started.get(result.filename, tally.began)
                self._write(f"uploaded {result.filename} ({format_bytes(size)} in {took:.2f} s)")
            elif result.outcome == "already-present":
                self._write(f"already on the index: {result.filename} (identical, not sent)")
            else:
                self._write(f"{result.outcome}: {result.filename}{f' ({result.message})' if result.message else ''}")

    def end(self) -> None:
        with self._tally.lock:
            tally = self._tally
            missing = [name for name in tally.sizes if name not in tally.finished]
            if not tally.outcomes and not missing:
                return
            counts = [f"{n} {outcome.replace('-', ' ')}" for outcome, n in sorted(tally.outcomes.items())]
            took = time.monotonic() - tally.began
            # A run that stopped early must not end its log with "done".
            word = "stopped" if missing else "done"
            if missing:
                counts.append(f"{len(missing)} not uploaded")
            self._write(f"{word}: {', '.join(counts)}; {format_bytes(tally.sent)} sent in {took:.2f} s")


class RichProgress:
    """Live bars on a terminal: one per file in flight, one for all bytes.

    Finished files leave the live area and are printed above it, so forty wheels
    do not mean forty bars. ``console`` is a ``rich.console.Console`` (tests pass one
    writing to a buffer); by default one on ``stream`` (standard error).
    """

    def __init__(self, stream: TextIO | None = None, *, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.console = console if console is not None else Console(file=stream if stream is not None else sys.stderr)
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._tally = _Tally()
        self._tasks: dict[str, Any] = {}
        self._total: Any = None

    def begin(self, files: Sequence[tuple[str, int]]) -> None:
        with self._tally.lock:
            self._tally.begin(files)
            if not files:
                return
            self._total = self._progress.add_task(
                f"{len(files)} file{'s' * (len(files) != 1)}", total=self._tally.total
            )
            self._progress.start()

    def attempt(self, filename: str, size: int, attempt: int) -> None:
        with self._tally.lock:
            already = self._tally.done.get(filename, 0)
            self._tally.done[filename] = 0
            self._tally.started.setdefault(filename, time.monotonic())
            if self._total is not None and already:
                self._progress.advance(self._total, -already)
            task = self._tasks.get(filename)
            if task is None:
                self._tasks[filename] = self._progress.add_task(printable(filename), total=size)
            else:
                self._progress.reset(task, total=size)

    def sent(self, filename: str, nbytes: int) -> None:
        with self._tally.lock:
            self._tally.done[filename] = self._tally.done.get(filename, 0) + nbytes
            task = self._tasks.get(filename)
        if task is not None:
            self._progress.advance(task, nbytes)
        if self._total is not None:
            self._progress.advance(self._total, nbytes)

    def retrying(self, filename: str, attempt: int, reason: str, delay: float) -> None:
        self._print(f"{filename}: attempt {attempt} failed ({reason}); retrying in {delay:.1f} s")

    def finished(self, result: UploadResult) -> None:
        with self._tally.lock:
            self._tally.outcomes[result.outcome] = self._tally.outcomes.get(result.outcome, 0) + 1
            task = self._tasks.pop(result.filename, None)
        if task is not None:
            self._progress.remove_task(task)
        if result.outcome == "uploaded":
            line = f"uploaded {result.filename}"
        elif result.outcome == "already-present":
            line = f"already on the index: {result.filename} (identical, not sent)"
        else:
            line = f"{result.outcome}: {result.filename}"
        self._print(line)

    def _print(self, line: str) -> None:
        # soft_wrap: a long wheel name stays one line (the terminal wraps it), so it can be copied whole.
        self.console.print(printable(line), markup=False, highlight=False, soft_wrap=True)

    def end(self) -> None:
        self._progress.stop()


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def progress_for(
    mode: ProgressMode = "auto",
    *,
    quiet: bool = False,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> UploadProgress:
    """The display for this run (see the module docstring for the rules)."""
    if quiet or mode == "quiet":
        return NullProgress()
    stream = stream if stream is not None else sys.stderr
    if mode == "plain":
        return PlainProgress(stream)
    if mode == "rich":
        return RichProgress(stream)
    env = os.environ if environ is None else environ
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    if not is_tty or _truthy(env.get("CI")) or env.get("TERM") == "dumb":
        return PlainProgress(stream)
    return RichProgress(stream)
