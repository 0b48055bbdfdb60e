"""The release model (issue 13): name and version are read in one place, with one set of rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distfactory import make_metadata, make_wheel
from trustpub.attest import release_provenance_name
from trustpub.dists import inspect
from trustpub.release import FileRelease, Release, parse_filename, single_release


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("Demo.Pkg-1.0-py3-none-any.whl", FileRelease("demo-pkg", "1.0")),
        ("demo_pkg-2.0rc1.tar.gz", FileRelease("demo-pkg", "2.0rc1")),
        ("demo_pkg-01.0.zip", FileRelease("demo-pkg", "1.0")),
        ("demo_pkg-1.0.tar.bz2", None),
        ("demo_pkg.whl", None),
        ("demo_pkg-not a version.tar.gz", None),
    ],
)
def test_parse_filename(filename: str, expected: FileRelease | None) -> None:
    assert parse_filename(filename) == expected


def test_single_release_groups_spellings_of_one_release() -> None:
    one = single_release(["Demo.Pkg-1.0-py3-none-any.whl", "demo_pkg-1.0.tar.gz"])
    assert one is not None and one.key == ("demo_pkg", "1.0")
    assert single_release(["demo_pkg-1.0.tar.gz", "demo_pkg-1.1.tar.gz"]) is None
    assert single_release(["demo_pkg-1.0.tar.gz", "notes.txt"]) is None
    assert single_release([]) is None


def test_provenance_name_comes_from_the_model() -> None:
    assert release_provenance_name(["Demo.Pkg-1.0-py3-none-any.whl", "demo_pkg-1.0.tar.gz"]) == (
        "demo_pkg-1.0.provenance.sigstore.json"
    )
    assert release_provenance_name(["a-1.0.tar.gz", "b-1.0.tar.gz"]).startswith("release.")


def test_release_of_inspected_files_takes_the_metadata_spelling(tmp_path: Path) -> None:
    wheel = inspect(make_wheel(tmp_path, metadata=make_metadata("Demo.Pkg", "1.0.0")))
    release = Release.of([wheel])
    assert release == Release("Demo.Pkg", "1.0.0")
    assert release.normalized_name == "demo-pkg"


def test_release_of_files_without_metadata_falls_back_to_the_filename(tmp_path: Path) -> None:
    bare = inspect(make_wheel(tmp_path, omit=("METADATA",)))
    assert bare.metadata is None
    assert Release.of([bare]) == Release("demo_pkg", "1.0.0")
    # The first file with readable metadata speaks for the release.
    (tmp_path / "full").mkdir()
    full = inspect(make_wheel(tmp_path / "full", metadata=make_metadata("Demo.Pkg", "1.0.0")))
    assert Release.of([bare, full]) == Release("Demo.Pkg", "1.0.0")
