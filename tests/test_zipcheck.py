"""The ZIP container check: PyPI's verdict and reason on its own corpus, crafted
archives for each main rule, bounded reads, and no crash on hostile bytes."""

from __future__ import annotations

import csv
import io
import struct
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SHARED
from trustpub import zipcheck
from trustpub.zipcheck import InvalidZip, validate_zip

CORPUS = Path("corpora") / "warehouse-zipdata"
# Collection needs the file names before fixtures exist, so list the folder the
# `shared_dir` fixture returns; the tests themselves open files through the fixture.
_ON_DISK = SHARED / CORPUS
REJECT = sorted(f"reject/{p.name}" for p in (_ON_DISK / "reject").glob("*") if p.is_file())
ACCEPT = sorted(f"accept/{p.name}" for p in (_ON_DISK / "accept").glob("*") if p.is_file())
UNPINNED = {"reject/cd_comment.zip"}  # refused upstream, reason not pinned
ACCEPT_COUNT = 10  # archives in upstream's accept/ folder


@pytest.fixture(scope="session")
def corpus(shared_dir: Path) -> Path:
    return shared_dir / CORPUS


@pytest.fixture(scope="session")
def expected(corpus: Path) -> dict[str, str]:
    with (corpus / "expected-rejections.tsv").open(newline="", encoding="utf-8") as f:
        return {row["file"]: row["expected_reason"] for row in csv.DictReader(f, delimiter="\t")}


def verdict(data: bytes) -> str | None:
    """None if accepted, else the reason; any other exception fails the test."""
    try:
        validate_zip(io.BytesIO(data))
    except InvalidZip as exc:
        assert exc.reason
        assert str(exc) == exc.reason
        return exc.reason
    return None


# -- the corpus, read in place ----------------------------------------------------------


def test_corpus_is_complete(corpus: Path, expected: dict[str, str]) -> None:
    reject = sorted(f"reject/{p.name}" for p in (corpus / "reject").iterdir())
    accept = sorted(f"accept/{p.name}" for p in (corpus / "accept").iterdir())
    assert set(reject) == set(expected) | UNPINNED, "reject/ and the TSV disagree"
    assert len(reject) == len(expected) + len(UNPINNED)
    assert len(accept) == ACCEPT_COUNT
    # Every file on disk got its own parametrized test below.
    assert (reject, accept) == (REJECT, ACCEPT)


@pytest.mark.parametrize("name", REJECT)
def test_corpus_reject(name: str, corpus: Path, expected: dict[str, str]) -> None:
    with (corpus / name).open("rb") as fp, pytest.raises(InvalidZip) as caught:
        validate_zip(fp)
    if name not in UNPINNED:
        assert caught.value.reason == expected[name]


@pytest.mark.parametrize("name", ACCEPT)
def test_corpus_accept(name: str, corpus: Path) -> None:
    with (corpus / name).open("rb") as fp:
        validate_zip(fp)


# -- archives crafted byte by byte --------------------------------------------------------


@dataclass
class Member:
    """One stored member; the ``local_*`` fields let its two headers disagree."""

    name: bytes
    data: bytes = b"hello"
    flags: int = 0
    extract_version: int = 20
    central_extra: bytes = b""
    central_comment: bytes = b""
    local_name: bytes | None = None
    local_sizes: tuple[int, int] | None = None
    write_local: bool = True


LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
CENTRAL_HEADER = struct.Struct("<4s4B4HL2L5H2L")
END_RECORD = struct.Struct("<4s4H2LH")
DOS_DATE = 0x21  # 1980-01-01


def raw_zip(*members: Member, trailer: bytes = b"") -> bytes:
    """Assemble a stored ZIP with struct, without zipfile's guard rails."""
    body = bytearray()
    central = bytearray()
    offset = 0
    for m in members:
        crc = zlib.crc32(m.data)
        size = len(m.data)
        if m.write_local:
            offset = len(body)
            name = m.name if m.local_name is None else m.local_name
            csize, usize = m.local_sizes or (size, size)
            common = (m.flags, 0, 0, DOS_DATE, crc, csize, usize)
            body += LOCAL_HEADER.pack(b"PK\x03\x04", 20, 0, *common, len(name), 0)
            body += name + m.data
        lengths = (len(m.name), len(m.central_extra), len(m.central_comment))
        common = (m.flags, 0, 0, DOS_DATE, crc, size, size)
        central += CENTRAL_HEADER.pack(
            b"PK\x01\x02", 20, 3, m.extract_version, 0, *common, *lengths, 0, 0, 0, offset
        )
        central += m.name + m.central_extra + m.central_comment
    count = len(members)
    end = END_RECORD.pack(b"PK\x05\x06", 0, 0, count, count, len(central), len(body), 0)
    return bytes(body + central + end) + trailer


def built_zip(*names: str, comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            zf.writestr(name, f"content of {name}\n" * 3)
        zf.comment = comment
    return buf.getvalue()


def test_raw_builder_makes_valid_archives() -> None:
    data = raw_zip(Member(b"a.txt"), Member(b"pkg/b.py", b""))
    assert verdict(data) is None
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("a.txt") == b"hello"


def test_ordinary_archives_pass() -> None:
    assert verdict(built_zip("pkg/__init__.py", "pkg/é.py", "pkg-1.0.dist-info/RECORD")) is None
    assert verdict(built_zip()) is None  # empty archive
    assert verdict(built_zip("a", comment=b"archive comments are fine")) is None


def test_forced_zip64_headers_pass() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        with zf.open("big", "w", force_zip64=True) as member:
            member.write(b"x" * 100)
        zf.writestr("small", b"y")
    assert verdict(buf.getvalue()) is None


def test_trailing_data() -> None:
    assert verdict(built_zip("a.txt") + b"junk") == "Trailing data"
    assert verdict(raw_zip(Member(b"a"), trailer=b"\x00" * 30)) == "Trailing data"


def test_prepended_data() -> None:
    # zipfile tolerates a prefix (self-extracting stubs); a streaming reader does not.
    assert verdict(b"#!/bin/sh\n" + built_zip("a.txt")) == "Unknown record signature"


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.buf = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        return self.buf.write(b)  # type: ignore[arg-type]


def test_data_descriptor() -> None:
    # zipfile writing to an unseekable stream puts sizes in a data descriptor.
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w") as zf:
        zf.writestr("a.txt", b"hello")
    data = sink.buf.getvalue()
    assert struct.unpack_from("<H", data, 6)[0] & 0x08
    assert verdict(data) == "ZIP contains a data descriptor"


def test_duplicate_names() -> None:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("a.txt", b"one")
            zf.writestr("a.txt", b"two")
    assert verdict(buf.getvalue()) == "Duplicate filename in local headers"


def test_local_name_differs_from_central_directory() -> None:
    data = raw_zip(Member(b"a.txt", local_name=b"b.txt"))
    assert verdict(data) == "Filename not in central directory"


def test_local_sizes_differ_from_central_directory() -> None:
    assert verdict(raw_zip(Member(b"a", local_sizes=(4, 5)))) == "Mis-matched data size"
    assert verdict(raw_zip(Member(b"a", local_sizes=(5, 6)))) == "Mis-matched file size"


def test_central_entry_without_local_header() -> None:
    data = raw_zip(Member(b"a"), Member(b"b", write_local=False))
    assert verdict(data) == "Missing filename in local headers"


def test_names_must_be_utf8() -> None:
    # Latin-1 bytes, no UTF-8 flag: zipfile reads cp437, the local name is not UTF-8.
    assert verdict(raw_zip(Member(b"caf\xe9.txt"))) == "Filename not unicode"
    # UTF-8 bytes without the UTF-8 flag: the two views decode different names.
    unflagged = raw_zip(Member("café.txt".encode()))
    assert verdict(unflagged) == "Filename not in central directory"
    assert verdict(raw_zip(Member("café.txt".encode(), flags=0x800))) is None
    # Flagged but not UTF-8: zipfile itself fails on it.
    assert verdict(raw_zip(Member(b"caf\xe9.txt", flags=0x800))) == "Filename not unicode"


def test_unprintable_name() -> None:
    assert verdict(built_zip("a\x01b.txt")) == "Invalid character in filename"
    assert verdict(raw_zip(Member(b"tab\there"))) == "Invalid character in filename"
    assert verdict(raw_zip(Member(b"space is fine.txt"))) is None


def test_comment_on_a_member() -> None:
    assert verdict(raw_zip(Member(b"a", central_comment=b"hi"))) == "Comment in central directory"


def test_zipfile_stage_errors() -> None:
    assert verdict(raw_zip(Member(b"a", extract_version=64))) == "zip file version 6.4"
    bad_path = struct.pack("<HHBL", 0x7075, 7, 1, zlib.crc32(b"a")) + b"\xff\xfe"
    assert (
        verdict(raw_zip(Member(b"a", central_extra=bad_path)))
        == "Corrupt unicode path extra field (0x7075): invalid utf-8 bytes"
    )
    assert verdict(b"") == "File is not a zip file"
    assert verdict(b"PK\x05\x06" + b"\x00" * 17) == "File is not a zip file"


def test_entry_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    data = built_zip(*(f"m{i}" for i in range(5)))
    assert verdict(data) is None
    monkeypatch.setattr(zipcheck, "MAX_ENTRIES", 3)
    assert verdict(data) == "ZIP has more than 3 entries"


# -- resources ------------------------------------------------------------------------------


class CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.reads.append(len(data))
        return data


def test_member_data_is_skipped_not_read() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("big.bin", b"\x00" * (4 * 1024 * 1024))
        for i in range(20):
            zf.writestr(f"pkg/m{i}.py", b"pass\n")
    fp = CountingReader(buf.getvalue())
    validate_zip(fp)
    assert sum(fp.reads) < 200 * 1024
    assert max(fp.reads) <= 256 * 1024


def test_huge_directory_claim_is_not_read() -> None:
    data = bytearray(built_zip("a.txt"))
    struct.pack_into("<L", data, len(data) - 10, 0xFFFF_FFF0)  # central directory size
    fp = CountingReader(bytes(data))
    with pytest.raises(InvalidZip, match="Bad offset for central directory"):
        validate_zip(fp)
    assert sum(fp.reads) <= len(data)


def test_position_is_restored() -> None:
    fp = io.BytesIO(built_zip("a.txt"))
    fp.seek(7)
    validate_zip(fp)
    assert fp.tell() == 7
    bad = io.BytesIO(b"not a zip at all, definitely")
    bad.seek(3)
    with pytest.raises(InvalidZip):
        validate_zip(bad)
    assert bad.tell() == 3


def test_small_wheel_is_fast() -> None:
    data = built_zip(*(f"pkg/module_{i}.py" for i in range(50)))
    fp = io.BytesIO(data)
    validate_zip(fp)
    runs = 50
    start = time.perf_counter()
    for _ in range(runs):
        validate_zip(fp)
    # Typically ~0.2 ms; the bound only catches a gross regression (quadratic work,
    # reading member data).
    assert (time.perf_counter() - start) / runs < 0.005


# -- hostile bytes: accepted or InvalidZip, never anything else ----------------------------

SIGNATURES = [
    b"PK\x01\x02",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"PK\x06\x06",
    b"PK\x06\x07",
    b"PK\x07\x08",
]
FAST = settings(max_examples=250, deadline=timedelta(milliseconds=200))


@FAST
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    verdict(data)


@FAST
@given(st.lists(st.one_of(st.sampled_from(SIGNATURES), st.binary(max_size=60)), max_size=24))
def test_random_records(parts: list[bytes]) -> None:
    verdict(b"".join(parts))


@pytest.fixture(scope="session")
def seeds(corpus: Path) -> list[bytes]:
    """Accepted archives to mutate: the corpus's, a deflated one, a forced-ZIP64 one."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, zf.open("z64", "w", force_zip64=True) as member:
        member.write(b"data")
    accepted = [(corpus / name).read_bytes() for name in ACCEPT]
    return [*accepted, built_zip("pkg/__init__.py", "pkg/é.py", comment=b"c"), buf.getvalue()]


@FAST
@given(st.data())
def test_mutated_archives(seeds: list[bytes], data: st.DataObject) -> None:
    seed = bytearray(data.draw(st.sampled_from(seeds), label="seed"))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        if not seed:
            break
        at = data.draw(st.integers(0, len(seed) - 1), label="at")
        kind = data.draw(st.sampled_from(["truncate", "flip", "ones", "zero", "signature"]))
        if kind == "truncate":
            del seed[at:]
        elif kind == "flip":
            seed[at] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        elif kind == "ones":
            seed[at : at + 4] = b"\xff\xff\xff\xff"
        elif kind == "zero":
            seed[at : at + 2] = b"\x00\x00"
        else:
            seed[at : at + 4] = data.draw(st.sampled_from(SIGNATURES))
    verdict(bytes(seed))


@FAST
@given(st.data())
def test_truncated_archive_is_refused(data: st.DataObject) -> None:
    whole = built_zip("pkg/__init__.py", "pkg-1.0.dist-info/METADATA")
    cut = data.draw(st.integers(0, len(whole) - 1))
    assert verdict(whole[:cut]) is not None
