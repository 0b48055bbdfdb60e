"""The composite GitHub Action: its publish step, run as a runner would run it, against the local world."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.distfactory import make_sdist, make_wheel
from trustpub.local.world import LocalWorld

REPO = Path(__file__).resolve().parents[1]


def _step(name: str) -> str:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    return next(s["run"] for s in action["runs"]["steps"] if s["name"] == name)


def test_inputs_match_the_official_action() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    for name in ("repository-url", "packages-dir", "attestations", "verbose", "print-hash", "skip-existing", "password"):
        assert name in action["inputs"], name
    assert all(step.get("shell") == "bash" for step in action["runs"]["steps"])


def _run_publish_step(tmp_path: Path, env_extra: dict[str, str], inputs: dict[str, str]) -> subprocess.CompletedProcess[str]:
    github_env = tmp_path / "github_env"
    github_env.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ACTIONS_", "TRUSTPUB_", "CI"))}
    env.update(env_extra)
    env.update(
        {
            "TRUSTPUB_BIN": str(Path(sys.executable).parent),
            "GITHUB_ENV": str(github_env),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "INPUT_JOBS": "4",
            "INPUT_SLSA": "false",
            "INPUT_VERBOSE": "false",
            **inputs,
        }
    )
    return subprocess.run(["bash", "-c", _step("Publish")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_publish_step_with_trusted_publishing(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist)
    make_sdist(dist)
    with LocalWorld.start(tmp_path / "world", project="demo-pkg") as world:
        proc = _run_publish_step(
            tmp_path,
            world.ci_environment(),
            {"INPUT_REPOSITORY_URL": world.index.upload_url, "INPUT_PACKAGES_DIR": "dist/", "INPUT_ATTESTATIONS": "true", "TRUSTPUB_TOKEN": ""},
        )
        assert proc.returncode == 0, proc.stderr
        assert sorted(world.index.files("demo-pkg")) == sorted(p.name for p in dist.iterdir() if not p.name.endswith(".attestation"))
        summary = (tmp_path / "summary.md").read_text()
        assert "demo_pkg-1.0.0.tar.gz" in summary and "uploaded" in summary


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_publish_step_with_a_token_warns_and_skips_attestations(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist)
    with LocalWorld.start(tmp_path / "world", project="demo-pkg") as world:
        token = world.index.add_api_token("demo-pkg")
        proc = _run_publish_step(
            tmp_path,
            {},
            {"INPUT_REPOSITORY_URL": world.index.upload_url, "INPUT_PACKAGES_DIR": "dist", "INPUT_ATTESTATIONS": "true", "TRUSTPUB_TOKEN": token},
        )
        assert proc.returncode == 0, proc.stderr
        assert "::warning::attestations need trusted publishing" in proc.stdout
        assert token not in proc.stdout + proc.stderr
        assert world.index.files("demo-pkg") == ["demo_pkg-1.0.0-py3-none-any.whl"]
