"""``.pypirc``: the INI file twine, flit and trustpub read for index URLs and credentials.

Each section other than ``[distutils]`` names one index: its ``repository`` URL (for
``[pypi]`` and ``[testpypi]`` the well-known upload URLs when absent), and optionally
a ``username`` and ``password``. The file is ``$PYPIRC`` if set, else ``~/.pypirc``::

    sections = read_pypirc(pypirc_path())
    sections["private"].repository      # "https://pypi.example.org/legacy/"

A section's credentials belong to its URL: trustpub only ever sends them there (see
:mod:`trustpub.credentials` and :mod:`trustpub.target`).
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trustpub.errors import ConfigurationError
from trustpub.registry import PYPI_UPLOAD_URL, TESTPYPI_UPLOAD_URL
from trustpub.secrets import Secret

__all__ = ["DEFAULT_REPOSITORIES", "PypircSection", "pypirc_path", "read_pypirc", "require_section"]

#: The URL of a ``[pypi]`` or ``[testpypi]`` section without a ``repository`` line.
DEFAULT_REPOSITORIES = {
    "pypi": PYPI_UPLOAD_URL,
    "testpypi": TESTPYPI_UPLOAD_URL,
}


@dataclass(frozen=True)
class PypircSection:
    """One index section; ``repository`` is ``""`` when the file gives none."""

    name: str
    repository: str
    username: str | None
    password: Secret | None = field(default=None, repr=False)


def pypirc_path(env: Mapping[str, str] | None = None) -> Path:
    """``$PYPIRC`` if set, else ``~/.pypirc`` (HOME from ``env``)."""
    environ = os.environ if env is None else env
    if environ.get("PYPIRC"):
        return Path(environ["PYPIRC"])
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".pypirc"


def read_pypirc(path: Path) -> dict[str, PypircSection]:
    """The repository sections of a .pypirc file ({} when it does not exist).

    Values are read raw (no ``%`` interpolation, passwords may contain anything).
    A parse error names the file and line but never echoes its content.
    """
    if not path.is_file():
        return {}
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" near line {line}" if line else ""
        raise ConfigurationError(
            f"cannot parse {str(path)!r}{where} ({type(exc).__name__})",
            hint="fix the file's INI syntax; see https://packaging.python.org/specifications/pypirc/",
        ) from None
    sections: dict[str, PypircSection] = {}
    for name in parser.sections():
        if name == "distutils":
            continue
        repository = parser.get(name, "repository", fallback=None) or DEFAULT_REPOSITORIES.get(name, "")
        username = parser.get(name, "username", fallback=None)
        password = parser.get(name, "password", fallback=None)
        sections[name] = PypircSection(name, repository.strip(), username, Secret(password) if password else None)
    return sections


def require_section(sections: Mapping[str, PypircSection], name: str, path: Path, *, option: str) -> PypircSection:
    """The section ``name``, or a :class:`ConfigurationError` naming ``option``, the file and what it has.

    A section without a URL is refused too: its credentials would have no index to
    belong to, and trustpub never guesses one.
    """
    if name not in sections:
        known = ", ".join(sorted(sections)) or "none"
        raise ConfigurationError(
            f"{option} {name!r}: no such section in {str(path)!r} (sections: {known})",
            hint="add the section, or point PYPIRC at the right file",
        )
    section = sections[name]
    if not section.repository:
        raise ConfigurationError(
            f"the [{name}] section of {str(path)!r} has no repository URL, so trustpub does not know "
            "which index its credentials are for",
            hint=f"add `repository = https://…/legacy/` to [{name}]",
        )
    return section
