"""Every preflight rule, each with at least one input that breaks it and only it."""

from __future__ import annotations

import dataclasses
import os
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.checks.crafted import make_tar, rewrite_wheel
from tests.distfactory import make_metadata, make_sdist, make_wheel
from trustpub.checks import RULES, check_distributions, check_paths
from trustpub.dists import inspect

Build = Callable[[Path], list[Path]]


def _wheel_meta(*fields: tuple[str, str], **kwargs: object) -> Build:
    def build(d: Path) -> list[Path]:
        meta = make_metadata(fields=fields, **kwargs)  # type: ignore[arg-type]
        return [make_wheel(d, metadata=meta)]

    return build


# rule id -> (builder, substring expected in the message)
CASES: dict[str, list[tuple[Build, str]]] = {
    "file-regular": [
        (lambda d: [_folder_with(d, lambda f: (f / "demo_pkg-1.0.0-py3-none-any.whl").mkdir())], "is a folder, not a regular file"),
        (lambda d: [_folder_with(d, lambda f: (f / "demo_pkg-1.0.0-py3-none-any.whl").symlink_to(f / "gone.whl"))], "which does not exist"),
        (lambda d: [_folder_with(d, lambda f: os.mkfifo(f / "demo_pkg-1.0.0.tar.gz"))], "a named pipe (FIFO)"),
    ],
    "filename-extension": [
        (lambda d: [make_wheel(d, filename="demo_pkg-1.0.0.egg")], "Invalid file extension"),
        (lambda d: [make_sdist(d, filename="demo_pkg-1.0.0.zip")], "must be .tar.gz since PEP 625"),
    ],
    "filename-characters": [
        (lambda d: [make_wheel(d, filename="demo_pkg-1.0.0-py3-none-any\x01.whl")], "non-printable"),
        (lambda d: [make_wheel(d, filename="demo\\pkg-1.0.0-py3-none-any.whl")], "'/' or '\\'"),
        (lambda d: [make_wheel(d, filename=os.fsdecode(b"demo_pkg-1.0.0-py3-none-\xffany.whl"))], "not valid UTF-8"),
    ],
    "sdist-name-pep625": [
        (lambda d: [make_sdist(d, filename="Demo-Pkg-1.0.0.tar.gz")], "Filename 'Demo-Pkg-1.0.0.tar.gz' is invalid, should be 'demo_pkg-1.0.0.tar.gz'"),
        (lambda d: [make_sdist(d, filename="demo_pkg-01.0.tar.gz", metadata=make_metadata(version="01.0"))], "should be 'demo_pkg-1.0.tar.gz'"),
        (lambda d: [make_sdist(d, filename="demo_pkg-1.0.0-rc1.tar.gz", metadata=make_metadata(version="1.0.0-rc1"))], "Invalid source distribution filename: demo_pkg-1.0.0-rc1.tar.gz (should be 'demo_pkg-1.0.0rc1.tar.gz')"),
        (lambda d: [make_sdist(d, filename="other-1.0.0.tar.gz")], "Start filename for 'demo-pkg' with 'demo_pkg'"),
        (lambda d: [make_sdist(d, filename="nodash.tar.gz")], "Invalid source distribution filename"),
    ],
    "wheel-filename": [
        (lambda d: [make_wheel(d, filename="demo_pkg-1.0x-py3-none-any.whl")], "Invalid wheel filename"),
    ],
    "wheel-platform-tag": [
        (lambda d: [make_wheel(d, tag="cp311-cp311-linux_x86_64")], "unsupported platform tag 'linux_x86_64'"),
        (lambda d: [make_wheel(d, tag="cp311-cp311-macosx_11_3_arm64")], "'macosx_11_3_arm64'"),
    ],
    "wheel-name-matches-metadata": [
        (lambda d: [make_wheel(d, name="other", metadata=make_metadata("demo-pkg"))], "Start filename for 'demo-pkg' with 'demo_pkg'"),
    ],
    "wheel-name-normalized": [
        (lambda d: [make_wheel(d, name="Demo_Pkg", metadata=make_metadata("demo-pkg"))], "should contain the normalized project name 'demo_pkg', not 'Demo_Pkg'"),
    ],
    "filename-version-matches-metadata": [
        (lambda d: [make_wheel(d, version="1.0.1", metadata=make_metadata(version="1.0.0"))], "Version in filename should be '1.0.0' not '1.0.1'"),
    ],
    "metadata-present": [
        (lambda d: [make_wheel(d, omit=["METADATA"])], "METADATA not found at demo_pkg-1.0.0.dist-info/METADATA"),
    ],
    "metadata-utf8": [
        (lambda d: [make_wheel(d, metadata=make_metadata().replace(b"Summary: A demo", b"Summary: A \xff demo"))], "is not valid UTF-8: byte 0xff at line 4 (field summary)"),
    ],
    "metadata-header-block": [
        (_wheel_meta(("Bad Header", "x"), ("Requires-Dist", "foo")), "the 1 field(s) after it (Requires-Dist) become part of the description"),
    ],
    "metadata-version": [
        (_wheel_meta(metadata_version="2.0"), "'2.0' is not a valid metadata version"),
        (_wheel_meta(metadata_version="3.0"), "'3.0' is not a valid metadata version"),
    ],
    "metadata-duplicate-field": [
        (_wheel_meta(("Summary", "second summary")), "'summary' has invalid data"),
    ],
    "metadata-field-too-new": [
        (_wheel_meta(("License-Expression", "MIT"), metadata_version="2.1"), "license-expression introduced in metadata version 2.4, not 2.1"),
    ],
    "metadata-valid": [
        (_wheel_meta(("Requires-Python", ">=3.x")), "'>=3.x' is invalid for 'requires-python'"),
        (_wheel_meta(("Requires-Dist", "foo >=< 1")), "requires-dist"),
        (_wheel_meta(("Provides-Extra", "not valid!")), "provides-extra"),
        (_wheel_meta(("Dynamic", "Name")), "'name' is not allowed as a dynamic field"),
        (_wheel_meta(("License-File", "../LICENSE")), "parent directory indicators are not allowed"),
        (_wheel_meta(("License-Expression", "MIT or foo")), "'MIT or foo' is invalid for 'license-expression'"),
        (_wheel_meta(content_type="text/markdown; variant=Fancy"), "valid Markdown variants"),
        (_wheel_meta(content_type="text/html"), "description-content-type"),
        (_wheel_meta(summary="one\n two"), "'summary' must be a single line"),
    ],
    "version-local": [
        (lambda d: [make_wheel(d, version="1.0.0+local", metadata=make_metadata(version="1.0.0+local"))], "The use of local versions in '1.0.0+local' is not allowed"),
    ],
    "summary": [
        (_wheel_meta(summary="x" * 513), "'summary' field must be 512 characters or less"),
    ],
    "email-address": [
        (_wheel_meta(("Author-email", "Someone <not-an-address>")), "is not a valid email address"),
        (_wheel_meta(("Author-email", "foo@")), "'foo@' is not a valid email address"),
        (_wheel_meta(("Maintainer-email", "<>")), "'<>' is not a valid email address"),
    ],
    "classifier-valid": [
        (_wheel_meta(("Classifier", "Programming Language :: Cobol :: 99")), "is not a valid classifier"),
    ],
    "classifier-deprecated": [
        (_wheel_meta(("Classifier", "Natural Language :: Ukranian")), "has been deprecated"),
    ],
    "license-expression-exclusive": [
        (_wheel_meta(("License", "MIT"), ("License-Expression", "MIT")), "License is deprecated when License-Expression is present"),
    ],
    "license-classifier-with-expression": [
        (_wheel_meta(("License-Expression", "MIT"), ("Classifier", "License :: OSI Approved :: MIT License")), "deprecated beside License-Expression"),
    ],
    "license-file-present": [
        (_wheel_meta(("License-File", "LICENSE")), "License-File LICENSE does not exist"),
        (lambda d: [make_sdist(d, metadata=make_metadata(fields=[("License-File", "COPYING")]))], "License-File COPYING does not exist"),
    ],
    "url-valid": [
        (_wheel_meta(("Project-URL", "A" * 33 + ", https://example.org")), "must be 32 characters or less"),
        (_wheel_meta(("Home-page", "not a url")), "is not a valid url"),
        (_wheel_meta(("Project-URL", "Docs, https://")), "is not a valid url"),
    ],
    "requires-dist-direct-reference": [
        (_wheel_meta(("Requires-Dist", "foo @ https://example.org/foo-1.0.tar.gz")), "Can't have direct dependency"),
    ],
    "description-present": [
        (_wheel_meta(description=None), "long description is missing"),
    ],
    "description-renders": [
        (_wheel_meta(description="Title\n===\n\n.. bogus-directive::\n\n`unclosed\n", content_type=None), "default format of reStructuredText"),
        (_wheel_meta(description="Title\n=====\n\n:broken: `ref <\n\n.. raw:: html\n\n   <script>\n", content_type="text/x-rst"), "failed to render for 'text/x-rst'"),
    ],
    "archive-valid": [
        (lambda d: [_write(d / "demo_pkg-1.0.0-py3-none-any.whl", b"not a zip at all")], "File is not a zipfile"),
        (lambda d: [_write(d / "demo_pkg-1.0.0.tar.gz", b"not a tarball")], "File is not a tarfile"),
        (lambda d: [make_wheel(d, omit=["WHEEL"])], "WHEEL not found at demo_pkg-1.0.0.dist-info/WHEEL"),
        (lambda d: [make_wheel(d, dist_info="Demo_Pkg-1.0.0.dist-info")], "WHEEL not found at demo_pkg-1.0.0.dist-info/WHEEL"),
        (lambda d: [make_sdist(d, omit_pkg_info=True)], "PKG-INFO not found at demo_pkg-1.0.0/PKG-INFO"),
        (lambda d: [make_sdist(d, extra_files={"/stray.txt": b"x"})], "Incorrect number of top-level directories"),
        (lambda d: [make_sdist(d, sparse=True)], "Sparse tar members"),
        (lambda d: [_trailing_data(make_wheel(d))], "ZIP archive not accepted"),
        (lambda d: [make_wheel(d, compression=zipfile.ZIP_BZIP2)], "compression method"),
        (lambda d: [_bomb_wheel(d)], "compression ratio of 50"),
        (lambda d: [_bomb_sdist(d)], "compression ratio of 50"),
    ],
    "wheel-required-members": [
        (lambda d: [make_wheel(d, omit=["RECORD"])], "RECORD not found at demo_pkg-1.0.0.dist-info/RECORD"),
    ],
    "wheel-entry-points": [
        (lambda d: [make_wheel(d, entry_points="[console_scripts\nfoo = bar\n")], "has invalid entry points"),
        (lambda d: [make_wheel(d, entry_points="no section header\n")], "has invalid entry points"),
    ],
    "archive-member-paths": [
        (lambda d: [make_sdist(d, extra_files={"../../etc/evil": b"x"})], "parent-directory"),
        (lambda d: [make_wheel(d, extra_files={"demo_pkg\\win.py": b"x"})], "'demo_pkg\\\\win.py'"),
    ],
    "archive-member-links": [
        (lambda d: [make_tar(d, members=[("demo_pkg-1.0.0/passwd", None, tarfile.SYMTYPE, "/etc/passwd")])], "'demo_pkg-1.0.0/passwd -> /etc/passwd'"),
        (lambda d: [make_tar(d, members=[("demo_pkg-1.0.0/up", None, tarfile.SYMTYPE, "../../x")])], "up -> ../../x"),
    ],
    "archive-member-size": [
        (lambda d: [make_wheel(d, metadata=make_metadata(description="x" * (17 * 1024 * 1024)))], "demo_pkg-1.0.0.dist-info/METADATA is 17.0 MiB"),
    ],
    "wheel-version": [
        (lambda d: [_edit_wheel_file(make_wheel(d), b"Wheel-Version: 1.0", b"Wheel-Version: 2.0")], "declares Wheel-Version 2.0"),
    ],
    "wheel-tags-match": [
        (lambda d: [make_wheel(d, filename="demo_pkg-1.0.0-py2-none-any.whl")], "declares Tag ['py3-none-any'] but the filename says ['py2-none-any']"),
    ],
    "wheel-record": [
        (lambda d: [rewrite_wheel(make_wheel(d), {"demo_pkg/__init__.py": b"changed = True\n"}, fix_record=False)], "demo_pkg/__init__.py (hash differs)"),
        (lambda d: [rewrite_wheel(make_wheel(d), {"demo_pkg/extra.py": b""}, fix_record=False)], "demo_pkg/extra.py (not listed)"),
    ],
    "release-single-project": [
        (lambda d: [make_wheel(d), make_wheel(d, name="other_pkg", metadata=make_metadata("other-pkg"))], "belong to 2 projects"),
    ],
    "release-single-version": [
        (lambda d: [make_wheel(d), make_wheel(d, version="1.0.1", metadata=make_metadata(version="1.0.1"))], "carry 2 versions"),
    ],
    "release-one-sdist": [
        (lambda d: [make_sdist(d), make_sdist(d / "sub" if (d / "sub").mkdir() is None else d, filename="demo_pkg-1.0.tar.gz", metadata=make_metadata(version="1.0"))], "Only one sdist may be uploaded per release"),
    ],
    "release-duplicate-content": [
        (lambda d: [make_wheel(d), _copy_as(make_wheel(d), "demo_pkg-1.0.0-py2.py3-none-any.whl")], "has the same bytes as"),
    ],
    "release-duplicate-filename": [
        (lambda d: [make_wheel(d), make_wheel(d / "again" if (d / "again").mkdir() is None else d)], "2 files share the name"),
    ],
}

# Rules whose failing input is a property no file on disk can cheaply have (size);
# they are tested below on inspected distributions with the size replaced.
SIZE_RULES = {"file-size-limit", "release-size-limit"}


def _folder_with(d: Path, make: Callable[[Path], object]) -> Path:
    folder = d / "dist"
    folder.mkdir()
    make(folder)
    return folder


def _edit_wheel_file(path: Path, old: bytes, new: bytes) -> Path:
    name = "demo_pkg-1.0.0.dist-info/WHEEL"
    with zipfile.ZipFile(path) as zf:
        data = zf.read(name)
    return rewrite_wheel(path, {name: data.replace(old, new)})


def _copy_as(path: Path, name: str) -> Path:
    target = path.parent / name
    target.write_bytes(path.read_bytes())
    return target


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _trailing_data(path: Path) -> Path:
    with open(path, "ab") as fp:
        fp.write(b"trailing garbage after the end of central directory")
    return path


def _bomb_wheel(d: Path) -> Path:
    # 65 MiB of zeros deflate to ~65 KiB: a ratio near 1000.
    return make_wheel(d, extra_files={"demo_pkg/zeros.bin": bytes(65 * 1024 * 1024)})


def _bomb_sdist(d: Path) -> Path:
    return make_sdist(d, extra_files={"zeros.bin": bytes(65 * 1024 * 1024)})


def test_every_rule_has_a_failing_case() -> None:
    from trustpub.checks import _load_rules

    _load_rules()
    assert set(RULES) == set(CASES) | SIZE_RULES


@pytest.mark.parametrize(
    ("rule", "build", "expected"),
    [(rule, build, expected) for rule, cases in CASES.items() for build, expected in cases],
    ids=[f"{rule}-{i}" for rule, cases in CASES.items() for i, _ in enumerate(cases)],
)
def test_rule_fails_on_bad_input(tmp_path: Path, rule: str, build: Build, expected: str) -> None:
    paths = build(tmp_path)
    report = check_paths(paths)
    hits = [f for f in report.findings if f.rule == rule]
    assert hits, f"rule {rule} did not fire; findings: {[f.line() for f in report.findings]}"
    assert any(expected in f.message for f in hits), [f.message for f in hits]
    expected_severity = RULE_SEVERITY.get(rule, "error")
    assert all(f.severity == expected_severity for f in hits)


RULE_SEVERITY = {
    "description-present": "warning",
    "license-classifier-with-expression": "warning",
    "archive-member-paths": "warning",
    "archive-member-links": "warning",
    "metadata-header-block": "warning",
    "wheel-version": "warning",
    "wheel-tags-match": "warning",
    "wheel-record": "warning",
    "file-size-limit": "warning",
    "release-size-limit": "warning",
}


def test_good_crafted_release_is_clean(tmp_path: Path) -> None:
    report = check_paths([make_wheel(tmp_path), make_sdist(tmp_path)])
    assert report.findings == []
    assert report.ok(strict=True)


def test_size_limits(tmp_path: Path) -> None:
    dist = inspect(make_wheel(tmp_path))
    big = dataclasses.replace(dist, size=101 * 1024 * 1024)
    report = check_distributions([big])
    (finding,) = [f for f in report.findings if f.rule == "file-size-limit"]
    assert "Limit for project 'demo-pkg' is 100 MB" in finding.message
    assert finding.hint and "limit-request" in finding.hint
    huge = [dataclasses.replace(dist, size=6 * 1024**3, filename=f"demo_pkg-1.0.0-py3-none-any-{i}.whl") for i in range(2)]
    release = check_distributions(huge).release
    assert [f.rule for f in release] == ["release-size-limit"]


def test_real_builds_pass_every_rule(built_dists: dict[str, list[Path]]) -> None:
    for backend, paths in built_dists.items():
        report = check_paths(paths)
        assert report.errors == [], (backend, [f.line() for f in report.errors])
        assert {r.dist.filetype for r in report.files} == {"sdist", "bdist_wheel"}, backend


def test_real_wheel_with_linux_tag_is_refused(built_dists: dict[str, list[Path]], tmp_path: Path) -> None:
    wheel = next(p for p in built_dists["flit_core"] if p.suffix == ".whl")
    renamed = tmp_path / wheel.name.replace("py3-none-any", "cp311-cp311-linux_x86_64")
    renamed.write_bytes(wheel.read_bytes())
    report = check_paths([renamed])
    assert [f.rule for f in report.errors] == ["wheel-platform-tag"]
