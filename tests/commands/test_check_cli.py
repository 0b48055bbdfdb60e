"""``trustpub check`` as users run it: a real subprocess, real files, exit codes, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.distfactory import make_metadata, make_sdist, make_wheel


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trustpub", "check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def test_clean_folder_exits_zero_and_json_reports_each_file(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    sdist = make_sdist(tmp_path)
    (tmp_path / f"{wheel.name}.publish.attestation").write_text("{}")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    proc = _run("--json", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True
    by_name = {f["filename"]: f for f in doc["files"]}
    assert set(by_name) == {wheel.name, sdist.name}
    entry = by_name[wheel.name]
    assert entry["name"] == "demo-pkg" and entry["version"] == "1.0.0"
    assert entry["filetype"] == "bdist_wheel" and by_name[sdist.name]["filetype"] == "sdist"
    import hashlib

    assert entry["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert entry["blake2_256"] == hashlib.blake2b(wheel.read_bytes(), digest_size=32).hexdigest()
    assert entry["size"] == wheel.stat().st_size
    assert entry["errors"] == [] and entry["warnings"] == []
    assert sorted(Path(p).name for p in doc["skipped"]) == [".DS_Store", f"{wheel.name}.publish.attestation"]
    assert "skipped, not a distribution" in proc.stderr
    assert "PASSED: 2 file(s) checked" in proc.stderr


def test_problem_lines_name_file_rule_and_hint(tmp_path: Path) -> None:
    make_wheel(tmp_path, tag="cp311-cp311-linux_x86_64")
    proc = _run(str(tmp_path))
    assert proc.returncode == 1
    (line,) = [ln for ln in proc.stderr.splitlines() if "[wheel-platform-tag]" in ln]
    assert line.startswith("demo_pkg-1.0.0-cp311-cp311-linux_x86_64.whl: error [wheel-platform-tag] ")
    assert "auditwheel" in line
    assert proc.stdout == ""


def test_strict_turns_warnings_into_errors(tmp_path: Path) -> None:
    make_wheel(tmp_path, metadata=make_metadata(description=None))
    relaxed = _run(str(tmp_path))
    assert relaxed.returncode == 0
    assert "warning [description-present]" in relaxed.stderr
    strict = _run("--strict", "--json", str(tmp_path))
    assert strict.returncode == 1
    assert "error [description-present]" in strict.stderr
    assert json.loads(strict.stdout)["ok"] is False


def test_default_path_is_dist_folder(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    make_wheel(tmp_path / "dist")
    assert _run(cwd=tmp_path).returncode == 0
    (tmp_path / "dist" / "demo_pkg-1.0.0-py3-none-any.whl").unlink()
    empty = _run(cwd=tmp_path)
    assert empty.returncode == 2
    assert "no distributions found in dist" in empty.stderr


def test_usage_errors_exit_two_without_traceback(tmp_path: Path) -> None:
    missing = _run(str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "no such file or folder" in missing.stderr
    assert "Traceback" not in missing.stderr
    no_dist = _run(cwd=tmp_path)
    assert no_dist.returncode == 2
    bad_flag = _run("--frobnicate")
    assert bad_flag.returncode == 2


def test_misnamed_distribution_is_an_error_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "demo_pkg-1.0.0.egg").write_bytes(b"PK")
    proc = _run(str(tmp_path))
    assert proc.returncode == 1
    assert "[filename-extension]" in proc.stderr


def test_version_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from trustpub.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sigstore', 'rich', 'httpx', 'urllib3', 'pypi_attestations', 'readme_renderer') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[0] == "trustpub 0.1.0"
    assert out.stdout.splitlines()[-1] == "HEAVY=", out.stdout
