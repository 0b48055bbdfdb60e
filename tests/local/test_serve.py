"""``python -m trustpub.local serve`` hands out a ready API token and a pypirc.

The real command runs in its own process; its token is then used as a user would:
``trustpub publish --credentials token`` with ``TRUSTPUB_TOKEN``, the same command
finding the token through ``PYPIRC``, and twine with ``--config-file DIR/pypirc``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.distfactory import make_metadata, make_sdist, make_wheel
from trustpub.transport import Transport

BIN = Path(sys.executable).parent


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    directory = tmp_path / "world"
    proc = subprocess.Popen(
        [sys.executable, "-m", "trustpub.local", "serve", "--dir", str(directory), "--project", "served-demo"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("}"):
                break
        info: dict[str, Any] = json.loads("".join(lines))
        info["_dir"] = directory
        yield info
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert info["api_token"] not in err and "pypirc" in err


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no CI identity, no ~/.pypirc, no token but the ones given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI", "TWINE_", "CI"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra)
    return env


def _listed(info: dict[str, Any], project: str) -> set[str]:
    _, page = Transport().get_json(
        f"{info['index']['simple_url']}{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    return {f["filename"] for f in page["files"]}


def _dists(directory: Path, name: str) -> list[Path]:
    directory.mkdir(parents=True)
    metadata = make_metadata(name, "1.0.0")
    module = name.replace("-", "_")
    return [make_wheel(directory, module, metadata=metadata), make_sdist(directory, module, metadata=metadata)]


def test_serve_prints_and_writes_a_token(served: dict[str, Any]) -> None:
    token = served["api_token"]
    assert token.startswith("pypi-")
    directory: Path = served["_dir"]
    assert served["pypirc"] == str(directory / "pypirc")
    for name in ("pypirc", "world.json", "env"):
        mode = stat.S_IMODE((directory / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert json.loads((directory / "world.json").read_text())["api_token"] == token
    pypirc = (directory / "pypirc").read_text()
    assert "[local]" in pypirc and f"repository = {served['index']['upload_url']}" in pypirc
    assert "username = __token__" in pypirc and f"password = {token}" in pypirc
    # The env file makes a shell look like a runner; a token there would turn `auto`
    # credentials away from trusted publishing.
    assert token not in (directory / "env").read_text()


def test_trustpub_publish_with_the_served_token(served: dict[str, Any], tmp_path: Path) -> None:
    token = served["api_token"]
    url = served["index"]["upload_url"]
    files = _dists(tmp_path / "dist", "served-demo")
    result = subprocess.run(
        [str(BIN / "trustpub"), "publish", "--to", url, "--credentials", "token", *map(str, files)],
        cwd=tmp_path, env=_env(tmp_path, TRUSTPUB_TOKEN=token), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert token not in result.stdout + result.stderr
    assert _listed(served, "served-demo") == {p.name for p in files}
    # The account-wide token creates projects too, here found through PYPIRC.
    files = _dists(tmp_path / "dist2", "served-new")
    result = subprocess.run(
        [str(BIN / "trustpub"), "publish", "--to", url, "--credentials", "token", *map(str, files)],
        cwd=tmp_path, env=_env(tmp_path, PYPIRC=served["pypirc"]), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert _listed(served, "served-new") == {p.name for p in files}


def test_twine_with_the_written_pypirc(served: dict[str, Any], tmp_path: Path) -> None:
    twine = shutil.which("twine", path=str(BIN))
    assert twine is not None
    files = _dists(tmp_path / "dist", "served-demo")
    result = subprocess.run(
        [twine, "upload", "--non-interactive", "--disable-progress-bar", "--config-file", served["pypirc"], "-r", "local", *map(str, files)],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _listed(served, "served-demo") == {p.name for p in files}
