"""Several indexes for one release: ``--to testpypi,pypi`` (issue 15).

A ``--to`` value is a list when it holds more than one item. Items are separated by
commas or line breaks (a GitHub Action input of several lines arrives that way) and
surrounding blanks are ignored. Each item is one of:

- ``pypi`` or ``testpypi``;
- an ``http(s)://`` legacy upload URL, whose ``user:password@`` (if any) is split off
  and bound to that index only, as for a single ``--to``;
- the name of a ``.pypirc`` section: its ``repository`` URL, with its credentials.

The order is the publishing order. One item keeps the single-target rules of
:func:`trustpub.target.resolve_target` unchanged (``--repository``, ``--testpypi`` and
``TWINE_*`` included), so nothing changes for a release with one index::

    >>> [t.name for t in resolve_targets(to="testpypi, https://pypi.example.org/legacy/", env={})]
    ['testpypi', 'https://pypi.example.org/legacy/']
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from trustpub.errors import ConfigurationError
from trustpub.pypirc import pypirc_path, read_pypirc, require_section
from trustpub.registry import Registry
from trustpub.target import Target, resolve_target

__all__ = ["IndexTarget", "resolve_targets", "split_targets"]

_SEPARATORS = re.compile(r"[,\r\n]+")
_BUILTIN = ("pypi", "testpypi")


@dataclass(frozen=True)
class IndexTarget:
    """One index of the release: how it was named, where it is, and its ``.pypirc`` section if any.

    ``name`` is the item as given (a URL without its ``user:password@``), for reports;
    ``repository`` is the ``.pypirc`` section whose credentials go to this index only.
    """

    name: str
    target: Target
    repository: str | None = None

    @property
    def registry(self) -> Registry:
        return self.target.registry


def split_targets(value: str | None) -> list[str]:
    """The items of a ``--to`` value: split at commas and line breaks, blanks dropped."""
    if value is None:
        return []
    return [item.strip() for item in _SEPARATORS.split(value) if item.strip()]


def _looks_like_url(item: str) -> bool:
    return "://" in item


def resolve_targets(
    *,
    to: str | None = None,
    testpypi: bool = False,
    repository: str | None = None,
    env: Mapping[str, str] | None = None,
    pypirc: Path | None = None,
) -> list[IndexTarget]:
    """Every index of the release, in order; makes no network call.

    Raises :class:`ConfigurationError` for an item that is neither an index nor a
    ``.pypirc`` section, an index named twice, or options that only make sense for one
    index (``--testpypi``, ``--repository``) beside a list.
    """
    items = split_targets(to)
    if to is not None and not items:
        raise ConfigurationError(f"--to {to!r} names no index", hint="e.g. --to testpypi,pypi")
    if len(items) <= 1:
        one = items[0] if items else None
        if one is not None and not repository and not _looks_like_url(one) and one.lower() not in _BUILTIN:
            # A bare name that is no built-in index is a .pypirc section, as in a list.
            return [_section_target(one, env, pypirc)]
        target = resolve_target(to=one, testpypi=testpypi, repository=repository, env=env, pypirc=pypirc)
        return [IndexTarget(one or str(target.registry), target, repository)]
    if testpypi:
        raise ConfigurationError(
            f"--testpypi beside --to {','.join(items)}: the list names every index",
            hint="put testpypi in the --to list where it belongs in the order",
        )
    if repository:
        raise ConfigurationError(
            f"--repository {repository} beside --to {','.join(items)}: the list names every index",
            hint=f"name the .pypirc section in the list instead: --to {repository},...",
        )
    targets: list[IndexTarget] = []
    for item in items:
        if _looks_like_url(item) or item.lower() in _BUILTIN:
            registry, userinfo = Registry.parse_with_userinfo(item)
            found = IndexTarget(str(registry), Target(registry, "--to", userinfo, f"the --to URL {registry.upload_url}"))
        else:
            found = _section_target(item, env, pypirc)
        for earlier in targets:
            if earlier.registry.same_index(found.registry):
                raise ConfigurationError(
                    f"--to names {found.registry.upload_url} twice ({earlier.name} and {found.name})",
                    hint="name each index once; the release goes to each in the given order",
                )
        targets.append(found)
    return targets


def _section_target(name: str, env: Mapping[str, str] | None, pypirc: Path | None) -> IndexTarget:
    environ = os.environ if env is None else env
    path = pypirc if pypirc is not None else pypirc_path(environ)
    sections = read_pypirc(path)
    if name not in sections:
        known = ", ".join(sorted(sections)) or "none"
        raise ConfigurationError(
            f"unknown index {name!r} in --to: not pypi, testpypi, an http(s):// upload URL, nor a section of "
            f"{str(path)!r} (sections: {known})",
            hint="use pypi, testpypi, the index's legacy upload URL, or add the section to .pypirc",
        )
    section = require_section(sections, name, path, option="--to")
    registry, userinfo = Registry.parse_with_userinfo(section.repository)
    where = f"the repository URL of .pypirc [{name}]"
    return IndexTarget(name, Target(registry, f"--to {name} (.pypirc)", userinfo, where), name)
