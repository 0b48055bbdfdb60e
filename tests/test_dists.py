"""Inspection of real and hostile files: digests in one read, bounded, never an exception."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.distfactory import make_sdist, make_wheel
from trustpub.checks import check_distributions
from trustpub.dists import hash_file, inspect, inspect_many


def test_hash_file_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # spans several read chunks
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    h = hash_file(path)
    assert h.sha256 == hashlib.sha256(data).hexdigest()
    assert h.blake2_256 == hashlib.blake2b(data, digest_size=32).hexdigest()
    assert h.size == len(data)


def test_hash_file_reads_the_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (3 * 1024 * 1024 + 5))
    opened: list[str] = []
    real_open = open

    def counting_open(file: object, *args: object, **kwargs: object) -> object:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", counting_open)
    hash_file(path)
    assert opened == [str(path)]


def test_inspect_wheel_and_sdist(tmp_path: Path) -> None:
    wheel = inspect(make_wheel(tmp_path, entry_points="[console_scripts]\ndemo = demo_pkg:main\n"))
    assert wheel.filetype == "bdist_wheel"
    assert wheel.metadata_path == "demo_pkg-1.0.0.dist-info/METADATA"
    assert wheel.metadata and b"Name: demo-pkg" in wheel.metadata
    assert wheel.entry_points and b"console_scripts" in wheel.entry_points
    assert wheel.archive_error is None
    sdist = inspect(make_sdist(tmp_path))
    assert sdist.filetype == "sdist"
    assert sdist.metadata_path == "demo_pkg-1.0.0/PKG-INFO"
    assert sdist.top_level_dirs == ("demo_pkg-1.0.0",)


def test_zip_corpus_reject_all_refused(shared_dir: Path, tmp_path: Path) -> None:
    reject = sorted((shared_dir / "corpora/warehouse-zipdata/reject").iterdir())
    assert len(reject) >= 30
    for path in reject:
        # Give each a wheel name so the container check is what decides.
        target = tmp_path / "demo_pkg-1.0.0-py3-none-any.whl"
        target.write_bytes(path.read_bytes())
        dist = inspect(target)
        assert dist.archive_error is not None, path.name
        report = check_distributions([dist])
        assert any(f.rule == "archive-valid" for f in report.errors), path.name


def test_zip_corpus_accept_passes_container_check(shared_dir: Path, tmp_path: Path) -> None:
    for path in sorted((shared_dir / "corpora/warehouse-zipdata/accept").iterdir()):
        target = tmp_path / "demo_pkg-1.0.0-py3-none-any.whl"
        target.write_bytes(path.read_bytes())
        reason = inspect(target).archive_error
        # Not wheels, so the WHEEL member is missing; the container itself must pass.
        assert reason is None or not reason.startswith(("ZIP archive not accepted", "File is not")), (path.name, reason)


def test_member_read_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trustpub.dists.limits.MAX_MEMBER_READ", 1000)
    big_meta = b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0.0\n\n" + b"x" * 5000
    dist = inspect(make_wheel(tmp_path, metadata=big_meta))
    assert dist.oversized_member == ("demo_pkg-1.0.0.dist-info/METADATA", len(big_meta))
    # Reported as what it is, once: not as "File is not a zipfile", not as a missing METADATA.
    assert dist.archive_error is None and dist.metadata is None
    findings = check_distributions([dist]).errors
    assert [f.rule for f in findings] == ["archive-member-size"]
    assert "demo_pkg-1.0.0.dist-info/METADATA is 0.0 MiB; metadata files over 0 MiB" in findings[0].message


def test_oversized_pkg_info_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trustpub.dists.limits.MAX_MEMBER_READ", 1000)
    meta = b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0.0\n\n" + b"x" * 5000
    dist = inspect(make_sdist(tmp_path, metadata=meta))
    assert dist.oversized_member == ("demo_pkg-1.0.0/PKG-INFO", len(meta))
    assert [f.rule for f in check_distributions([dist]).errors] == ["archive-member-size"]


def test_unparseable_wheel_name_is_not_looked_into(tmp_path: Path) -> None:
    # PyPI refuses 'x-1.0.0.whl' by name; a second error about 'x-1.0.0.whl.dist-info/WHEEL' is noise.
    dist = inspect(make_wheel(tmp_path, filename="x-1.0.0.whl"))
    assert dist.dist_info_dir == "x-1.0.0.dist-info"
    assert [f.rule for f in check_distributions([dist]).errors] == ["wheel-filename"]


def test_not_regular_entries_are_never_opened(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "demo_pkg-1.0.0.tar.gz"
    os.mkfifo(fifo)  # opening it would block this test forever
    (dist,) = inspect_many([fifo])
    assert dist.not_regular == "a named pipe (FIFO)" and dist.sha256 == ""
    assert [f.rule for f in check_distributions([dist]).findings] == ["file-regular"]


def test_record_hashes_are_verified(tmp_path: Path) -> None:
    from tests.checks.crafted import rewrite_wheel

    good = inspect(make_wheel(tmp_path))
    assert good.record_problems == ()
    (tmp_path / "edited").mkdir()
    edited = rewrite_wheel(make_wheel(tmp_path / "edited"), {"demo_pkg/__init__.py": b"other\n"}, fix_record=False)
    bad = inspect(edited)
    assert bad.record_problems == ("demo_pkg/__init__.py (hash differs)",)


_SEEDS: dict[str, bytes] = {}


def _seed(kind: str, tmp: Path) -> bytes:
    if kind not in _SEEDS:
        path = make_wheel(tmp) if kind == "whl" else make_sdist(tmp)
        _SEEDS[kind] = path.read_bytes()
    return _SEEDS[kind]


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["whl", "tar.gz"]),
    mutation=st.one_of(
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 0.9999), st.integers(0, 7)), min_size=1, max_size=8)),
        st.tuples(st.just("random"), st.binary(max_size=4096)),
    ),
)
def test_damaged_archives_give_clean_findings(tmp_path: Path, kind: str, mutation: tuple[str, object]) -> None:
    data = bytearray(_seed(kind, tmp_path))
    op, arg = mutation
    if op == "truncate":
        assert isinstance(arg, float)
        data = data[: int(len(data) * arg)]
    elif op == "flip":
        assert isinstance(arg, list)
        for pos, bit in arg:
            data[int(pos * len(data))] ^= 1 << bit
    else:
        assert isinstance(arg, bytes)
        data = bytearray(arg)
    target = tmp_path / ("demo_pkg-1.0.0-py3-none-any.whl" if kind == "whl" else "demo_pkg-1.0.0.tar.gz")
    target.write_bytes(bytes(data))
    dist = inspect(target)  # must not raise
    report = check_distributions([dist])  # must not raise either
    for finding in report.findings:
        assert finding.message and finding.rule


def test_tar_with_absolute_member_is_flagged_not_extracted(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("demo_pkg-1.0.0/PKG-INFO", b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0.0\n"), ("/etc/passwd-owned", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    path = tmp_path / "demo_pkg-1.0.0.tar.gz"
    path.write_bytes(buf.getvalue())
    dist = inspect(path)
    assert "/etc/passwd-owned" in dist.unsafe_members
    assert not Path("/etc/passwd-owned").exists()


def test_zip_sdist_is_inspected_then_refused(tmp_path: Path) -> None:
    path = make_sdist(tmp_path, filename="demo_pkg-1.0.0.zip")
    dist = inspect(path)
    assert zipfile.is_zipfile(path) and dist.metadata is not None
    assert [f.rule for f in check_distributions([dist]).errors] == ["filename-extension"]
