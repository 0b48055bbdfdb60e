"""Upload lanes (trustpub.upload.pace): one upload first, then as many as pay off."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.distfactory import make_sdist, make_wheel
from trustpub.dists import Distribution, inspect
from trustpub.local.index import LocalIndex
from trustpub.secrets import Secret
from trustpub.transport import Transport
from trustpub.upload._types import UploadRejected, UploadRequest
from trustpub.upload.engine import UploadEngine
from trustpub.upload.native import NativeUploader
from trustpub.upload.pace import FAR, WINDOW, Pace
from trustpub.upload.simple import SimpleIndex


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _run_window(pace: Pace, clock: Clock, seconds: float, size: int = 1000) -> None:
    """One window: WINDOW rounds in which every lane is filled and all finish after ``seconds``."""
    width = pace.width
    for _ in range(WINDOW):
        for _ in range(width):
            assert pace.enter()
        clock.now += seconds
        for _ in range(width):
            pace.leave(uploaded=size, seconds=seconds / width)


def test_lanes_double_while_throughput_grows_up_to_the_limit() -> None:
    clock = Clock()
    pace = Pace(8, stopped=threading.Event(), clock=clock)
    widths = []
    for _ in range(4):
        widths.append(pace.width)
        _run_window(pace, clock, 0.010)  # the same time for twice the uploads: twice the throughput
    assert widths == [1, 2, 4, 8]
    assert pace.width == 8


def test_an_index_that_serialises_settles_where_more_lanes_stop_paying() -> None:
    clock = Clock()
    pace = Pace(8, stopped=threading.Event(), clock=clock)
    _run_window(pace, clock, 0.010)  # 1 lane: 100 uploads/s
    assert pace.width == 2
    _run_window(pace, clock, 0.016)  # 2 lanes: 125/s, +25%: worth it
    assert pace.width == 4
    _run_window(pace, clock, 0.030)  # 4 lanes: 133/s, +7%: not worth it, kept (no worse)
    assert pace.width == 4
    _run_window(pace, clock, 0.100)  # settled: nothing more changes it
    assert pace.width == 4


def test_more_lanes_that_slow_the_index_down_go_back_a_step() -> None:
    clock = Clock()
    pace = Pace(8, stopped=threading.Event(), clock=clock)
    _run_window(pace, clock, 0.010)
    _run_window(pace, clock, 0.030)  # 2 lanes: 67/s, clearly slower than one lane
    assert pace.width == 1


def test_more_lanes_that_are_merely_no_faster_are_kept() -> None:
    clock = Clock()
    pace = Pace(8, stopped=threading.Event(), clock=clock)
    _run_window(pace, clock, 0.010)
    _run_window(pace, clock, 0.022)  # 2 lanes: 91/s, within the noise of one lane's 100/s
    assert pace.width == 2


def test_a_first_upload_answered_late_opens_every_lane() -> None:
    clock = Clock()
    pace = Pace(6, stopped=threading.Event(), clock=clock)
    assert pace.enter()
    clock.now += FAR * 4
    pace.leave(uploaded=1000, seconds=FAR * 4)
    assert pace.width == 6


def test_no_answer_within_far_opens_every_lane_without_waiting_for_it() -> None:
    pace = Pace(4, stopped=threading.Event())
    assert pace.enter()  # the first upload, still out
    entered: list[float] = []
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: entered.append(time.monotonic()) if pace.enter() else None) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(entered) == 3, "the other lanes opened while the first upload was still out"
    assert all(FAR * 0.9 <= t - started < FAR + 1.0 for t in entered)
    assert pace.width == 4


def test_a_near_index_gets_one_upload_at_a_time_until_it_answers() -> None:
    pace = Pace(4, stopped=threading.Event())
    assert pace.enter()
    second = threading.Event()
    thread = threading.Thread(target=lambda: pace.enter() and second.set())
    thread.start()
    assert not second.wait(FAR / 2), "a second upload started before the first was answered"
    pace.leave(uploaded=1000, seconds=0.001)  # answered at once: a near index
    assert second.wait(5)
    thread.join(5)


def test_a_stopped_release_admits_no_waiting_upload() -> None:
    stopped = threading.Event()
    pace = Pace(4, stopped=stopped)
    for _ in range(WINDOW):  # near: the next window is two lanes
        assert pace.enter()
        pace.leave(uploaded=1000, seconds=0.001)
    assert pace.width == 2
    assert pace.enter() and pace.enter()
    results: list[bool] = []
    waiting = threading.Thread(target=lambda: results.append(pace.enter()))
    waiting.start()
    time.sleep(0.05)
    stopped.set()
    pace.leave(uploaded=None, seconds=0.001)
    pace.stop()
    waiting.join(5)
    assert results == [False]


# --- the engine with a real index on 127.0.0.1 -----------------------------------------


class _Refusing(BaseHTTPRequestHandler):
    """A near index that refuses every upload at once (as PyPI does with a bad token)."""

    protocol_version = "HTTP/1.1"
    posts: ClassVar[list[str]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.lock:
            self.posts.append(self.path)
        body = b"403 Invalid or non-existent authentication information."
        self.send_response(403, "Invalid or non-existent authentication information.")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_index() -> Iterator[ThreadingHTTPServer]:
    _Refusing.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _release(tmp_path: Path, wheels: int) -> list[Distribution]:
    paths = [make_wheel(tmp_path, tag=f"cp3{10 + i}-cp3{10 + i}-manylinux_2_17_x86_64") for i in range(wheels)]
    return [inspect(p) for p in [make_sdist(tmp_path), *paths]]


def test_a_near_index_that_refuses_the_credentials_gets_one_request_not_eight(
    refusing_index: ThreadingHTTPServer, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{refusing_index.server_address[1]}/legacy/"
    dists = _release(tmp_path, 8)

    def request_for(dist: Distribution) -> UploadRequest:
        return UploadRequest(dist.path, dist.filename, dist.sha256, dist.blake2_256, dist.size, url, "__token__",
                             Secret("pypi-not-a-real-token"))  # fmt: skip

    engine = UploadEngine(NativeUploader(Transport()), lookup=None, jobs=8, sleep=lambda s: None)
    with pytest.raises(UploadRejected, match="403"):
        engine.upload(dists, request_for)
    assert len(_Refusing.posts) == 1
    assert len(engine.failures) == 1


def test_lanes_are_never_over_taken_and_every_waiter_returns_when_the_release_stops() -> None:
    """Many threads, successes and failures, a stop half-way: no more than ``width`` in flight, no waiter left behind."""
    stopped = threading.Event()
    pace = Pace(6, stopped=stopped)
    lock = threading.Lock()
    state = {"in": 0, "max_over": 0, "done": 0}

    def worker(n: int) -> None:
        for i in range(20):
            if not pace.enter():
                return
            with lock:
                state["in"] += 1
                state["max_over"] = max(state["max_over"], state["in"] - pace.width)
            time.sleep(0.002)
            with lock:
                state["in"] -= 1
                state["done"] += 1
                if state["done"] == 60:
                    stopped.set()
            pace.leave(uploaded=1000 if (i + n) % 3 else None, seconds=0.002)
            if stopped.is_set():
                pace.stop()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert not any(t.is_alive() for t in threads), "a thread waits for a lane forever"
    assert state["max_over"] <= 0
    assert pace._in_flight == 0
    assert not pace.enter()


# --- the engine and a local index (trustpub.local.index) --------------------------------


@pytest.fixture
def local_index(tmp_path: Path) -> Iterator[LocalIndex]:
    index = LocalIndex(tmp_path / "index").start()
    try:
        yield index
    finally:
        index.stop()


def _publish(index: LocalIndex, dists: list[Distribution], jobs: int) -> tuple[UploadEngine, float]:
    token = Secret(index.add_api_token("demo-pkg"))
    transport = Transport()

    def request_for(dist: Distribution) -> UploadRequest:
        return UploadRequest(dist.path, dist.filename, dist.sha256, dist.blake2_256, dist.size, index.upload_url,
                             "__token__", token)  # fmt: skip

    engine = UploadEngine(NativeUploader(transport), lookup=SimpleIndex(transport, index.simple_url), jobs=jobs,
                          sleep=lambda s: None)  # fmt: skip
    started = time.monotonic()
    results = engine.upload(dists, request_for)
    assert all(r.outcome == "uploaded" for r in results)
    return engine, time.monotonic() - started


def test_a_far_index_takes_its_rounds_plus_at_most_far_not_a_round_more(local_index: LocalIndex, tmp_path: Path) -> None:
    """300 ms per upload (PyPI-like): 8 wheels over 4 lanes are 2 rounds, the sdist 1 more; the
    probe costs FAR, not a round; every lane opens and stays open."""
    delay = 0.3
    local_index.upload_delay = delay
    dists = _release(tmp_path, 8)
    engine, took = _publish(local_index, dists, jobs=4)
    rounds = math.ceil(8 / 4) + 1
    assert rounds * delay <= took < rounds * delay + FAR + delay * 0.8, f"{took:.3f} s for {rounds} rounds"
    assert engine._pace.width == 4
    assert sorted(local_index.stored_log) == sorted(d.filename for d in dists)


def test_a_retry_storm_on_a_near_index_ends_with_every_file_once(local_index: LocalIndex, tmp_path: Path) -> None:
    local_index.fail_next_uploads(6, status=503, retry_after=0)
    local_index.reset_next_uploads(2)
    dists = _release(tmp_path, 8)
    _publish(local_index, dists, jobs=4)
    assert sorted(local_index.stored_log) == sorted(d.filename for d in dists), "a file missing or stored twice"
    assert sorted(local_index.files("demo-pkg")) == sorted(d.filename for d in dists)
