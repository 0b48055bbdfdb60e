"""Fuzzing the parsers that read what others wrote: no crash, no hang, only the documented errors.

Filenames, core metadata, archives (ZIP container and tar), attestation files, the
journal and the simple API's JSON are each driven with hypothesis. Examples are few
and deadlines short, so the whole file runs in seconds; what each test asserts is that
the parser either answers or raises its own error type, never anything else.
"""

from __future__ import annotations

import atexit
import dataclasses
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.distfactory import make_metadata, make_sdist, make_wheel
from trustpub.checks import check_distributions
from trustpub.dists import Distribution, inspect
from trustpub.zipcheck import InvalidZip, validate_zip

FAST = settings(max_examples=60, deadline=3000, suppress_health_check=[HealthCheck.too_slow])

_SEED_DIR = Path(tempfile.mkdtemp(prefix="trustpub-fuzz-"))
atexit.register(shutil.rmtree, _SEED_DIR, True)
_WHEEL = make_wheel(_SEED_DIR).read_bytes()
_SDIST = make_sdist(_SEED_DIR).read_bytes()
_REAL_ATTESTATION = (
    Path(__file__).resolve().parents[3] / "shared/corpora/pep740-real/pypi_attestations-0.0.19.tar.gz.publish.attestation"
).read_bytes()


(_SEED_DIR / "template").mkdir()
_TEMPLATE = inspect(make_wheel(_SEED_DIR / "template"))


def _bare(filename: str, metadata: bytes | None = None) -> Distribution:
    """A distribution with this name and metadata, and nothing else (no archive facts)."""
    from trustpub.dists import distribution_filetype

    return dataclasses.replace(
        _TEMPLATE, filename=filename, filetype=distribution_filetype(filename), metadata=metadata,
        members=(), wheel_file=None, entry_points=None, record_problems=(),
    )


def _check(dist: Distribution) -> None:
    report = check_distributions([dist])
    for finding in report.findings:
        assert finding.rule and finding.message
        finding.line()
        json.dumps(finding.to_json())


_name_parts = st.sampled_from(["demo_pkg", "Demo.Pkg", "x", "", "1.0", "1.0.0+local", "01", "py3", "none", "any",
                               "linux_x86_64", "manylinux_2_17_x86_64", "cp312", "1abc", "-", "."])


@FAST
@given(
    parts=st.lists(st.one_of(_name_parts, st.text(max_size=8)), min_size=0, max_size=7),
    ext=st.sampled_from([".whl", ".tar.gz", ".zip", ".egg", "", ".whl.whl"]),
)
def test_filename_rules_never_crash(parts: list[str], ext: str) -> None:
    _check(_bare("-".join(parts) + ext))


@FAST
@given(raw=st.binary(max_size=40))
def test_filenames_from_undecodable_bytes(raw: bytes) -> None:
    _check(_bare(os.fsdecode(raw.replace(b"/", b"_").replace(b"\0", b"_")) + ".whl"))


_header = st.tuples(
    st.sampled_from(["Metadata-Version", "Name", "Version", "Summary", "Author-email", "Classifier",
                     "Requires-Dist", "Project-URL", "License-Expression", "License-File", "Dynamic",
                     "Description-Content-Type", "Bad Header", "", "Home-page"]),
    st.one_of(st.text(max_size=30), st.sampled_from(["2.4", "1.0", "demo-pkg", "foo@", "<>", "a@b.org", "x @ http://y"])),
)


@FAST
@given(headers=st.lists(_header, max_size=8), body=st.text(max_size=80), noise=st.binary(max_size=8))
def test_metadata_rules_never_crash(headers: list[tuple[str, str]], body: str, noise: bytes) -> None:
    text = "".join(f"{k}: {v}\n" for k, v in headers).encode("utf-8", "surrogateescape")
    _check(_bare("demo_pkg-1.0.0-py3-none-any.whl", text + noise + b"\n" + body.encode()))


@FAST
@given(data=st.binary(max_size=300))
def test_metadata_from_random_bytes(data: bytes) -> None:
    _check(_bare("demo_pkg-1.0.0.tar.gz", data))


def _mutate(seed: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    return bytes(data[:cut] if cut is not None else data)


_edits = st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=6)


@FAST
@given(data=st.binary(max_size=400))
def test_zip_container_from_random_bytes(data: bytes) -> None:
    try:
        validate_zip(io.BytesIO(b"PK\x03\x04" + data if data[:1] == b"\0" else data))
    except InvalidZip as exc:
        assert exc.reason


@FAST
@given(kind=st.sampled_from(["whl", "tar.gz"]), edits=_edits, cut=st.one_of(st.none(), st.integers(0, 4000)))
def test_mutated_archives_are_inspected_and_checked(kind: str, edits: list[tuple[int, int]], cut: int | None) -> None:
    seed = _WHEEL if kind == "whl" else _SDIST
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("demo_pkg-1.0.0-py3-none-any.whl" if kind == "whl" else "demo_pkg-1.0.0.tar.gz")
        path.write_bytes(_mutate(seed, edits, cut))
        dist = inspect(path)  # never raises for a bad archive
        _check(dist)


@FAST
@given(edits=_edits, cut=st.one_of(st.none(), st.integers(0, 10_000)))
def test_attestation_parsing_of_mutated_real_attestations(edits: list[tuple[int, int]], cut: int | None) -> None:
    from trustpub.attest import inspect_document

    data = _mutate(_REAL_ATTESTATION, edits, cut)
    try:
        found = inspect_document(data, "fuzz.attestation")
    except ValueError as exc:
        assert str(exc)
    else:
        assert all(item.source for item in found)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["files", "runs", "filename", "hashes", "sha256", "state", "x"]), inner, max_size=4),
    max_leaves=12,
)


@FAST
@given(doc=_json)
def test_attestation_parsing_of_random_json(doc: object) -> None:
    from trustpub.attest import inspect_document

    try:
        inspect_document(json.dumps(doc).encode(), "fuzz.attestation")
    except ValueError as exc:
        assert str(exc)


@FAST
@given(doc=_json)
def test_simple_api_json_of_any_shape(doc: object) -> None:
    from trustpub.upload.simple import MalformedIndexResponse, parse_simple_json

    try:
        files = parse_simple_json(json.dumps(doc).encode())
    except MalformedIndexResponse as exc:
        assert "not a valid PEP 691 project page" in exc.message
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())


@settings(max_examples=40, deadline=3000)
@given(doc=_json)
def test_journal_of_any_shape_is_replaced(doc: object) -> None:
    from trustpub.journal import Journal

    with tempfile.TemporaryDirectory() as folder:
        journal = Journal.for_release(Path(folder), registry="https://127.0.0.1/legacy/", project="p", version="1")
        journal.path.parent.mkdir(parents=True)
        journal.path.write_text(json.dumps(doc))
        journal = Journal.for_release(Path(folder), registry="https://127.0.0.1/legacy/", project="p", version="1")
        journal.start_run(dry_run=False)
        journal.record("p-1.tar.gz", "uploaded", sha256="ab")
        assert journal.state("p-1.tar.gz") == "uploaded"
        journal.finish_run("ok")
        reread = json.loads(journal.path.read_text())
        assert reread["runs"][-1]["outcome"] == "ok"


def test_seed_files_are_clean() -> None:
    # The mutations start from good files, or they would test nothing.
    for name, data in (("demo_pkg-1.0.0-py3-none-any.whl", _WHEEL), ("demo_pkg-1.0.0.tar.gz", _SDIST)):
        path = _SEED_DIR / "clean" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        assert check_distributions([inspect(path)]).findings == []
    assert make_metadata()  # the metadata helper is the same one the mutations start from
