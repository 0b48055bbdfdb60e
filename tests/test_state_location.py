"""Where trustpub writes its own files (journals, release provenance): never into the next build.

The proof is the user's own sequence: build with a real backend, publish with trusted
publishing and attestations (the local world), build the sdist again, look inside.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from trustpub.local.world import LocalWorld
from trustpub.state import STATE_DIR_ENV, default_state_dir, resolve_state_dir

TRUSTPUB = [sys.executable, "-m", "trustpub"]
PROJECT = "tp-state-demo"

PYPROJECT = {
    "hatchling": """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "tp-state-demo"
version = "1.0.0"
description = "A project built, published and built again."
readme = "README.md"
license = "MIT"
""",
    "setuptools": """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "tp-state-demo"
version = "1.0.0"
description = "A project built, published and built again."
readme = "README.md"
license = "MIT"
""",
}


# --------------------------------------------------------------------------- the default place


def test_default_state_dir_per_platform(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert default_state_dir({"HOME": home}, platform="linux") == tmp_path / "home" / ".cache" / "trustpub"
    assert default_state_dir({"HOME": home, "XDG_CACHE_HOME": str(tmp_path / "xdg")}, platform="linux") == tmp_path / "xdg" / "trustpub"
    # A relative XDG_CACHE_HOME is invalid (XDG spec) and ignored.
    assert default_state_dir({"HOME": home, "XDG_CACHE_HOME": "rel"}, platform="linux") == tmp_path / "home" / ".cache" / "trustpub"
    assert default_state_dir({"HOME": home}, platform="darwin") == tmp_path / "home" / "Library" / "Caches" / "trustpub"
    assert default_state_dir({"LOCALAPPDATA": str(tmp_path / "local")}, platform="win32") == tmp_path / "local" / "trustpub"
    # The environment variable wins everywhere.
    for platform in ("linux", "darwin", "win32"):
        env = {"HOME": home, "LOCALAPPDATA": home, STATE_DIR_ENV: str(tmp_path / "mine")}
        assert default_state_dir(env, platform=platform) == tmp_path / "mine"


def test_unusable_state_dir_is_one_clear_error(tmp_path: Path) -> None:
    from trustpub.errors import ConfigurationError

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match=r"--state-dir .*a-file: not a folder"):
        resolve_state_dir(blocker)
    with pytest.raises(ConfigurationError, match=r"\$TRUSTPUB_STATE_DIR .*a-file/sub: cannot create it"):
        resolve_state_dir(None, {STATE_DIR_ENV: str(blocker / "sub")})
    assert resolve_state_dir(tmp_path / "new" / "state").is_dir()


# --------------------------------------------------------------------------- publish, then build again


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world", project=PROJECT) as w:
        yield w


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell: no state folder configured, a cache folder of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI_"))}
    env.pop("CI", None)
    env["HOME"] = str(tmp_path / "home")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return env


def _project(root: Path, backend: str) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT[backend])
    (root / "README.md").write_text("# tp-state-demo\n\nBuilt, published, built again.\n")
    (root / "LICENSE").write_text("MIT License\n")
    package = root / "src" / "tp_state_demo"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Demo."""\n')
    (package / "schema.json").write_text("{}\n")
    if backend == "setuptools":
        # A project that ships JSON data files says so this way; it takes every *.json
        # below the project, wherever it is (what hatchling does with any file).
        (root / "MANIFEST.in").write_text("global-include *.json\n")
    return root


def _build_sdist_and_wheel(project: Path, outdir: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir), str(project)],
        check=True, capture_output=True, env=env, timeout=300,
    )


def _files_under(root: Path, *, skip: str) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and skip not in p.relative_to(root).parts}


@pytest.mark.parametrize("backend", ["hatchling", "setuptools"])
def test_the_next_sdist_holds_nothing_trustpub_wrote(world: LocalWorld, tmp_path: Path, backend: str) -> None:
    project = _project(tmp_path / "project", backend)
    env = _clean_env(tmp_path)
    dist = project / "dist"
    _build_sdist_and_wheel(project, dist, env)
    before = _files_under(project, skip="dist")
    built = sorted(p.name for p in dist.iterdir())

    env.update(world.ci_environment())
    proc = subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--json", "dist"],
        env=env, cwd=project, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {f["outcome"] for f in doc["files"]} == {"uploaded"}

    # Journal and provenance are in the per-user cache folder, said where, and exist.
    state = tmp_path / "cache" / "trustpub"
    provenance, journal = Path(doc["release_provenance"]), Path(doc["journal"])
    assert provenance.is_file() and provenance.name == "tp_state_demo-1.0.0.provenance.sigstore.json"
    assert journal.is_file() and journal.parent == state / "journal"
    assert provenance.is_relative_to(state)
    assert f"release provenance: {provenance}" in proc.stderr and f"journal: {journal}" in proc.stderr
    # The project gained no file; dist/ gained only the attestations twine and the action read.
    assert _files_under(project, skip="dist") - before == set()
    assert sorted(p.name for p in dist.iterdir()) == sorted([*built, *(f"{n}.publish.attestation" for n in built)])

    # The user's next build: the sdist holds none of it.
    rebuilt = tmp_path / "rebuilt"
    _build_sdist_and_wheel(project, rebuilt, _clean_env(tmp_path))
    (sdist,) = rebuilt.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(m.endswith("src/tp_state_demo/schema.json") for m in members), members  # the backend did pack JSON
    written = [m for m in members if m.endswith((".attestation", ".provenance.sigstore.json")) or "journal" in m or ".trustpub" in m]
    assert written == [], f"{backend} packed trustpub's files: {written}"


def test_state_dir_flag_wins_and_a_bad_one_stops_before_upload(world: LocalWorld, tmp_path: Path) -> None:
    from tests.distfactory import make_metadata, make_wheel

    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist, name="tp_state_demo", version="1.0.0", metadata=make_metadata(PROJECT, "1.0.0"))
    env = _clean_env(tmp_path)
    env["TRUSTPUB_TOKEN"] = world.index.add_api_token(PROJECT)
    env[STATE_DIR_ENV] = str(tmp_path / "from-env")
    cmd = [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--no-attestations", "--json", str(dist)]

    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    bad = subprocess.run([*cmd, "--state-dir", str(blocker)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert f"--state-dir {blocker}: not a folder" in bad.stderr and "Traceback" not in bad.stderr
    assert env["TRUSTPUB_TOKEN"] not in bad.stdout + bad.stderr
    assert world.index.stored_log == []

    good = subprocess.run([*cmd, "--state-dir", str(tmp_path / "from-flag")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert Path(json.loads(good.stdout)["journal"]).parent == tmp_path / "from-flag" / "journal"
    assert not (tmp_path / "from-env").exists() and not (tmp_path / "cache").exists()
