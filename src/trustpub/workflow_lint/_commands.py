"""What a job runs: does it publish, does it build, to which index.

Both CIs write jobs as shell text (GitHub's ``run:``, GitLab's ``script:``), and
GitHub also as actions (``uses:``). These patterns are what release jobs really
contain; a job is judged by its own text, never by its name.
"""

from __future__ import annotations

import re

__all__ = [
    "BUILD_ACTIONS",
    "PUBLISH_ACTIONS",
    "action_name",
    "building_action",
    "builds",
    "index_audience",
    "publishes",
    "publishing_action",
    "skips_attestations",
]

#: Actions that upload to an index with trusted publishing (``owner/repo``, lowercase).
PUBLISH_ACTIONS = ("pypa/gh-action-pypi-publish", "trustpub/trustpub")
#: Actions that build distributions.
BUILD_ACTIONS = ("hynek/build-and-inspect-python-package", "pypa/cibuildwheel", "pyo3/maturin-action")

_PUBLISH = re.compile(
    r"\b(?:trustpub(?:\.exe)?|-m\s+trustpub)\s+publish\b"
    r"|\btwine\s+upload\b"
    r"|\b(?:uv|poetry|hatch|flit|pdm)\s+publish\b"
)
_BUILD = re.compile(
    r"-m\s+build\b|\bpyproject-build\b"
    r"|\b(?:uv|hatch|poetry|flit|pdm)\s+build\b"
    r"|\bpip\s+wheel\b|\bsetup\.py\s+(?:sdist|bdist_wheel|bdist)\b"
    r"|\bcibuildwheel\b|\bmaturin\s+build\b"
)
_TESTPYPI = re.compile(r"--testpypi\b|--to[=\s]+[\"']?testpypi\b|test\.pypi\.org|-r\s+testpypi\b|--repository[=\s]+testpypi\b")
_NO_ATTESTATIONS = re.compile(r"--no-attestations\b")


def publishes(script: str) -> bool:
    """True when shell text uploads distributions (trustpub, twine, uv, poetry, …)."""
    return _PUBLISH.search(script) is not None


def builds(script: str) -> bool:
    """True when shell text builds distributions (build, uv build, pip wheel, …)."""
    return _BUILD.search(script) is not None


def action_name(uses: str) -> str:
    """``owner/repo`` of a ``uses:`` value, lowercase (``owner/repo/path@ref`` too)."""
    name = uses.split("@", 1)[0].strip().lower()
    return "/".join(name.split("/")[:2])


def publishing_action(uses: str) -> bool:
    return action_name(uses) in PUBLISH_ACTIONS


def building_action(uses: str) -> bool:
    return action_name(uses) in BUILD_ACTIONS


def index_audience(script: str) -> str:
    """The OIDC audience of the index a script publishes to: ``testpypi`` or ``pypi``."""
    return "testpypi" if _TESTPYPI.search(script) else "pypi"


def skips_attestations(script: str) -> bool:
    return _NO_ATTESTATIONS.search(script) is not None
