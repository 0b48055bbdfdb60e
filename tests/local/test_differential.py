"""Preflight and the local index, two implementations of PyPI's rules, must agree.

trustpub's preflight (``trustpub.checks``, ``trustpub.zipcheck``, ``trustpub.pep740``)
and the local index (``trustpub.local``, which imports none of them; ``make layers``
enforces that) are written separately from ``warehouse-contract.md``. Here both judge
the same files and must give the same verdict, accept or refuse:

- every file of the shared corpora (``/work/shared/corpora/*``, read in place), uploaded
  whole to a running local index, and at the level each corpus is about: the ZIP
  container for ``warehouse-zipdata`` (also held to PyPI's own reasons), the PEP 740
  attestations for ``pep740-real``;
- the test corpus: distributions built by a real build backend, and ones crafted to
  break one rule each.

A disagreement means one side is wrong; the contract says which.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypi_attestations import GitHubPublisher
from sigstore.verify import Verifier

from tests.checks.crafted import make_tar, rewrite_wheel
from tests.distfactory import make_metadata, make_sdist, make_wheel
from tests.local._dists import multipart
from trustpub import dists
from trustpub.checks import check_distributions
from trustpub.local import _pep740, _zipfiles
from trustpub.local.index import LocalIndex
from trustpub.pep740 import AttestationRejected, verify_attestation_set
from trustpub.upload.form import digest_fields, form_fields
from trustpub.zipcheck import InvalidZip, validate_zip

REPO = Path(__file__).resolve().parents[2]

# -- the two verdicts ----------------------------------------------------------------


@dataclass(frozen=True)
class Verdicts:
    preflight: list[str]  # "[rule] message" of each preflight error
    index: tuple[int, str]  # status and reason phrase of the upload

    @property
    def agree(self) -> bool:
        return (not self.preflight) == (self.index[0] == 200)


def preflight(path: Path, *, strict: bool = False) -> list[str]:
    """Preflight's errors on ``path``: its refusal. Warnings (advice beyond PyPI's rules,
    such as RECORD hashes) do not refuse, unless ``strict``."""
    report = check_distributions([dists.inspect(path)])
    findings = report.findings if strict else report.errors
    return [f"[{f.rule}] {f.message}" for f in findings]


def _fallback_form(path: Path) -> list[tuple[str, str]]:
    """A form for a file without readable metadata: name and version from the file name."""
    stem = path.name.split(".")[0]
    name, _, version = stem.partition("-")
    version = version.split("-")[0] or "1.0"
    wheel = path.name.endswith(".whl")
    return [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("filetype", "bdist_wheel" if wheel else "sdist"),
        ("pyversion", "py3" if wheel else "source"),
        ("metadata_version", "2.1"),
        ("name", name or "corpus"),
        ("version", version),
    ]


def upload(index: LocalIndex, token: str, path: Path) -> tuple[int, str]:
    """POST ``path`` as trustpub's uploader fills the form (its metadata, its digests)."""
    dist = dists.inspect(path)
    data = path.read_bytes()
    try:
        fields = form_fields(dist)
    except Exception:  # no metadata to send: the index still judges the file
        fields = _fallback_form(path)
    fields += digest_fields(hashlib.sha256(data).hexdigest())
    body, content_type = multipart(fields, [("content", path.name, data, "application/octet-stream")])
    auth = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", index._server.port, timeout=60)
    try:
        conn.request(
            "POST",
            "/legacy/",
            body,
            {"Content-Type": content_type, "Authorization": auth, "Accept": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        return response.status, response.reason
    finally:
        conn.close()


@pytest.fixture
def judge(tmp_path: Path) -> Iterator[Callable[[Path], Verdicts]]:
    """Both verdicts on a file; a fresh index each test, so file names never collide."""
    with LocalIndex(tmp_path / "index") as index:
        token = index.add_api_token(None)

        def run(path: Path) -> Verdicts:
            return Verdicts(preflight(path), upload(index, token, path))

        yield run


def _assert_agree(verdicts: Verdicts, path: Path, expect_accept: bool | None = None) -> None:
    assert verdicts.agree, f"{path.name}: preflight {verdicts.preflight} vs index {verdicts.index}"
    if expect_accept is not None:
        accepted = verdicts.index[0] == 200
        assert accepted == expect_accept, f"{path.name}: {verdicts}"


# -- shared corpus: warehouse-zipdata ------------------------------------------------

ZIPDATA = REPO.parent / "shared" / "corpora" / "warehouse-zipdata"


def _zipdata() -> list[Path]:
    return sorted((ZIPDATA / "accept").iterdir()) + sorted(
        p for p in (ZIPDATA / "reject").iterdir()
    )


def _expected_reasons() -> dict[str, str]:
    lines = (ZIPDATA / "expected-rejections.tsv").read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines[1:] if line.strip())


# Reasons that come from Python's zipfile (the first of PyPI's two views). PyPI runs a
# Python (3.14) whose zipfile checks ZIP64 end records more strictly than older ones;
# on those the streaming view refuses the same archives, with its own reason.
_STRICT_ZIP64_REASONS = frozenset(
    {
        "Corrupt zip64 end of central directory locator",
        "Corrupt zip64 end of central directory record",
        "ZIP64 extensible data not allowed",
    }
)


@pytest.mark.parametrize("path", _zipdata(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_zip_containers_same_verdict_and_pypis_reason(path: Path) -> None:
    with path.open("rb") as fp:
        try:
            validate_zip(fp)
            client = None
        except InvalidZip as exc:
            client = exc.reason
    local = _zipfiles.zip_problem(path)
    should_accept = path.parent.name == "accept"
    assert (client is None, local is None) == (should_accept, should_accept), (client, local)
    expected = _expected_reasons().get(f"reject/{path.name}")
    if expected is None:
        return
    assert client == expected
    if local != expected:  # only the zipfile-dependent reasons may differ, see above
        assert expected in _STRICT_ZIP64_REASONS and sys.version_info < (3, 13), local


@pytest.mark.parametrize("path", _zipdata(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_zip_corpus_uploaded_whole(judge: Callable[[Path], Verdicts], path: Path) -> None:
    # Not distributions (no PKG-INFO, no WHEEL): both must refuse every one, whatever
    # the first reason each finds.
    _assert_agree(judge(path), path, expect_accept=False)


# -- shared corpus: pep740-real ------------------------------------------------------

REAL = REPO.parent / "shared" / "corpora" / "pep740-real"
REAL_SDISTS = sorted(REAL.glob("*.tar.gz"))
REAL_ATTESTATIONS = [
    ("pypi_attestations-0.0.19.tar.gz", "pypi_attestations-0.0.19.tar.gz.publish.attestation", "trailofbits/pypi-attestations"),
    ("pypi_attestations-0.0.19.tar.gz", "pypi_attestations-0.0.19.tar.gz.slsa.attestation", "trailofbits/pypi-attestations"),
    ("pypi_attestation_models-0.0.4a2.tar.gz", "pypi_attestation_models-0.0.4a2.tar.gz.attestation", "trailofbits/pypi-attestation-models"),
]


@pytest.mark.parametrize("path", REAL_SDISTS, ids=lambda p: p.name)
def test_real_sdists_uploaded_whole(judge: Callable[[Path], Verdicts], path: Path) -> None:
    _assert_agree(judge(path), path)


@pytest.fixture(scope="module")
def production() -> Verifier:
    from trustpub.attest._trust import load_trust_config

    return load_trust_config("production").verifier(offline=True)


def _both(field: str, filename: str, sha256: str, publisher: GitHubPublisher, verifier: Verifier) -> tuple[str | None, str | None]:
    try:
        verify_attestation_set(field, filename=filename, sha256=sha256, publisher=publisher, verifier=verifier)
        client = None
    except AttestationRejected as exc:
        client = exc.reason
    try:
        _pep740.parse_attestations(field, filename, sha256, publisher, verifier)
        local = None
    except _pep740.AttestationsRefused as exc:
        local = str(exc)
    return client, local


@pytest.mark.parametrize(("dist", "attestation", "repository"), REAL_ATTESTATIONS)
def test_real_attestations_same_verdicts(production: Verifier, dist: str, attestation: str, repository: str) -> None:
    document = json.loads((REAL / attestation).read_bytes())
    sha256 = hashlib.sha256((REAL / dist).read_bytes()).hexdigest()
    right = GitHubPublisher(repository=repository, workflow="release.yml")
    one = json.dumps([document])
    cases: dict[str, tuple[tuple[str, str, GitHubPublisher], bool]] = {
        "as published": ((one, sha256, right), True),
        "another repository": ((one, sha256, GitHubPublisher(repository="octo-org/demo", workflow="release.yml")), False),
        "another workflow": ((one, sha256, GitHubPublisher(repository=repository, workflow="other.yml")), False),
        "another file": ((one, hashlib.sha256(b"other").hexdigest(), right), False),
        "uppercase digest": ((one, sha256.upper(), right), False),
        "the same twice": ((json.dumps([document, document]), sha256, right), False),
        "three": ((json.dumps([document] * 3), sha256, right), False),
        "empty set": (("[]", sha256, right), False),
        "not a list": ((json.dumps(document), sha256, right), False),
    }
    for case, ((field, digest, publisher), accepted) in cases.items():
        client, local = _both(field, dist, digest, publisher, production)
        assert (client is None, local is None) == (accepted, accepted), (case, client, local)
        if not accepted:  # same rule, same words (pydantic details aside)
            assert client is not None and local is not None
            assert client.split(":")[0] == local.split(":")[0], (case, client, local)


# -- the test corpus: real builds and crafted files ---------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The demo project built by its real build backend (hatchling), wheel and sdist."""
    out = tmp_path_factory.mktemp("built")
    project = out / "project"
    shutil.copytree(REPO / "examples" / "demo", project, ignore=shutil.ignore_patterns("dist"))
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out / "dist"), str(project)],
        check=True,
        capture_output=True,
    )
    return sorted((out / "dist").iterdir())


def test_real_builds_are_accepted_by_both(judge: Callable[[Path], Verdicts], built: list[Path]) -> None:
    assert {p.suffix for p in built} == {".whl", ".gz"}
    for path in built:
        _assert_agree(judge(path), path, expect_accept=True)


def _data_descriptor_wheel(directory: Path) -> Path:
    (directory / "src").mkdir()
    good = make_wheel(directory / "src")
    buffer = io.BytesIO()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(_Unseekable(buffer), "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    path = directory / good.name
    path.write_bytes(buffer.getvalue())
    return path


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors, as streaming zippers do."""

    def __init__(self, sink: io.BytesIO) -> None:
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self._sink.write(data)

    def flush(self) -> None:
        pass


def _append(path: Path, data: bytes) -> Path:
    path.write_bytes(path.read_bytes() + data)
    return path


def _tar(directory: Path, filename: str, members: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    path = directory / filename
    path.write_bytes(buffer.getvalue())
    return path


DIST_INFO = "demo_pkg-1.0.0.dist-info"
EP = f"{DIST_INFO}/entry_points.txt"

#: name -> (how to build it in a folder, whether PyPI accepts it)
CRAFTED: dict[str, tuple[Callable[[Path], Path], bool]] = {
    "wheel": (lambda d: make_wheel(d), True),
    "sdist": (lambda d: make_sdist(d), True),
    "manylinux wheel": (lambda d: make_wheel(d, tag="cp312-cp312-manylinux_2_17_x86_64"), True),
    "macos 11.0 wheel": (lambda d: make_wheel(d, tag="cp312-cp312-macosx_11_0_arm64"), True),
    "macos 11.1 wheel": (lambda d: make_wheel(d, tag="cp312-cp312-macosx_11_1_arm64"), False),
    "plain linux wheel": (lambda d: make_wheel(d, tag="cp312-cp312-linux_x86_64"), False),
    "musllinux ppc64 wheel": (lambda d: make_wheel(d, tag="cp312-cp312-musllinux_1_2_ppc64"), False),
    "android wheel": (lambda d: make_wheel(d, tag="cp313-cp313-android_24_arm64_v8a"), True),
    "uppercase wheel name": (
        lambda d: make_wheel(d, filename="Demo_Pkg-1.0.0-py3-none-any.whl"),
        False,
    ),
    "wheel version not the metadata's": (
        lambda d: make_wheel(d, metadata=make_metadata(version="1.0.1")),
        False,
    ),
    "local version": (
        lambda d: make_wheel(d, version="1.0.0+local", metadata=make_metadata(version="1.0.0+local")),
        False,
    ),
    "wheel without RECORD": (lambda d: make_wheel(d, omit=["RECORD"]), False),
    "RECORD not UTF-8": (
        lambda d: rewrite_wheel(make_wheel(d), {f"{DIST_INFO}/RECORD": b"demo_pkg/__init__.py,,\xff\n"}, fix_record=False),
        False,
    ),
    "wheel without METADATA": (lambda d: make_wheel(d, omit=["METADATA"]), False),
    "wheel without WHEEL": (lambda d: make_wheel(d, omit=["WHEEL"]), False),
    "entry points not INI": (lambda d: make_wheel(d, entry_points="[console_scripts\nx = y:z\n"), False),
    "entry points fine": (lambda d: make_wheel(d, entry_points="[console_scripts]\ndemo = demo:main\n"), True),
    "script name with a slash": (
        lambda d: make_wheel(d, entry_points="[console_scripts]\nbin/demo = demo:main\n"),
        False,
    ),
    "plugin name with a space": (
        lambda d: make_wheel(d, entry_points="[demo.plugins]\nmy plugin = demo:main\n"),
        True,
    ),
    "entry points not UTF-8": (
        lambda d: rewrite_wheel(make_wheel(d), {EP: b"[console_scripts]\ndemo = d\xe9mo:main\n"}),
        False,
    ),
    "license file missing": (
        lambda d: make_wheel(d, metadata=make_metadata(fields=[("License-File", "LICENSE")])),
        False,
    ),
    "license file present": (
        lambda d: make_wheel(
            d,
            metadata=make_metadata(fields=[("License-File", "LICENSE")]),
            extra_files={f"{DIST_INFO}/licenses/LICENSE": b"MIT"},
        ),
        True,
    ),
    "bzip2 wheel": (lambda d: make_wheel(d, compression=zipfile.ZIP_BZIP2), False),
    "trailing data": (lambda d: _append(make_wheel(d), b"junk"), False),
    "zip comment": (lambda d: _append_comment(make_wheel(d)), True),
    "data descriptors": (_data_descriptor_wheel, False),
    "wheel that is a tarball": (
        lambda d: _tar(d, "demo_pkg-1.0.0-py3-none-any.whl", {"x": b"y"}),
        False,
    ),
    "sdist not PEP 625": (lambda d: make_sdist(d, filename="demo-pkg-1.0.0.tar.gz"), False),
    "sdist version not normalized": (
        lambda d: make_sdist(d, version="1.0.0-rc1", metadata=make_metadata(version="1.0.0-rc1")),
        False,
    ),
    "zip sdist": (lambda d: make_sdist(d, filename="demo_pkg-1.0.0.zip"), False),
    "sdist without PKG-INFO": (lambda d: make_sdist(d, omit_pkg_info=True), False),
    "sdist without a top folder": (lambda d: make_sdist(d, top_dir=""), False),
    "sparse sdist": (lambda d: make_sdist(d, sparse=True), False),
    "sdist that is a zip": (lambda d: _zip_named(d, "demo_pkg-1.0.0.tar.gz"), False),
    "sdist: PKG-INFO and PKG-INFO.orig only": (
        lambda d: _tar(
            d,
            "demo_pkg-1.0.0.tar.gz",
            {"demo_pkg-1.0.0/PKG-INFO": make_metadata(), "demo_pkg-1.0.0/PKG-INFO.orig": b""},
        ),
        True,
    ),
    "sdist license file missing": (
        lambda d: make_sdist(d, metadata=make_metadata(fields=[("License-File", "LICENSE")])),
        False,
    ),
    "sdist with a link inside": (
        lambda d: make_tar(
            d, members=[("demo_pkg-1.0.0/link", None, tarfile.SYMTYPE, "PKG-INFO")]
        ),
        True,
    ),
}


def _append_comment(path: Path) -> Path:
    with zipfile.ZipFile(path, "a") as zf:
        zf.comment = b"a comment"
    return path


def _zip_named(directory: Path, filename: str) -> Path:
    path = directory / filename
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo_pkg-1.0.0/PKG-INFO", make_metadata())
    return path


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_files_same_verdict(judge: Callable[[Path], Verdicts], tmp_path: Path, case: str) -> None:
    build, accepted = CRAFTED[case]
    folder = tmp_path / "dist"
    folder.mkdir()
    path = build(folder)
    _assert_agree(judge(path), path, expect_accept=accepted)


def test_a_disagreement_is_caught(judge: Callable[[Path], Verdicts], tmp_path: Path) -> None:
    # The comparison itself can fail: preflight made to refuse what PyPI accepts (a
    # RECORD that no longer matches, which PyPI only e-mails the owners about, is a
    # warning, so an error only under --strict) disagrees with the index.
    folder = tmp_path / "dist"
    folder.mkdir()
    edited = {f"{DIST_INFO}/METADATA": make_metadata(summary="changed")}
    path = rewrite_wheel(make_wheel(folder), edited, fix_record=False)
    verdicts = judge(path)
    assert verdicts.agree and verdicts.index[0] == 200
    strict = Verdicts(preflight(path, strict=True), verdicts.index)
    assert any(line.startswith("[wheel-record]") for line in strict.preflight)
    assert not strict.agree
