"""Which index a release goes to: ``--to``, ``--testpypi``, ``--repository``, or twine's variables.

The target is decided before any credential is looked at, because a credential
belongs to the index it was configured for and is only ever sent there. In order:

1. ``--repository NAME``: the ``repository`` URL of that ``.pypirc`` section (the
   section's credentials come with it). ``--to``/``--testpypi`` may be given too, but
   must name the same index, or the release stops with an error naming both.
2. ``--to INDEX`` (or ``--testpypi``).
3. ``TWINE_REPOSITORY_URL``, then ``TWINE_REPOSITORY`` (a ``.pypirc`` section name),
   as twine reads them, so a twine job's environment works unchanged.
4. PyPI.

A ``user:password@`` in the chosen URL is split off here (:class:`Target.userinfo`);
the :class:`~trustpub.registry.Registry` never contains it::

    >>> target = resolve_target(to="https://__token__:pypi-AgE@pypi.example.org/legacy/", env={})
    >>> target.registry.upload_url, target.origin
    ('https://pypi.example.org/legacy/', '--to')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trustpub.errors import ConfigurationError
from trustpub.pypirc import pypirc_path, read_pypirc, require_section
from trustpub.registry import Registry, UrlUserinfo

__all__ = ["Target", "resolve_target"]


@dataclass(frozen=True)
class Target:
    """The index of a release, where that choice came from, and the URL's userinfo if any.

    ``origin`` names the option or variable in messages: ``--to``, ``--testpypi``,
    ``--repository NAME``, ``TWINE_REPOSITORY_URL``, ``TWINE_REPOSITORY=NAME`` or ``default``.
    """

    registry: Registry
    origin: str
    userinfo: UrlUserinfo | None = field(default=None, repr=False)
    #: Where ``userinfo`` was written, for messages: "the --to URL", "TWINE_REPOSITORY_URL", …
    userinfo_source: str = ""


def resolve_target(
    *,
    to: str | None = None,
    testpypi: bool = False,
    repository: str | None = None,
    env: Mapping[str, str] | None = None,
    pypirc: Path | None = None,
) -> Target:
    """Decide the index (see the module docstring); reads ``.pypirc`` only for a section name.

    Raises :class:`ConfigurationError` when options disagree, a section is missing or
    has no URL, or a URL is not an index URL. Makes no network call.
    """
    environ = os.environ if env is None else env
    cli: Target | None = None
    if to is not None:
        registry, userinfo = Registry.parse_with_userinfo(to)
        cli = Target(registry, "--to", userinfo, "the --to URL")
    if testpypi:
        test = Registry.parse("testpypi")
        if cli is not None and not cli.registry.same_index(test):
            raise ConfigurationError(
                f"--testpypi and --to {cli.registry} name different indexes",
                hint="give one of the two",
            )
        cli = cli or Target(test, "--testpypi")

    if repository:
        path = pypirc if pypirc is not None else pypirc_path(environ)
        section = require_section(read_pypirc(path), repository, path, option="--repository")
        registry, userinfo = Registry.parse_with_userinfo(section.repository)
        where = f"the repository URL of .pypirc [{repository}]"
        if cli is not None:
            if not cli.registry.same_index(registry):
                given = cli.origin if cli.origin == "--testpypi" else f"{cli.origin} {cli.registry}"
                raise ConfigurationError(
                    f"{given} and --repository {repository} disagree: the [{repository}] "
                    f"section of {str(path)!r} is for {registry.upload_url}, and its credentials are only "
                    "sent there",
                    hint=f"drop {cli.origin} (the section's URL is the target), or use the section for that index",
                )
            if cli.userinfo is not None:
                userinfo, where = cli.userinfo, cli.userinfo_source
        return Target(registry, f"--repository {repository}", userinfo, where)
    if cli is not None:
        return cli

    twine_url = environ.get("TWINE_REPOSITORY_URL", "").strip()
    if twine_url:
        registry, userinfo = Registry.parse_with_userinfo(twine_url)
        return Target(registry, "TWINE_REPOSITORY_URL", userinfo, "TWINE_REPOSITORY_URL")
    twine_name = environ.get("TWINE_REPOSITORY", "").strip()
    if twine_name:
        path = pypirc if pypirc is not None else pypirc_path(environ)
        sections = read_pypirc(path)
        if twine_name in ("pypi", "testpypi") and twine_name not in sections:
            return Target(Registry.parse(twine_name), f"TWINE_REPOSITORY={twine_name}")
        section = require_section(sections, twine_name, path, option="TWINE_REPOSITORY")
        registry, userinfo = Registry.parse_with_userinfo(section.repository)
        where = f"the repository URL of .pypirc [{twine_name}]"
        return Target(registry, f"TWINE_REPOSITORY={twine_name}", userinfo, where)
    return Target(Registry.parse("pypi"), "default")
