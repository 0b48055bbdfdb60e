"""A canary secret never appears in any output or file, whatever goes wrong.

Every run of the reliability suite already goes through ``run_trustpub``, which checks
stdout, stderr and every file under the run's folder for the secrets the run was given.
Here the same faults run with ``-vv`` (every request logged), so the most talkative
paths are covered too, and each scenario also checks that the canary really was used
(it reached the index), so the absence in the output means something.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability._support import (
    assert_no_secret,
    assert_no_secret_in_files,
    clean_env,
    run_trustpub,
    without_masks,
)
from tests.reliability.faultproxy import Fault, FaultProxy, ProxiedRequest, Sink
from tests.servers import RunningIndex
from trustpub.local.world import LocalWorld


def test_the_canary_check_itself_fails_on_a_leak(tmp_path: Path) -> None:
    canary = "pypi-CANARY-0123456789abcdef"
    with pytest.raises(AssertionError):
        assert_no_secret(f"Authorization: Basic {base64.b64encode(f'__token__:{canary}'.encode()).decode()}", [canary], where="test")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "journal.json").write_text(f'{{"reason": "{canary}"}}')
    with pytest.raises(AssertionError):
        assert_no_secret_in_files(tmp_path, [canary])


@pytest.fixture
def proxy(pypiserver_index: RunningIndex) -> Iterator[FaultProxy]:
    with FaultProxy(pypiserver_index.base_url) as p:
        yield p


def _every_upload(fault: Fault) -> object:
    return lambda r: fault if r.is_upload else None


SCENARIOS = {
    "5xx-storm": _every_upload(Fault.status(503, b"<html>busy</html>")),
    "reset-mid-body": _every_upload(Fault.reset_mid_body()),
    "html-200": _every_upload(Fault.status(200, b"<html>login</html>")),
    "401-echoing-nothing": _every_upload(Fault.status(401, b"Unauthorized", "text/plain")),
    "late-answer": _every_upload(Fault.delay(5)),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_index_password_never_leaks_under_faults(
    proxy: FaultProxy, pypiserver_index: RunningIndex, dist: Path, tmp_path: Path, scenario: str
) -> None:
    canary = pypiserver_index.password
    proxy.script(SCENARIOS[scenario])  # type: ignore[arg-type]
    env = clean_env(tmp_path, TRUSTPUB_USERNAME=pypiserver_index.username, TRUSTPUB_PASSWORD=canary)
    run = run_trustpub(["publish", "--to", proxy.url, "--timeout", "1", "-vv", "--json", str(dist)],
                       cwd=tmp_path, env=env, secrets=[canary])
    assert run.returncode in (0, 1)
    expected = "Basic " + base64.b64encode(f"{pypiserver_index.username}:{canary}".encode()).decode()
    assert any(r.headers.get("authorization") == expected for r, _, _ in proxy.requests), "the canary was never sent"
    assert base64.b64encode(f"{pypiserver_index.username}:{canary}".encode()).decode() not in run.stdout + run.stderr


def test_index_password_never_follows_or_leaks_on_a_redirect(
    proxy: FaultProxy, pypiserver_index: RunningIndex, dist: Path, tmp_path: Path
) -> None:
    canary = pypiserver_index.password
    with Sink() as sink:
        def script(request: ProxiedRequest) -> Fault | None:
            return Fault.redirect(sink.url + request.path.lstrip("/"), 307 if request.is_upload else 302)

        proxy.script(script)
        env = clean_env(tmp_path, TRUSTPUB_USERNAME=pypiserver_index.username, TRUSTPUB_PASSWORD=canary)
        run = run_trustpub(["publish", "--to", proxy.url, "-vv", str(dist)], cwd=tmp_path, env=env, secrets=[canary])
        assert run.returncode == 1
        for request in sink.received:
            assert "authorization" not in request.headers
            assert canary.encode() not in request.body


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world", project="trustpub-demo") as w:
        yield w


@pytest.mark.parametrize("where", ["mint-garbage", "upload-reset"])
def test_trusted_publishing_secrets_never_leak(world: LocalWorld, dist: Path, tmp_path: Path, where: str) -> None:
    """The runner's request token and every JWT and minted token stay out of -vv output and files."""
    with FaultProxy(world.index.url + "/") as tp_proxy:
        def script(request: ProxiedRequest) -> Fault | None:
            if where == "mint-garbage" and request.path.endswith("/mint-token"):
                return Fault.status(200, b'{"token": 12, "message": "<html>"}', "application/json")
            if where == "upload-reset" and request.is_upload:
                return Fault.reset_mid_body()
            return None

        tp_proxy.script(script)
        env = clean_env(tmp_path)
        env.update(world.ci_environment())
        run = run_trustpub(
            ["publish", "--to", tp_proxy.url + "legacy/", "--no-attestations", "-vv", "--json", str(dist)],
            cwd=tmp_path, env=env, secrets=[env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]],
        )
        assert run.returncode == 1
        sent = [r for r, _, _ in tp_proxy.requests]
        jwts = [r.body.decode() for r in sent if r.path.endswith("/mint-token")]
        minted = [r.headers["authorization"] for r in sent if r.is_upload and "authorization" in r.headers]
        assert jwts, "trusted publishing was used"
        if where != "mint-garbage":
            assert minted, "a minted token was used"
        text = without_masks(run.stdout + run.stderr)
        assert "eyJ" not in text
        for header in minted:
            token = base64.b64decode(header.split(" ", 1)[1]).decode().split(":", 1)[1]
            assert token not in text
            assert_no_secret_in_files(tmp_path / "state", [token])
