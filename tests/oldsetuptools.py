"""Distributions as old setuptools made them: ``UNKNOWN`` in every field left unset.

distutils, and setuptools up to at least 58, wrote the placeholder ``UNKNOWN`` for
unset fields (``Home-page: UNKNOWN``, ``Author-email: UNKNOWN``, a description of
``UNKNOWN``); PyPI drops such fields before validating, so these files upload.
Current setuptools writes nothing for them, so real ones come from the old
interpreters installed on this machine (pyenv's 3.7 ships setuptools 47, 3.9 ships
58), each running a plain ``setup.py`` the old way. ``CRAFTED`` holds the exact bytes
those builds wrote, for the tests that must run everywhere.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CRAFTED", "OldBuild", "build_old_setuptools", "old_setuptools_pythons"]

#: What ``setup(name="oldpkg", version="1.0", packages=["oldpkg"])`` wrote, byte for byte.
CRAFTED: dict[str, bytes] = {
    # setuptools 47.1 (Python 3.7): sdist PKG-INFO, Metadata-Version 1.0.
    "sdist-1.0": (
        b"Metadata-Version: 1.0\nName: oldpkg\nVersion: 1.0\nSummary: UNKNOWN\nHome-page: UNKNOWN\n"
        b"Author: UNKNOWN\nAuthor-email: UNKNOWN\nLicense: UNKNOWN\nDescription: UNKNOWN\nPlatform: UNKNOWN\n"
    ),
    # setuptools 47.1 + wheel 0.40: wheel METADATA.
    "wheel-2.1": (
        b"Metadata-Version: 2.1\nName: oldpkg\nVersion: 1.0\nSummary: UNKNOWN\nHome-page: UNKNOWN\n"
        b"Author: UNKNOWN\nAuthor-email: UNKNOWN\nLicense: UNKNOWN\nPlatform: UNKNOWN\n\nUNKNOWN\n\n\n"
    ),
    # setuptools 58.1 (Python 3.9): sdist PKG-INFO, Metadata-Version 2.1, UNKNOWN body.
    "sdist-2.1": (
        b"Metadata-Version: 2.1\nName: oldpkg\nVersion: 1.0\nSummary: UNKNOWN\nHome-page: UNKNOWN\n"
        b"License: UNKNOWN\nPlatform: UNKNOWN\n\nUNKNOWN\n\n"
    ),
}

_SETUP_PY = 'from setuptools import setup\nsetup(name="{name}", version="{version}", packages=["{package}"], package_dir={{"": "src"}})\n'


def _setuptools_version(python: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import setuptools; print(setuptools.__version__)"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()
        return tuple(int(part) for part in out.split(".")[:2])
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


@functools.lru_cache(maxsize=1)
def old_setuptools_pythons() -> tuple[str, ...]:
    """Python 3.7-3.9 interpreters on this machine whose setuptools still writes ``UNKNOWN`` (before 60).

    3.7 is the oldest the ``wheel`` found for bdist_wheel runs on.
    """
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = sorted(glob.glob(os.path.join(root, "versions", "3.[789].*", "bin", "python")))
    candidates += [p for v in ("3.7", "3.8", "3.9") if (p := shutil.which(f"python{v}"))]
    found: list[str] = []
    for python in dict.fromkeys(candidates):
        version = _setuptools_version(python)
        if version is not None and version < (60,):
            found.append(python)
    return tuple(found)


@functools.lru_cache(maxsize=1)
def _old_wheel_archive() -> str | None:
    """A ``wheel`` release older than 0.45 (bdist_wheel still inside it): CPython's test data has some."""
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    pattern = os.path.join(root, "versions", "*", "lib", "python3*", "test", "**", "wheel-0.4[0-4]*.whl")
    found = sorted(glob.glob(pattern, recursive=True))
    return found[0] if found else None


@dataclass(frozen=True)
class OldBuild:
    python: str
    setuptools: str
    sdist: Path
    wheel: Path | None


def build_old_setuptools(directory: Path, python: str, name: str = "oldpkg", version: str = "1.0") -> OldBuild:
    """``python setup.py sdist [bdist_wheel]`` with an old interpreter's own setuptools."""
    package = name.replace("-", "_")
    project = directory / "project"
    (project / "src" / package).mkdir(parents=True)
    (project / "src" / package / "__init__.py").write_text("")
    (project / "setup.py").write_text(_SETUP_PY.format(name=name, version=version, package=package))
    dist = directory / "dist"
    argv = [python, "setup.py", "-q", "sdist", "--dist-dir", str(dist)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    archive = _old_wheel_archive()
    if archive is not None:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(directory / "wheel-package")
        env["PYTHONPATH"] = str(directory / "wheel-package")
        argv += ["bdist_wheel", "--dist-dir", str(dist)]
    subprocess.run(argv, cwd=project, env=env, check=True, capture_output=True, timeout=300)
    wheels = sorted(dist.glob("*.whl"))
    (sdist,) = dist.glob("*.tar.gz")
    setuptools = ".".join(str(p) for p in _setuptools_version(python) or ())
    return OldBuild(python, setuptools, sdist, wheels[0] if wheels else None)
