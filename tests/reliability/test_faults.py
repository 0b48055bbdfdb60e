"""Faults on the way to a real index: the release completes or stops with a clear error, and the
index ends with exactly the built files, byte-identical, none twice.

pypiserver sits behind :class:`FaultProxy` (5xx storms, resets mid-body, resets after the
file landed, late answers, HTML where an answer belongs); the local index's own knobs cover
Retry-After storms, resets, slow answers and trusted-publishing tokens that expire mid-release.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability._support import clean_env, file_bytes, run_trustpub
from tests.reliability.faultproxy import Fault, FaultProxy, ProxiedRequest
from tests.servers import RunningIndex
from trustpub.local.world import LocalWorld


@pytest.fixture
def proxy(pypiserver_index: RunningIndex) -> Iterator[FaultProxy]:
    with FaultProxy(pypiserver_index.base_url) as p:
        yield p


def _first_attempts(fault: Callable[[], Fault], times: int = 1) -> Callable[[ProxiedRequest], Fault | None]:
    """A script that applies ``fault`` to the first ``times`` uploads of each file, then forwards."""
    seen: collections.Counter[str] = collections.Counter()

    def script(request: ProxiedRequest) -> Fault | None:
        if not request.is_upload:
            return None
        name = request.filename or "?"
        seen[name] += 1
        return fault() if seen[name] <= times else None

    return script


def _publish(proxy: FaultProxy, index: RunningIndex, dist: Path, cwd: Path, *extra: str) -> tuple[int, dict[str, str], str]:
    env = clean_env(cwd, TRUSTPUB_USERNAME=index.username, TRUSTPUB_PASSWORD=index.password)
    run = run_trustpub(["publish", "--to", proxy.url, "--json", *extra, str(dist)], cwd=cwd, env=env, secrets=[index.password])
    return run.returncode, run.outcomes(), run.stderr


def _assert_index_holds_exactly(index: RunningIndex, proxy: FaultProxy, dist: Path) -> None:
    assert index.packages_dir is not None
    stored = {p.name: p.read_bytes() for p in index.packages_dir.iterdir() if p.is_file()}
    assert stored == file_bytes(dist), "the index does not hold exactly the built files, byte for byte"
    accepted = proxy.forwarded_uploads()
    assert sorted(accepted) == sorted(set(accepted)), f"a file was stored twice: {accepted}"


@pytest.mark.parametrize(
    ("fault", "times"),
    [
        pytest.param(lambda: Fault.status(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>"), 3, id="5xx-storm"),
        pytest.param(lambda: Fault.status(429, b"slow down", "text/plain", (("Retry-After", "0"),)), 2, id="429-retry-after"),
        pytest.param(lambda: Fault.reset_mid_body(0.5), 2, id="reset-mid-body"),
        pytest.param(Fault.reset_after_forward, 1, id="reset-after-landing"),
        pytest.param(lambda: Fault.partial_html(502), 1, id="reset-mid-html-answer"),
    ],
)
def test_transient_faults_end_in_a_complete_release(
    proxy: FaultProxy, pypiserver_index: RunningIndex, dist: Path, tmp_path: Path, fault: Callable[[], Fault], times: int
) -> None:
    proxy.script(_first_attempts(fault, times))
    code, outcomes, stderr = _publish(proxy, pypiserver_index, dist, tmp_path)
    assert code == 0, stderr
    assert set(outcomes.values()) <= {"uploaded", "already-present"}
    _assert_index_holds_exactly(pypiserver_index, proxy, dist)
    assert "<html" not in stderr.lower()


def test_endless_5xx_storm_stops_with_each_file_reported_as_failed(
    proxy: FaultProxy, pypiserver_index: RunningIndex, dist: Path, tmp_path: Path
) -> None:
    proxy.script(lambda r: Fault.status(503, b"<html><body>Service Unavailable</body></html>") if r.is_upload else None)
    code, outcomes, stderr = _publish(proxy, pypiserver_index, dist, tmp_path, "--jobs", "1")
    assert code == 1
    wheels = sorted(n for n in outcomes if n.endswith(".whl"))
    sdist = next(n for n in outcomes if n.endswith(".tar.gz"))
    # The file tried five times is "failed" with its reason; the ones never sent are not-attempted.
    assert outcomes[wheels[0]] == "failed"
    assert "503 Service Unavailable (after 5 attempts)" in stderr
    assert outcomes[sdist] == "not-attempted"
    assert "<html" not in stderr.lower()
    assert pypiserver_index.packages_dir is not None and list(pypiserver_index.packages_dir.iterdir()) == []
    # ... and a re-run once the index recovered completes the release.
    proxy.script(lambda r: None)
    code, outcomes, stderr = _publish(proxy, pypiserver_index, dist, tmp_path)
    assert code == 0, stderr
    assert "previous run" in stderr and "failed" in stderr
    _assert_index_holds_exactly(pypiserver_index, proxy, dist)


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (Fault.partial_html(502), "connection reset by the server"),
        (Fault.bare_html(), "the server's answer was not HTTP"),
    ],
    ids=["reset-mid-answer", "html-instead-of-http"],
)
def test_resets_every_time_are_reported_without_server_text(
    proxy: FaultProxy, pypiserver_index: RunningIndex, dist: Path, tmp_path: Path, fault: Fault, said: str
) -> None:
    proxy.script(lambda r: fault if r.is_upload else None)
    code, outcomes, stderr = _publish(proxy, pypiserver_index, dist, tmp_path, "--jobs", "1")
    assert code == 1
    assert "failed" in outcomes.values()
    assert said in stderr
    assert "<html" not in stderr.lower() and "nginx" not in stderr
    assert pypiserver_index.packages_dir is not None and list(pypiserver_index.packages_dir.iterdir()) == []


def test_late_answers_are_cut_off_at_the_timeout_and_the_landed_file_counts(
    proxy: FaultProxy, pypiserver_index: RunningIndex, dist: Path, tmp_path: Path
) -> None:
    """An index that answers each upload 40 s late (after storing it): with --timeout 1 the
    release does not wait it out; each landed file is found on the index and counted."""
    import time

    proxy.script(_first_attempts(lambda: Fault.delay(40), 1))
    started = time.monotonic()
    code, outcomes, stderr = _publish(proxy, pypiserver_index, dist, tmp_path, "--timeout", "1", "-v")
    assert code == 0, stderr
    assert time.monotonic() - started < 20, "the late answers were waited out"
    assert "no complete answer within 1 s" in stderr
    assert set(outcomes.values()) == {"uploaded"}
    _assert_index_holds_exactly(pypiserver_index, proxy, dist)


def test_timeout_from_the_environment_and_a_bad_value(
    proxy: FaultProxy, pypiserver_index: RunningIndex, dist: Path, tmp_path: Path
) -> None:
    env = clean_env(tmp_path, TRUSTPUB_USERNAME=pypiserver_index.username, TRUSTPUB_PASSWORD=pypiserver_index.password,
                    TRUSTPUB_TIMEOUT="soon")
    bad = run_trustpub(["publish", "--to", proxy.url, str(dist)], cwd=tmp_path, env=env, secrets=[pypiserver_index.password])
    assert bad.returncode == 2
    assert "$TRUSTPUB_TIMEOUT 'soon': not a positive number of seconds" in bad.stderr
    assert proxy.requests == []
    proxy.script(lambda r: Fault.trickle(0.2) if r.method == "GET" else None)
    env["TRUSTPUB_TIMEOUT"] = "1"
    slow = run_trustpub(["publish", "--to", proxy.url, str(dist)], cwd=tmp_path, env=env, secrets=[pypiserver_index.password])
    assert slow.returncode == 1
    assert "no complete answer within 1 s" in slow.stderr
    assert slow.elapsed < 15
    assert not any(r.is_upload for r, _, _ in proxy.requests)


# --- the local index's own knobs -------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world", project="trustpub-demo") as w:
        yield w


def _local_index_holds_exactly(world: LocalWorld, dist: Path) -> None:
    """Each built file stored once, and downloadable from the simple API's link byte for byte."""
    from urllib.parse import urljoin

    from trustpub.transport import Transport

    index = world.index
    assert sorted(index.stored_log) == sorted(file_bytes(dist)), f"stored: {index.stored_log}"
    transport = Transport()
    listing = transport.request(
        "GET", index.simple_url + "trustpub-demo/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    ).json()
    links = {f["filename"]: urljoin(index.simple_url, f["url"]) for f in listing["files"]}
    assert sorted(links) == sorted(file_bytes(dist))
    for name, data in file_bytes(dist).items():
        assert transport.request("GET", links[name]).data == data, name


@pytest.mark.parametrize(
    "knob",
    ["storm-with-retry-after", "resets", "slow"],
)
def test_local_index_fault_knobs(world: LocalWorld, dist: Path, tmp_path: Path, knob: str) -> None:
    token = world.index.add_api_token("trustpub-demo")
    if knob == "storm-with-retry-after":
        world.index.fail_next_uploads(4, status=503, retry_after=0)
    elif knob == "resets":
        world.index.reset_next_uploads(3)
    else:
        world.index.upload_delay = 0.3
    env = clean_env(tmp_path, TRUSTPUB_TOKEN=token)
    run = run_trustpub(["publish", "--to", world.index.upload_url, "--no-attestations", "--json", str(dist)],
                       cwd=tmp_path, env=env, secrets=[token])
    assert run.returncode == 0, run.stderr
    _local_index_holds_exactly(world, dist)


def test_trusted_publishing_token_expiring_mid_release(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    """Minted tokens live 2 s and each upload answer takes 0.7 s: the release must re-mint on the way."""
    world.index.token_lifetime = 2
    world.index.upload_delay = 0.7
    env = clean_env(tmp_path)
    env.update(world.ci_environment())
    run = run_trustpub(
        ["publish", "--to", world.index.upload_url, "--no-attestations", "--jobs", "1", "--json", str(dist)],
        cwd=tmp_path, env=env, secrets=[env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]],
    )
    assert run.returncode == 0, run.stderr
    assert "eyJ" not in run.stdout + run.stderr  # no JWT (OIDC token) in any output
    _local_index_holds_exactly(world, dist)
