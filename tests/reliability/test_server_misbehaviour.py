"""Servers that answer wrongly: 200 with an HTML page, redirects to another host, garbage or
absurd JSON from the OIDC and mint endpoints, answers that never end.

Each run must end (bounded in time) with one clear message, a non-zero exit, no traceback,
no secret in any output, and nothing stored that should not be; credentials never follow
a redirect to another host.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability._support import clean_env, run_trustpub
from tests.reliability.faultproxy import Fault, FaultProxy, ProxiedRequest, Sink
from tests.servers import RunningIndex
from trustpub.local.world import LocalWorld

LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>password</form></body></html>"
NESTED = b"[" * 200_000 + b"]" * 200_000
HUGE = b'{"value": "' + b"a" * 8_000_000 + b'", "count": 1}'


@pytest.fixture
def proxy(pypiserver_index: RunningIndex) -> Iterator[FaultProxy]:
    with FaultProxy(pypiserver_index.base_url) as p:
        yield p


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as s:
        yield s


def _static_env(index: RunningIndex, cwd: Path) -> dict[str, str]:
    return clean_env(cwd, TRUSTPUB_USERNAME=index.username, TRUSTPUB_PASSWORD=index.password)


def _stored(index: RunningIndex) -> list[str]:
    assert index.packages_dir is not None
    return sorted(p.name for p in index.packages_dir.iterdir())


def test_upload_answered_200_with_an_html_page(proxy: FaultProxy, pypiserver_index: RunningIndex, dist: Path, tmp_path: Path) -> None:
    proxy.script(lambda r: Fault.status(200, LOGIN_PAGE) if r.is_upload else None)
    run = run_trustpub(["publish", "--to", proxy.url, "--json", str(dist)], cwd=tmp_path,
                       env=_static_env(pypiserver_index, tmp_path), secrets=[pypiserver_index.password])
    assert run.returncode == 1
    assert "does not list our sha256" in run.stderr
    # Not reported as uploaded: the index never stored them.
    assert set(run.outcomes().values()) == {"failed"}
    assert "<html" not in run.stderr.lower()
    assert _stored(pypiserver_index) == []


def test_upload_redirected_to_another_host_sends_nothing_there(
    proxy: FaultProxy, pypiserver_index: RunningIndex, sink: Sink, dist: Path, tmp_path: Path
) -> None:
    proxy.script(lambda r: Fault.redirect(sink.url + "legacy/", 307) if r.is_upload else None)
    run = run_trustpub(["publish", "--to", proxy.url, "--json", str(dist)], cwd=tmp_path,
                       env=_static_env(pypiserver_index, tmp_path), secrets=[pypiserver_index.password])
    assert run.returncode == 1
    assert "307" in run.stderr and "redirected to" in run.stderr
    assert sink.received == []
    assert _stored(pypiserver_index) == []


def test_simple_api_redirect_to_another_host_drops_credentials(
    proxy: FaultProxy, pypiserver_index: RunningIndex, sink: Sink, dist: Path, tmp_path: Path
) -> None:
    proxy.script(lambda r: Fault.redirect(sink.url + "simple" + r.path.split("/simple", 1)[-1], 302)
                 if r.method == "GET" and "/simple/" in r.path else None)
    run = run_trustpub(["publish", "--to", proxy.url, "--json", str(dist)], cwd=tmp_path,
                       env=_static_env(pypiserver_index, tmp_path), secrets=[pypiserver_index.password])
    assert sink.received, "the redirect was followed (without credentials)"
    # The simple-API request carried the index password to the index itself ...
    assert any("authorization" in r.headers for r, _, _ in proxy.requests if r.method == "GET")
    # ... and none of it went to the other host.
    for request in sink.received:
        assert "authorization" not in request.headers and "cookie" not in request.headers
        assert pypiserver_index.password.encode() not in request.body
    # The uploads themselves went to the index (they are never redirected), whole and once.
    if run.returncode == 0:
        assert _stored(pypiserver_index) == sorted(p.name for p in dist.iterdir())
    else:  # an index that cannot confirm them: a clear failure, not a false success
        assert run.returncode == 1 and "does not list our sha256" in run.stderr


# --- trusted publishing endpoints ---------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world", project="trustpub-demo") as w:
        yield w


ANSWERS = {
    "garbage": Fault.status(200, b"\x00\xffnot json at all<html>", "application/json"),
    "html": Fault.status(200, LOGIN_PAGE, "text/html"),
    "nested": Fault.status(200, NESTED, "application/json"),
    "huge": Fault.status(200, HUGE, "application/json"),
    "wrong-shape": Fault.status(200, b'{"token": ["not", "a", "string"], "expires": "soon"}', "application/json"),
    "never-ends": Fault.trickle(0.3),
}


def _tp_run(world: LocalWorld, dist: Path, cwd: Path, to: str, env_extra: dict[str, str]) -> tuple[int, str]:
    env = clean_env(cwd)
    env.update(world.ci_environment())
    env.update(env_extra)
    run = run_trustpub(
        ["publish", "--to", to, "--no-attestations", "--timeout", "2", "--json", str(dist)],
        cwd=cwd, env=env, secrets=[env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]], timeout=60,
    )
    assert run.elapsed < 30, "a misbehaving endpoint was waited on without bound"
    assert "eyJ" not in run.stdout + run.stderr, "an OIDC token appeared in the output"
    assert json.loads(run.stdout)["ok"] is False
    return run.returncode, run.stderr


@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_mint_endpoint_misbehaving(world: LocalWorld, dist: Path, tmp_path: Path, answer: str) -> None:
    upstream = world.index.url + "/"
    with FaultProxy(upstream) as mint_proxy:
        mint_proxy.script(lambda r: ANSWERS[answer] if r.path.endswith("/mint-token") else None)
        code, stderr = _tp_run(world, dist, tmp_path, mint_proxy.url + "legacy/", {})
        assert code in (1, 2), stderr
        assert "mint" in stderr.lower() or "token" in stderr.lower(), stderr
        assert not any(r.is_upload for r, _, _ in mint_proxy.requests)
    assert world.index.stored_log == []


@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_oidc_token_endpoint_misbehaving(world: LocalWorld, dist: Path, tmp_path: Path, answer: str) -> None:
    issuer_url = world.issuer.github_token_url
    base = issuer_url.split("/github-token", 1)[0] + "/"

    def script(request: ProxiedRequest) -> Fault | None:
        return ANSWERS[answer] if "/github-token" in request.path else None

    with FaultProxy(base) as oidc_proxy:
        oidc_proxy.script(script)
        url = oidc_proxy.url.rstrip("/") + issuer_url[len(base) - 1:]
        code, stderr = _tp_run(world, dist, tmp_path, world.index.upload_url, {"ACTIONS_ID_TOKEN_REQUEST_URL": url})
        assert code in (1, 2), stderr
        assert oidc_proxy.requests, "the OIDC endpoint was asked"
    assert world.index.stored_log == []


def test_simple_api_answer_that_never_ends(proxy: FaultProxy, pypiserver_index: RunningIndex, dist: Path, tmp_path: Path) -> None:
    proxy.script(lambda r: Fault.trickle(0.2) if r.method == "GET" else None)
    run = run_trustpub(["publish", "--to", proxy.url, "--timeout", "1.5", str(dist)], cwd=tmp_path,
                       env=_static_env(pypiserver_index, tmp_path), secrets=[pypiserver_index.password])
    assert run.returncode == 1
    assert "no complete answer within 1.5 s" in run.stderr
    assert run.elapsed < 15
    assert _stored(pypiserver_index) == []
