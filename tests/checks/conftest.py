"""Real distributions, built once per test session by real build backends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_PROJECTS = {
    "hatchling": (
        """
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        [project]
        name = "Hatch.Demo"
        version = "2.0.0rc1"
        description = "Built by hatchling"
        readme = "README.md"
        license = "MIT"
        license-files = ["LICENSE"]
        requires-python = ">=3.9"
        authors = [{name = "A. Author", email = "author@example.org"}]
        classifiers = ["Programming Language :: Python :: 3"]
        dependencies = ["packaging>=23", "tomli; python_version < '3.11'"]
        [project.urls]
        Source = "https://example.org/src"
        [project.scripts]
        hatch-demo = "hatch_demo:main"
        [tool.hatch.build.targets.wheel]
        packages = ["hatch_demo"]
        """,
        "hatch_demo",
    ),
    "setuptools": (
        """
        [build-system]
        requires = ["setuptools>=70"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "setup-demo"
        version = "1.2"
        description = "Built by setuptools"
        readme = {file = "README.rst", content-type = "text/x-rst"}
        license = "Apache-2.0"
        requires-python = ">=3.9"
        [tool.setuptools]
        packages = ["setup_demo"]
        """,
        "setup_demo",
    ),
    "flit_core": (
        """
        [build-system]
        requires = ["flit_core>=3.9"]
        build-backend = "flit_core.buildapi"
        [project]
        name = "flit_demo"
        version = "0.3.1"
        description = "Built by flit-core"
        readme = "README.md"
        requires-python = ">=3.9"
        dynamic = []
        [project.urls]
        Home = "https://example.org/"
        """,
        "flit_demo",
    ),
}


def _write_project(root: Path, backend: str) -> Path:
    pyproject, package = _PROJECTS[backend]
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(textwrap.dedent(pyproject))
    (root / "README.md").write_text(f"# {backend} demo\n\nSome *markdown*.\n")
    (root / "README.rst").write_text(f"{backend} demo\n{'=' * (len(backend) + 5)}\n\nSome *rst*.\n")
    (root / "LICENSE").write_text("MIT License\n")
    (root / package).mkdir()
    (root / package / "__init__.py").write_text('"""Demo."""\n__version__ = "1"\n\ndef main():\n    pass\n')
    return root


@pytest.fixture(scope="session")
def built_dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """{backend: [wheel, sdist]} built with ``python -m build --no-isolation``."""
    base = tmp_path_factory.mktemp("builds")
    result: dict[str, list[Path]] = {}
    for backend in _PROJECTS:
        src = _write_project(base / backend, backend)
        out = base / f"{backend}-dist"
        subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
            check=True,
            capture_output=True,
        )
        result[backend] = sorted(out.iterdir())
    return result
