"""``UNKNOWN`` placeholders: old setuptools files pass preflight and the local index, as on PyPI.

Warehouse deletes every upload-form field whose (last) value is ``UNKNOWN`` before
validating, so ``Home-page: UNKNOWN`` and ``Author-email: UNKNOWN`` never reach the URL
and e-mail rules. Preflight must read metadata the same way, and the local index (its
own implementation) must too: the differential test at the end sends each case through
the real client upload path to the local index and compares the two verdicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distfactory import make_metadata, make_sdist, make_wheel
from tests.oldsetuptools import CRAFTED, OldBuild, build_old_setuptools, old_setuptools_pythons
from trustpub.checks import check_paths
from trustpub.dists import inspect, read_metadata
from trustpub.local.world import LocalWorld
from trustpub.secrets import Secret
from trustpub.transport import Transport
from trustpub.upload._types import UploadRejected, UploadRequest
from trustpub.upload.native import NativeUploader


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path_factory.mktemp("world")) as world:
        world.issue_api_token()
        yield world


def _upload(world: LocalWorld, path: Path) -> tuple[bool, str]:
    """The client's real upload path, without its preflight: (accepted, the index's message)."""
    dist = inspect(path)
    assert world.api_token is not None
    request = UploadRequest(
        path, dist.filename, dist.sha256, dist.blake2_256, dist.size, world.index.upload_url,
        "__token__", Secret(world.api_token),
    )
    try:
        result = NativeUploader(Transport()).upload(request, dist=dist)
    except UploadRejected as exc:
        return False, exc.message
    return result.outcome == "uploaded", result.message


def _errors(*paths: Path) -> list[str]:
    return [f.line() for f in check_paths(list(paths)).errors]


# --------------------------------------------------------------------------- real old setuptools


@pytest.fixture(scope="module")
def old_builds(tmp_path_factory: pytest.TempPathFactory) -> list[OldBuild]:
    pythons = old_setuptools_pythons()
    if not pythons:
        pytest.skip("no Python 3.7-3.9 with setuptools < 60 on this machine (pyenv provides them)")
    builds = []
    for python in pythons:
        tag = Path(python).parent.parent.name.replace(".", "")
        builds.append(build_old_setuptools(tmp_path_factory.mktemp(f"old{tag}"), python, name=f"oldpkg{tag}"))
    return builds


def test_real_old_setuptools_files_pass_preflight_and_upload(old_builds: list[OldBuild], world: LocalWorld) -> None:
    for build in old_builds:
        files = [build.sdist, *([build.wheel] if build.wheel else [])]
        for path in files:
            metadata = inspect(path).metadata or b""
            # The build is really old-style: the placeholder is there, and it is no URL.
            assert b"Home-page: UNKNOWN" in metadata, (build.setuptools, metadata)
        assert _errors(*files) == [], build.setuptools
        for path in files:
            accepted, message = _upload(world, path)
            assert accepted, (build.setuptools, path.name, message)


def test_real_old_setuptools_wheel_is_built_too(old_builds: list[OldBuild]) -> None:
    # bdist_wheel needs an old `wheel` (CPython's test data ships 0.40); without one
    # only sdists are covered above, which this test makes visible.
    assert any(build.wheel is not None for build in old_builds)
    setuptools_47 = [b for b in old_builds if b.setuptools.startswith("47.")]
    for build in setuptools_47:
        assert b"Author-email: UNKNOWN" in (inspect(build.sdist).metadata or b"")


# --------------------------------------------------------------------------- crafted copies (always run)


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_old_setuptools_files(kind: str, tmp_path: Path, world: LocalWorld) -> None:
    name = f"crafted-{kind.replace('.', '')}"
    metadata = CRAFTED[kind].replace(b"Name: oldpkg", f"Name: {name}".encode())
    if kind.startswith("sdist"):
        path = make_sdist(tmp_path, name.replace("-", "_"), "1.0", metadata=metadata)
    else:
        path = make_wheel(tmp_path, name.replace("-", "_"), "1.0", metadata=metadata)
    assert _errors(path) == []
    warnings = [f.rule for f in check_paths([path]).warnings]
    assert "description-present" in warnings  # an UNKNOWN description is no description
    assert _upload(world, path) == (True, "")


def test_read_metadata_drops_what_pypi_drops() -> None:
    raw, unparsed = read_metadata(CRAFTED["sdist-1.0"])
    assert raw == {"metadata_version": "1.0", "name": "oldpkg", "version": "1.0"}
    assert unparsed == {}
    raw, _ = read_metadata(CRAFTED["wheel-2.1"])
    assert "description" not in raw and "platforms" not in raw and "author_email" not in raw


# --------------------------------------------------------------------------- exact semantics, client vs local index


CASES: dict[str, tuple[list[tuple[str, str]], str | None]] = {
    # (extra fields, the error both must give; None: accepted)
    "home-page placeholder": ([("Home-page", "UNKNOWN")], None),
    "author-email placeholder": ([("Author-email", "UNKNOWN")], None),
    "placeholder with blanks": ([("Author-email", "UNKNOWN  ")], None),
    "lowercase is a value": ([("Author-email", "unknown")], "'unknown' is not a valid email address"),
    "not a placeholder": ([("Home-page", "UNKNOWN-ish")], "'UNKNOWN-ish' is not a valid url"),
    # PyPI looks at the last value of a repeated key and then drops all of them...
    "last classifier": (
        [("Classifier", "Programming Language :: Python :: 3"), ("Classifier", "UNKNOWN")], None
    ),
    # ... so an UNKNOWN before a real value is kept, and refused.
    "first classifier": (
        [("Classifier", "UNKNOWN"), ("Classifier", "Programming Language :: Python :: 3")],
        "'UNKNOWN' is not a valid classifier.",
    ),
    "license beside an expression": ([("License", "UNKNOWN"), ("License-Expression", "MIT")], None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_client_and_local_index_agree(case: str, tmp_path: Path, world: LocalWorld) -> None:
    fields, expected = CASES[case]
    name = "case-" + "".join(c if c.isalnum() else "-" for c in case).strip("-")
    metadata = make_metadata(name, "1.0", metadata_version="2.4", fields=fields)
    wheel = make_wheel(tmp_path, name.replace("-", "_"), "1.0", metadata=metadata)
    errors = _errors(wheel)
    accepted, message = _upload(world, wheel)
    if expected is None:
        assert errors == [] and accepted, (errors, message)
    else:
        assert len(errors) == 1 and expected in errors[0], errors
        assert not accepted and expected in message, message
