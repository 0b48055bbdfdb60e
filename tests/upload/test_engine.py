"""The engine's guarantees: order, parallelism bound, retries, idempotency by hash, conflicts."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from tests.distfactory import make_sdist, make_wheel
from trustpub.dists import Distribution, inspect
from trustpub.errors import TrustpubError
from trustpub.secrets import Secret
from trustpub.upload import pace
from trustpub.upload._types import UploadRejected, UploadRequest, UploadResult
from trustpub.upload.engine import FileConflict, RetryPolicy, UploadEngine


class FakeIndex:
    """An index as the engine sees it: a name -> sha256 table, plus a scripted failure list."""

    def __init__(self) -> None:
        self.stored: dict[str, str] = {}
        self.failures: dict[str, list[UploadRejected]] = {}
        self.land_then_fail: set[str] = set()
        self.delays: dict[str, list[float]] = {}  # per file, per call: how long the answer takes
        self.calls: list[str] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def files(self, project: str, *, refresh: bool = False) -> dict[str, str]:
        return dict(self.stored)

    def upload(self, request: UploadRequest) -> UploadResult:
        with self.lock:
            self.calls.append(request.filename)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            delays = self.delays.get(request.filename)
            threading.Event().wait(delays.pop(0) if delays else 0.02)
            queue = self.failures.get(request.filename)
            if queue:
                raise queue.pop(0)
            if request.filename in self.stored and self.stored[request.filename] != request.sha256:
                raise UploadRejected(request.filename, "400 File already exists", status=400)
            self.stored[request.filename] = request.sha256
            if request.filename in self.land_then_fail:
                self.land_then_fail.discard(request.filename)
                raise UploadRejected(request.filename, "connection reset", retryable=True)
            return UploadResult(request.filename, "uploaded", 200)
        finally:
            with self.lock:
                self.active -= 1


def _release(tmp_path: Path, n: int = 6) -> list[Distribution]:
    wheels = [make_wheel(tmp_path, tag=f"cp3{10 + i}-cp3{10 + i}-manylinux_2_17_x86_64") for i in range(n)]
    return [inspect(p) for p in [make_sdist(tmp_path), *wheels]]


def _req(dist: Distribution) -> UploadRequest:
    return UploadRequest(dist.path, dist.filename, dist.sha256, dist.blake2_256, dist.size, "http://127.0.0.1:1/legacy/", "__token__", Secret("pypi-x"))


def _engine(index: FakeIndex, **kwargs: object) -> UploadEngine:
    return UploadEngine(index, lookup=index, sleep=lambda s: None, **kwargs)  # type: ignore[arg-type]


def test_wheels_first_sdist_last_and_bounded_parallelism(tmp_path: Path) -> None:
    index = FakeIndex()
    dists = _release(tmp_path)
    results = _engine(index, jobs=3).upload(dists, _req)
    assert [r.filename for r in results][-1].endswith(".tar.gz")
    assert index.calls[-1].endswith(".tar.gz")
    assert all(r.outcome == "uploaded" for r in results)
    assert 1 < index.max_active <= 3


def test_rerun_uploads_only_what_is_missing(tmp_path: Path) -> None:
    index = FakeIndex()
    dists = _release(tmp_path)
    for d in dists[1:4]:
        index.stored[d.filename] = d.sha256
    results = _engine(index).upload(dists, _req)
    assert sorted(index.calls) == sorted(d.filename for d in dists if d.filename not in {x.filename for x in dists[1:4]})
    assert {r.filename: r.outcome for r in results}[dists[1].filename] == "already-present"


def test_conflicting_existing_file_stops_before_any_upload(tmp_path: Path) -> None:
    index = FakeIndex()
    dists = _release(tmp_path)
    index.stored[dists[2].filename] = "0" * 64
    with pytest.raises(FileConflict, match="different file with this name"):
        _engine(index).upload(dists, _req)
    assert index.calls == []


def test_retries_transient_failures_then_succeeds(tmp_path: Path) -> None:
    index = FakeIndex()
    dists = _release(tmp_path, 1)
    wheel = next(d for d in dists if d.is_wheel)
    index.failures[wheel.filename] = [
        UploadRejected(wheel.filename, "503 Service Unavailable", status=503, retryable=True),
        UploadRejected(wheel.filename, "429 Too Many Requests", status=429, retryable=True, retry_after=1.0),
    ]
    results = _engine(index).upload(dists, _req)
    assert index.calls.count(wheel.filename) == 3
    assert all(r.outcome == "uploaded" for r in results)


def test_final_4xx_is_not_retried_and_sdist_is_not_sent(tmp_path: Path) -> None:
    index = FakeIndex()
    dists = _release(tmp_path, 2)
    wheel = next(d for d in dists if d.is_wheel)
    index.failures[wheel.filename] = [UploadRejected(wheel.filename, "400 Invalid distribution file.", status=400)]
    with pytest.raises(UploadRejected, match="Invalid distribution"):
        _engine(index).upload(dists, _req)
    assert index.calls.count(wheel.filename) == 1
    assert not any(c.endswith(".tar.gz") for c in index.calls)


def test_retries_are_bounded(tmp_path: Path) -> None:
    index = FakeIndex()
    dists = _release(tmp_path, 1)
    wheel = next(d for d in dists if d.is_wheel)
    index.failures[wheel.filename] = [UploadRejected(wheel.filename, "502", status=502, retryable=True) for _ in range(10)]
    with pytest.raises(UploadRejected):
        _engine(index, retry=RetryPolicy(attempts=3)).upload(dists, _req)
    assert index.calls.count(wheel.filename) == 3


def test_failure_after_landing_counts_as_uploaded(tmp_path: Path) -> None:
    index = FakeIndex()
    dists = _release(tmp_path, 1)
    wheel = next(d for d in dists if d.is_wheel)
    index.land_then_fail.add(wheel.filename)
    results = _engine(index).upload(dists, _req)
    assert index.calls.count(wheel.filename) == 1
    assert {r.filename: r.outcome for r in results}[wheel.filename] == "uploaded"


def test_backoff_grows_and_honours_retry_after() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0)
    assert policy.delay(1, 3.0) == 3.0
    assert all(0 <= policy.delay(5, None) <= 8.0 for _ in range(50))
    assert policy.delay(2, 100.0) == 8.0


# --- lanes (trustpub.upload.pace) and the ways out of an attempt ---------------------------


@pytest.fixture
def one_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    """No far-index deadline: the first upload holds the only lane until it is decided."""
    monkeypatch.setattr(pace, "FAR", 5.0)


@pytest.mark.parametrize("error", [TrustpubError("could not mint a token"), KeyboardInterrupt()], ids=["mint", "ctrl-c"])
def test_request_for_failing_stops_the_release(tmp_path: Path, error: BaseException) -> None:
    index = FakeIndex()
    dists = _release(tmp_path, 6)
    first = next(d for d in dists if d.is_wheel)

    def request_for(dist: Distribution) -> UploadRequest:
        if dist.filename == first.filename:
            raise error
        return _req(dist)

    with pytest.raises(type(error)):
        _engine(index, jobs=4).upload(dists, request_for)
    assert len(index.calls) <= 2, f"the release went on after request_for failed: {index.calls}"
    assert not any(c.endswith(".tar.gz") for c in index.calls)


def test_a_journal_error_after_a_landed_failure_stops_before_the_lane_frees(tmp_path: Path, one_lane: None) -> None:
    index = FakeIndex()
    dists = _release(tmp_path, 6)
    first = next(d for d in dists if d.is_wheel)
    index.land_then_fail.add(first.filename)

    def journal(filename: str, result: UploadResult) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        _engine(index, jobs=4, on_result=journal).upload(dists, _req)
    assert index.calls == [first.filename], "a waiting wheel started after the release failed"


def test_ctrl_c_while_waiting_for_the_wheels_starts_no_more_uploads(
    tmp_path: Path, one_lane: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = FakeIndex()
    dists = _release(tmp_path, 6)
    wait = Future.result
    interrupted: list[bool] = []

    def result(self: Future[UploadResult], timeout: float | None = None) -> UploadResult:
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt  # what SIGINT does to the main thread waiting here
        return wait(self, timeout)

    monkeypatch.setattr(Future, "result", result)
    with pytest.raises(KeyboardInterrupt):
        _engine(index, jobs=4).upload(dists, _req)
    assert len(index.calls) == 1, f"uploads went on after Ctrl-C: {index.calls}"


def test_a_file_waiting_to_retry_when_the_release_stops_is_reported_failed(tmp_path: Path) -> None:
    index = FakeIndex()
    dists = _release(tmp_path, 2)
    for wheel in (d for d in dists if d.is_wheel):
        index.failures[wheel.filename] = [UploadRejected(wheel.filename, "400 Invalid distribution file.", status=400)]
    retried = next(d for d in dists if d.is_wheel)
    index.failures[retried.filename] = [UploadRejected(retried.filename, "503 Service Unavailable", status=503, retryable=True)]
    # The 503 answers first and backs off 0.3 s holding its lane; the other wheel fails for good meanwhile.
    engine = UploadEngine(index, lookup=index, jobs=2, sleep=lambda s: time.sleep(0.3))  # type: ignore[arg-type]
    with pytest.raises(UploadRejected, match="Invalid distribution"):
        engine.upload(dists, _req)
    assert index.calls.count(retried.filename) == 1
    assert set(engine.failures) == {d.filename for d in dists if d.is_wheel}
    assert "503 Service Unavailable; not retried" in engine.failures[retried.filename]


def test_the_wait_for_a_lane_is_not_spent_from_the_retry_budget(tmp_path: Path, one_lane: None) -> None:
    index = FakeIndex()
    dists = _release(tmp_path, 2)
    for wheel in (d for d in dists if d.is_wheel):
        index.delays[wheel.filename] = [0.3]
        index.failures[wheel.filename] = [UploadRejected(wheel.filename, "503", status=503, retryable=True)]
    # One lane: the second wheel waits 0.3 s for it, then takes 0.3 s to fail; 0.6 s > total, 0.3 s < total.
    results = _engine(index, jobs=2, retry=RetryPolicy(total=0.5)).upload(dists, _req)
    assert all(r.outcome == "uploaded" for r in results)


def test_every_lane_is_given_back(tmp_path: Path) -> None:
    """Successes, retries, landed failures and one final refusal: no lane stays taken."""
    index = FakeIndex()
    dists = _release(tmp_path, 8)
    wheels = [d for d in dists if d.is_wheel]
    index.failures[wheels[1].filename] = [UploadRejected(wheels[1].filename, "502", status=502, retryable=True)] * 2
    index.land_then_fail.add(wheels[2].filename)
    engine = _engine(index, jobs=4)
    results = engine.upload(dists, _req)
    assert all(r.outcome == "uploaded" for r in results)
    assert engine._pace._in_flight == 0
    index.failures[wheels[3].filename] = [UploadRejected(wheels[3].filename, "400 bad", status=400)]
    index.stored.clear()
    engine = _engine(index, jobs=4)
    with pytest.raises(UploadRejected):
        engine.upload(dists, _req)
    assert engine._pace._in_flight == 0


def test_credentials_are_fetched_when_the_upload_starts_not_while_it_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large file waits for the large file before it (minutes on a slow link): its token is
    asked for after that wait, so a re-mint near expiry happens when it is needed."""
    import trustpub.upload.engine as engine_module

    monkeypatch.setattr(engine_module, "LARGE_FILE", 1)  # every file is "large": one at a time
    index = FakeIndex()
    dists = _release(tmp_path, 3)
    asked: dict[str, float] = {}
    ended: dict[str, float] = {}
    upload = index.upload

    def timed_upload(request: UploadRequest) -> UploadResult:
        try:
            return upload(request)
        finally:
            ended[request.filename] = time.monotonic()

    index.upload = timed_upload  # type: ignore[method-assign]

    def request_for(dist: Distribution) -> UploadRequest:
        asked[dist.filename] = time.monotonic()
        return _req(dist)

    _engine(index, jobs=3).upload(dists, request_for)
    order = sorted(ended, key=ended.__getitem__)
    assert len(order) == 4
    for before, after in itertools.pairwise(order):
        assert asked[after] >= ended[before], f"{after}: credentials asked for before {before} finished"
