"""Where the upload benchmarks send releases: real pypiserver and devpi-server, the local
index (optionally answering like PyPI, 300 ms per upload), and a discard-everything sink.

A :class:`Target` is made fresh before every run (pypiserver emptied, a new devpi
index, a new local index, or the stateless sink), so every tool uploads to an index
that holds nothing, and ``count()`` after the run says how many files it really holds.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from _harness import HERE, ROOT, loopback


@dataclass
class Target:
    """An index for one run: URLs and credentials, refreshed by ``fresh()``."""

    name: str
    upload_url: str
    username: str
    password: str
    fresh: Callable[[Target], None] = lambda t: None
    #: Files the index holds now, or ``None`` when it cannot tell (the sink).
    count: Callable[[Target], int | None] = lambda t: None

    def check(self, expected: int) -> str | None:
        held = self.count(self)
        return None if held is None or held == expected else f"{self.name} holds {held} of {expected} files"


def _servers() -> object:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import tests.servers as servers

    return servers


@contextlib.contextmanager
def pypiserver_target(work: Path) -> Iterator[Target]:
    servers = _servers()
    with servers.pypiserver(work / "pypiserver") as index:  # type: ignore[attr-defined]
        def count(target: Target) -> int:
            return len(list(index.packages_dir.iterdir()))

        yield Target(
            "pypiserver", loopback(index.upload_url), index.username, index.password,
            fresh=lambda t: servers.reset_pypiserver(index), count=count,  # type: ignore[attr-defined]
        )  # fmt: skip


@contextlib.contextmanager
def devpi_target(work: Path) -> Iterator[Target]:
    servers = _servers()
    names = (f"b{n}" for n in itertools.count())
    with servers.devpi(work / "devpi") as session:  # type: ignore[attr-defined]
        current: list[object] = []

        def fresh(target: Target) -> None:
            index = servers.create_devpi_index(session, next(names))  # type: ignore[attr-defined]
            current[:] = [index]
            target.upload_url = loopback(index.upload_url)

        def count(target: Target) -> int:
            import urllib.request

            url = f"{target.upload_url}+simple/benchpkg/"
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "text/html"}), timeout=30) as r:
                    page = r.read().decode()
            except OSError:
                return 0
            return page.count("<a ")

        yield Target("devpi", "", session.username, session.password, fresh=fresh, count=count)


@contextlib.contextmanager
def local_index_target(work: Path, delay: float, project: str) -> Iterator[Target]:
    if str(ROOT / "src") not in sys.path:
        sys.path.insert(0, str(ROOT / "src"))
    from trustpub.local.index import LocalIndex

    counter = itertools.count()
    current: list[LocalIndex] = []

    def fresh(target: Target) -> None:
        for old in current:
            old.stop()
        current.clear()
        index = LocalIndex(work / f"local-{next(counter)}", upload_delay=delay).start()
        current.append(index)
        target.upload_url = loopback(index.upload_url)
        target.password = index.add_api_token(project)

    def count(target: Target) -> int:
        return len(current[0].files(project))

    target = Target(f"local index (+{delay * 1000:.0f} ms/upload)", "", "__token__", "", fresh=fresh, count=count)
    try:
        yield target
    finally:
        for old in current:
            old.stop()


@contextlib.contextmanager
def sink_target() -> Iterator[Target]:
    """The sink runs in its own process (bench/_sink.py): it reads and drops every body."""
    proc = subprocess.Popen([sys.executable, str(HERE / "_sink.py")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield Target("sink", loopback(f"http://127.0.0.1:{port}/legacy/"), "bench", "benchpw")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
