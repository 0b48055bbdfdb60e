"""Bad input, end to end: one clear error naming the file and the rule, exit 1, no traceback, nothing uploaded.

Every distribution case is built on disk at test time (real archives, crafted to break
one thing) and run through ``trustpub check`` and through ``trustpub publish`` against
the local PyPI world on 127.0.0.1, whose upload log must stay empty. Cases PyPI accepts
but installers break are warnings: ``check --strict`` refuses them. Attestation cases
run ``trustpub verify --offline`` and ``trustpub inspect`` on real PEP 740 attestations
(``corpora/pep740-real``), damaged. The defects found in the reliability review each
have a test below the tables.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.checks.crafted import make_tar, rewrite_wheel
from tests.distfactory import make_metadata, make_sdist, make_wheel
from trustpub.cli import main
from trustpub.local.world import LocalWorld

PROJECT = "demo-pkg"
WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"
SDIST = "demo_pkg-1.0.0.tar.gz"

Build = Callable[[Path], object]


@dataclass(frozen=True)
class Case:
    id: str
    build: Build  # writes the bad file(s) into the dist folder it is given
    filename: str  # the file the message must name
    rule: str  # the rule id the message must carry


def _meta_wheel(*fields: tuple[str, str], **kwargs: object) -> Build:
    return lambda d: make_wheel(d, metadata=make_metadata(fields=fields, **kwargs))  # type: ignore[arg-type]


def _write(name: str, data: bytes) -> Build:
    return lambda d: (d / name).write_bytes(data)


def _truncated(make: Callable[[Path], Path], keep: float) -> Build:
    def build(d: Path) -> None:
        path = make(d)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return build


def _appended(make: Callable[[Path], Path], extra: bytes) -> Build:
    def build(d: Path) -> None:
        path = make(d)
        with open(path, "ab") as fp:
            fp.write(extra)

    return build


def _corpus_zip(shared: Path, name: str) -> Build:
    return lambda d: shutil.copyfile(shared / "corpora/warehouse-zipdata/reject" / name, d / WHEEL)


def _wheel_with_edited_wheel_file(old: bytes, new: bytes) -> Build:
    def build(d: Path) -> None:
        path = make_wheel(d)
        member = "demo_pkg-1.0.0.dist-info/WHEEL"
        with zipfile.ZipFile(path) as zf:
            data = zf.read(member)
        rewrite_wheel(path, {member: data.replace(old, new)})

    return build


SURROGATE_NAME = os.fsdecode(b"demo_pkg-1.0.0-py3-none-\xffany.whl")
SHARED = Path(__file__).resolve().parents[3] / "shared"

ERRORS: list[Case] = [
    # truncated, empty, not an archive
    Case("truncated-wheel", _truncated(make_wheel, 0.6), WHEEL, "archive-valid"),
    Case("truncated-sdist", _truncated(make_sdist, 0.5), SDIST, "archive-valid"),
    Case("empty-wheel", _write(WHEEL, b""), WHEEL, "archive-valid"),
    Case("empty-sdist", _write(SDIST, b""), SDIST, "archive-valid"),
    Case("wheel-not-a-zip", _write(WHEEL, b"PK\x03\x04 but nothing else"), WHEEL, "archive-valid"),
    Case("sdist-not-gzip", _write(SDIST, b"\x1f\x8b\x08garbage"), SDIST, "archive-valid"),
    # zip bombs and ambiguous containers
    Case("zip-bomb", lambda d: make_wheel(d, extra_files={"demo_pkg/zeros.bin": bytes(65 * 1024 * 1024)}), WHEEL, "archive-valid"),
    Case("tar-bomb", lambda d: make_sdist(d, extra_files={"zeros.bin": bytes(65 * 1024 * 1024)}), SDIST, "archive-valid"),
    Case("zip-trailing-data", _appended(make_wheel, b"appended after the end record"), WHEEL, "archive-valid"),
    Case("zip-bzip2", lambda d: make_wheel(d, compression=zipfile.ZIP_BZIP2), WHEEL, "archive-valid"),
    Case("zip-data-descriptor", _corpus_zip(SHARED, "data_descriptor.zip"), WHEEL, "archive-valid"),
    Case("zip-duplicate-local-names", _corpus_zip(SHARED, "wheel-1.0-py3-none-any.whl"), WHEEL, "archive-valid"),
    Case("zip-non-utf8-member-name", _corpus_zip(SHARED, "non_ascii_original_name.zip"), WHEEL, "archive-valid"),
    Case("zip-in-zip", _corpus_zip(SHARED, "zipinzip.zip"), WHEEL, "archive-valid"),
    # required members
    Case("wheel-without-WHEEL", lambda d: make_wheel(d, omit=["WHEEL"]), WHEEL, "archive-valid"),
    Case("wheel-without-METADATA", lambda d: make_wheel(d, omit=["METADATA"]), WHEEL, "metadata-present"),
    Case("wheel-without-RECORD", lambda d: make_wheel(d, omit=["RECORD"]), WHEEL, "wheel-required-members"),
    Case("wheel-dist-info-misnamed", lambda d: make_wheel(d, dist_info="Demo_Pkg-1.0.0.dist-info"), WHEEL, "archive-valid"),
    Case("sdist-without-PKG-INFO", lambda d: make_sdist(d, omit_pkg_info=True), SDIST, "archive-valid"),
    Case("sdist-two-top-dirs", lambda d: make_sdist(d, extra_files={"/stray.txt": b"x"}), SDIST, "archive-valid"),
    Case("sdist-sparse-member", lambda d: make_sdist(d, sparse=True), SDIST, "archive-valid"),
    # wrong names
    Case("wheel-name-not-metadata", lambda d: make_wheel(d, name="other", metadata=make_metadata(PROJECT)), "other-1.0.0-py3-none-any.whl", "wheel-name-matches-metadata"),
    Case("wheel-name-not-normalized", lambda d: make_wheel(d, name="Demo_Pkg", metadata=make_metadata(PROJECT)), "Demo_Pkg-1.0.0-py3-none-any.whl", "wheel-name-normalized"),
    Case("sdist-name-not-pep625", lambda d: make_sdist(d, filename="Demo-Pkg-1.0.0.tar.gz"), "Demo-Pkg-1.0.0.tar.gz", "sdist-name-pep625"),
    Case("wheel-filename-unparseable", lambda d: make_wheel(d, filename="x-1.0.0.whl"), "x-1.0.0.whl", "wheel-filename"),
    Case("wheel-linux-tag", lambda d: make_wheel(d, tag="cp312-cp312-linux_x86_64"), "demo_pkg-1.0.0-cp312-cp312-linux_x86_64.whl", "wheel-platform-tag"),
    Case("egg", lambda d: make_wheel(d, filename="demo_pkg-1.0.0-py3.12.egg"), "demo_pkg-1.0.0-py3.12.egg", "filename-extension"),
    Case("zip-sdist", lambda d: make_sdist(d, filename="demo_pkg-1.0.0.zip"), "demo_pkg-1.0.0.zip", "filename-extension"),
    Case("filename-not-utf8", lambda d: make_wheel(d, filename=SURROGATE_NAME), "demo_pkg-1.0.0-py3-none-\\udcffany.whl", "filename-characters"),
    Case("filename-control-char", lambda d: make_wheel(d, filename="demo_pkg-1.0.0-py3-none-any\x07.whl"), "demo_pkg-1.0.0-py3-none-any", "filename-characters"),
    # mismatched and malformed metadata
    Case("version-mismatch", lambda d: make_wheel(d, version="1.0.1", metadata=make_metadata(version="1.0.0")), "demo_pkg-1.0.1-py3-none-any.whl", "filename-version-matches-metadata"),
    Case("metadata-not-utf8", lambda d: make_wheel(d, metadata=make_metadata(fields=[("Author", "Jos\xe9")]).replace("Jos\xe9".encode(), b"Jos\xe9")), WHEEL, "metadata-utf8"),
    Case("metadata-huge", lambda d: make_wheel(d, metadata=make_metadata(description="x" * (17 * 1024 * 1024))), WHEEL, "archive-member-size"),
    Case("metadata-version-2.0", _meta_wheel(metadata_version="2.0"), WHEEL, "metadata-version"),
    Case("metadata-duplicate-summary", _meta_wheel(("Summary", "again")), WHEEL, "metadata-duplicate-field"),
    Case("metadata-field-too-new", _meta_wheel(("License-Expression", "MIT"), metadata_version="2.1"), WHEEL, "metadata-field-too-new"),
    Case("metadata-bad-requires-python", _meta_wheel(("Requires-Python", ">=3.x")), WHEEL, "metadata-valid"),
    Case("metadata-local-version", lambda d: make_wheel(d, version="1.0.0+local", metadata=make_metadata(version="1.0.0+local")), "demo_pkg-1.0.0+local-py3-none-any.whl", "version-local"),
    Case("author-email-no-domain", _meta_wheel(("Author-email", "foo@")), WHEEL, "email-address"),
    Case("author-email-empty-brackets", _meta_wheel(("Author-email", "<>")), WHEEL, "email-address"),
    Case("classifier-unknown", _meta_wheel(("Classifier", "Programming Language :: Cobol :: 99")), WHEEL, "classifier-valid"),
    Case("direct-reference", _meta_wheel(("Requires-Dist", "foo @ https://example.org/foo.tar.gz")), WHEEL, "requires-dist-direct-reference"),
    Case("summary-too-long", _meta_wheel(summary="x" * 600), WHEEL, "summary"),
    Case("description-does-not-render", _meta_wheel(description="T\n===\n\n.. bogus::\n\n`x\n", content_type="text/x-rst"), WHEEL, "description-renders"),
    Case("entry-points-broken", lambda d: make_wheel(d, entry_points="[console_scripts\nx = y\n"), WHEEL, "wheel-entry-points"),
    Case("license-file-missing", _meta_wheel(("License-File", "LICENSE")), WHEEL, "license-file-present"),
    # entries that are not regular files
    Case("dangling-symlink-whl", lambda d: (d / WHEEL).symlink_to(d / "gone.whl"), WHEEL, "file-regular"),
    Case("folder-named-whl", lambda d: (d / WHEEL).mkdir(), WHEEL, "file-regular"),
    Case("fifo-named-sdist", lambda d: os.mkfifo(d / SDIST), SDIST, "file-regular"),
    # release-level
    Case("same-bytes-two-names", lambda d: shutil.copyfile(make_wheel(d), d / "demo_pkg-1.0.0-py2.py3-none-any.whl"), "demo_pkg-1.0.0-py2.py3-none-any.whl", "release-duplicate-content"),
]

WARNINGS: list[Case] = [
    Case("wheel-tag-contradicts-filename", lambda d: make_wheel(d, filename="demo_pkg-1.0.0-py2-none-any.whl"), "demo_pkg-1.0.0-py2-none-any.whl", "wheel-tags-match"),
    Case("wheel-version-2", _wheel_with_edited_wheel_file(b"Wheel-Version: 1.0", b"Wheel-Version: 2.0"), WHEEL, "wheel-version"),
    Case("record-hash-wrong", lambda d: rewrite_wheel(make_wheel(d), {"demo_pkg/__init__.py": b"x = 2\n"}, fix_record=False), WHEEL, "wheel-record"),
    Case("sdist-symlink-to-etc-passwd", lambda d: make_tar(d, members=[("demo_pkg-1.0.0/passwd", None, tarfile.SYMTYPE, "/etc/passwd")]), SDIST, "archive-member-links"),
    Case("header-name-with-space", _meta_wheel(("Bad Header", "x"), ("Requires-Dist", "foo")), WHEEL, "metadata-header-block"),
    Case("member-parent-path", lambda d: make_sdist(d, extra_files={"../../evil.py": b"x"}), SDIST, "archive-member-paths"),
    Case("member-absolute-path", lambda d: make_wheel(d, extra_files={"/etc/evil.py": b"x"}), WHEEL, "archive-member-paths"),
    Case("member-backslash-path", lambda d: make_wheel(d, extra_files={"demo_pkg\\..\\..\\evil.py": b"x"}), WHEEL, "archive-member-paths"),
]


def test_the_tables_are_large_enough() -> None:
    assert len(ERRORS) + len(WARNINGS) + len(ATTESTATIONS) >= 40
    assert len({c.id for c in [*ERRORS, *WARNINGS]}) == len(ERRORS) + len(WARNINGS)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path_factory.mktemp("world"), project=PROJECT) as w:
        yield w


@pytest.fixture
def token_env(world: LocalWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in list(os.environ):
        if key.startswith(("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI_", "TWINE_")) or key == "CI":
            monkeypatch.delenv(key)
    monkeypatch.setenv("TRUSTPUB_TOKEN", world.index.add_api_token(PROJECT))
    monkeypatch.setenv("TRUSTPUB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return dict(os.environ)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def _dist(tmp_path: Path, case: Case) -> Path:
    dist = tmp_path / "dist"
    dist.mkdir()
    case.build(dist)
    return dist


def _assert_named(text: str, case: Case) -> None:
    assert "Traceback" not in text, text
    assert case.filename in text, text
    assert f"[{case.rule}]" in text, text


@pytest.mark.parametrize("case", ERRORS, ids=[c.id for c in ERRORS])
def test_refused_by_check_and_publish(
    case: Case, tmp_path: Path, world: LocalWorld, token_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    dist = _dist(tmp_path, case)
    code, text = _run(["check", str(dist)], capsys)
    assert code == 1, text
    _assert_named(text, case)
    # One clear error: no second error about the same file from another rule.
    rules = {line.split("[", 1)[1].split("]", 1)[0] for line in text.splitlines() if ": error [" in line}
    assert rules == {case.rule}, text

    before = list(world.index.stored_log)
    code, text = _run(["publish", "--to", world.index.upload_url, "--no-attestations", str(dist)], capsys)
    assert code == 1, text
    _assert_named(text, case)
    if case.rule != "file-regular":  # that one stops while the paths are collected
        assert "nothing was uploaded" in text
    assert world.index.stored_log == before


@pytest.mark.parametrize("case", WARNINGS, ids=[c.id for c in WARNINGS])
def test_installer_breakers_warn_and_strict_refuses(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dist = _dist(tmp_path, case)
    code, text = _run(["check", str(dist)], capsys)
    assert code == 0, text  # PyPI accepts these: a warning, named
    assert "Traceback" not in text and case.filename in text and f"warning [{case.rule}]" in text, text
    code, text = _run(["check", "--strict", str(dist)], capsys)
    assert code == 1, text
    _assert_named(text, case)


# -- attestation files -------------------------------------------------------------

REAL = SHARED / "corpora/pep740-real"
DIST = "pypi_attestations-0.0.19.tar.gz"
PUBLISHER = "github:trailofbits/pypi-attestations/release.yml"


def _real_attestation() -> dict[str, object]:
    doc: dict[str, object] = json.loads((REAL / f"{DIST}.publish.attestation").read_bytes())
    return doc


def _statement_edit(edit: Callable[[dict[str, object]], None]) -> bytes:
    doc = _real_attestation()
    envelope = doc["envelope"]
    assert isinstance(envelope, dict)
    statement = json.loads(base64.b64decode(envelope["statement"]))
    edit(statement)
    envelope["statement"] = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps(doc).encode()


def _field(path: list[str], value: object) -> bytes:
    doc = _real_attestation()
    target: dict[str, object] = doc
    for key in path[:-1]:
        nxt = target[key]
        assert isinstance(nxt, dict)
        target = nxt
    target[path[-1]] = value
    return json.dumps(doc).encode()


@dataclass(frozen=True)
class AttestationCase:
    id: str
    content: Callable[[], bytes]
    reason: str  # PyPI's (or the parser's) reason, the "rule" of an attestation
    dist_name: str = DIST  # the distribution verified, a copy of the real one under this name
    dist_edit: bytes = b""  # appended to the copy: another file than the one attested


ATTESTATIONS: list[AttestationCase] = [
    AttestationCase("invalid-json", lambda: b"{not json", "not a PEP 740 attestation"),
    AttestationCase("empty-file", lambda: b"", "not a PEP 740 attestation"),
    AttestationCase("json-list", lambda: b"[1, 2]", "not a PEP 740 attestation"),
    AttestationCase("truncated", lambda: (REAL / f"{DIST}.publish.attestation").read_bytes()[:4000], "not a PEP 740 attestation"),
    AttestationCase("non-utf8", lambda: b'{"version": 1, "x": "\xff"}', "not a PEP 740 attestation"),
    AttestationCase("version-2", lambda: _field(["version"], 2), "not a PEP 740 attestation"),
    AttestationCase("no-envelope", lambda: _field(["envelope"], None), "not a PEP 740 attestation"),
    AttestationCase("certificate-garbage", lambda: _field(["verification_material", "certificate"], base64.b64encode(b"junk").decode()), "invalid X.509 certificate"),
    AttestationCase("no-log-entries", lambda: _field(["verification_material", "transparency_entries"], []), "not a PEP 740 attestation"),
    AttestationCase("wrong-subject-name", lambda: (REAL / f"{DIST}.publish.attestation").read_bytes(), "subject does not match distribution name", dist_name="pypi_attestations-0.0.20.tar.gz"),
    AttestationCase("wrong-subject-digest", lambda: (REAL / f"{DIST}.publish.attestation").read_bytes(), "subject does not match distribution digest", dist_edit=b"\0"),
    AttestationCase("statement-edited-after-signing", lambda: _statement_edit(lambda s: s.update(predicate={"x": 1})), "Verification failed"),
    AttestationCase("other-projects-attestation", lambda: (REAL / "pypi_attestation_models-0.0.4a2.tar.gz.attestation").read_bytes(), "Verification failed"),
]


@pytest.mark.parametrize("case", ATTESTATIONS, ids=[c.id for c in ATTESTATIONS])
def test_bad_attestation_is_refused_with_its_reason(
    case: AttestationCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    dist = tmp_path / case.dist_name
    dist.write_bytes((REAL / DIST).read_bytes() + case.dist_edit)
    attestation = tmp_path / f"{case.id}.attestation"
    attestation.write_bytes(case.content())
    code, text = _run(["verify", "--offline", "--publisher", PUBLISHER, "--attestation", str(attestation), str(dist)], capsys)
    assert code == 1, text
    assert "Traceback" not in text
    assert f"{dist.name}: not verified" in text and case.reason in text, text
    if case.reason == "not a PEP 740 attestation":
        assert attestation.name in text, text
        code, text = _run(["inspect", str(attestation)], capsys)
        assert code == 1 and "Traceback" not in text and f"{attestation}: cannot inspect" in text, text


# -- defects found in review -------------------------------------------------------


class _BadSimpleAPI(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bad_simple() -> Iterator[Callable[[bytes], str]]:
    """A 127.0.0.1 'simple API' that answers every project page with the given bytes."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BadSimpleAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(body: bytes) -> str:
        _BadSimpleAPI.body = body
        return f"http://127.0.0.1:{server.server_address[1]}/simple/"

    yield serve
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "body", [b'{"files": 5}', b"null", b"[1,2]", b'{"files": [1]}', b"\xff\xfe not json", b'{"files": [{"filename": "a", "hashes": [1]}]}']
)
def test_simple_api_answer_of_the_wrong_shape_is_an_error(
    body: bytes, tmp_path: Path, world: LocalWorld, token_env: dict[str, str], bad_simple: Callable[[bytes], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist)
    before = list(world.index.stored_log)
    url = bad_simple(body)
    code, text = _run(["publish", "--to", world.index.upload_url, "--simple-url", url, "--no-attestations", str(dist)], capsys)
    assert code == 1, text
    assert "Traceback" not in text
    assert "is not a valid PEP 691 project page" in text and "127.0.0.1" in text, text
    assert world.index.stored_log == before


@pytest.mark.parametrize(
    "damage",
    ['{"files": {"x": 5}}', '{"files": [], "runs": 5}', '{"files": {}, "runs": [1, "x"]}', "[1]", "null", "\xff{"],
)
def test_damaged_journal_is_replaced_and_the_release_completes(
    damage: str, tmp_path: Path, world: LocalWorld, token_env: dict[str, str], capsys: pytest.CaptureFixture[str],
) -> None:
    from trustpub.journal import Journal

    version = f"1.0.{abs(hash(damage)) % 10_000}"  # one release per case on the shared world
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist, version=version, metadata=make_metadata(version=version))
    journal = Journal.for_release(tmp_path / "state", registry=world.index.upload_url, project=PROJECT, version=version)
    journal.path.parent.mkdir(parents=True)
    journal.path.write_text(damage, encoding="utf-8", errors="surrogateescape")
    for _ in range(2):  # the damage must not fail this run nor any later one
        code, text = _run(["publish", "--to", world.index.upload_url, "--no-attestations", str(dist)], capsys)
        assert code == 0, text
        assert "Traceback" not in text
    doc = json.loads(journal.path.read_text())
    assert doc["files"] == {f"demo_pkg-{version}-py3-none-any.whl": doc["files"][f"demo_pkg-{version}-py3-none-any.whl"]}
    assert [run["outcome"] for run in doc["runs"]] == ["ok", "ok"]


def test_journal_lock_refuses_a_second_run_and_cleans_a_killed_runs_temp_file(tmp_path: Path) -> None:
    from trustpub.journal import Journal, JournalLocked

    first = Journal.for_release(tmp_path, registry="https://127.0.0.1/legacy/", project="p", version="1")
    leftover = first.path.parent / f".{first.path.name}.abc123.tmp"
    old_style = first.path.parent / ".journal-zzz"
    first.path.parent.mkdir(parents=True)
    leftover.write_text("{torn")
    old_style.write_text("{torn")
    os.utime(old_style, (time.time() - 7200, time.time() - 7200))
    first.start_run(dry_run=False)
    assert not leftover.exists() and not old_style.exists()
    second = Journal.for_release(tmp_path, registry="https://127.0.0.1/legacy/", project="p", version="1")
    with pytest.raises(JournalLocked) as refused:
        second.start_run(dry_run=False)
    assert f"pid {os.getpid()}" in str(refused.value) and "p 1" in str(refused.value)
    first.finish_run("ok")
    second.start_run(dry_run=False)  # free again once the first run is done
    second.finish_run("ok")
    assert [run["outcome"] for run in json.loads(first.path.read_text())["runs"]] == ["ok", "ok"]


def test_two_publish_runs_at_once_upload_each_file_once(tmp_path: Path, world: LocalWorld) -> None:
    version = "3.0.0"
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist, version=version, metadata=make_metadata(version=version))
    make_sdist(dist, version=version, metadata=make_metadata(version=version))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI_"))}
    env.pop("CI", None)
    env.update(TRUSTPUB_TOKEN=world.index.add_api_token(PROJECT), TRUSTPUB_STATE_DIR=str(tmp_path / "state"))
    command = [sys.executable, "-m", "trustpub", "publish", "--to", world.index.upload_url, "--no-attestations", "--jobs", "1", str(dist)]
    before = len(world.index.stored_log)
    world.index.upload_delay = 1.5  # the first run holds the lock for 3 s or more
    try:
        first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lock = next((tmp_path / "state").glob("journal/*.lock"), None)
        deadline = time.monotonic() + 30
        while lock is None and time.monotonic() < deadline:
            time.sleep(0.02)
            lock = next((tmp_path / "state").glob("journal/*.lock"), None)
        second = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        _out, err = first.communicate(timeout=60)
    finally:
        world.index.upload_delay = 0.0
    assert first.returncode == 0, err
    assert second.returncode == 1, second.stderr
    assert "another trustpub run" in second.stderr and f"pid {first.pid}" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr
    assert sorted(world.index.stored_log[before:]) == sorted(p.name for p in dist.iterdir())


def test_file_changed_between_check_and_upload_is_not_uploaded(
    tmp_path: Path, world: LocalWorld, token_env: dict[str, str]
) -> None:
    from trustpub.cli import build_parser
    from trustpub.commands.publish import build_request
    from trustpub.errors import TrustpubError
    from trustpub.orchestrator import Orchestrator

    version = "4.0.0"
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = make_wheel(dist, version=version, metadata=make_metadata(version=version))

    def say(line: str) -> None:
        if line.startswith("plan:"):  # checked and planned; the upload comes next
            with open(wheel, "r+b") as fp:
                fp.seek(-30, os.SEEK_END)
                fp.write(b"X")

    args = build_parser().parse_args(["publish", "--to", world.index.upload_url, "--no-attestations", str(dist)])
    before = list(world.index.stored_log)
    with pytest.raises(TrustpubError) as failed:
        Orchestrator(say=say).publish(build_request(args, env=token_env))
    assert wheel.name in str(failed.value) and "changed on disk after it was checked" in str(failed.value)
    assert world.index.stored_log == before
