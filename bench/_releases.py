"""The releases the benchmarks publish, built by a real backend (hatchling) and retagged.

A binary project's CI produces one wheel per tag plus one sdist. Building 40 wheels
would take minutes, so one hatchling wheel is rewritten for each tag: its WHEEL file
(and that file's RECORD line) names the tag, so every file has its own bytes (PyPI,
like the local index, refuses the same bytes under a second name). Large wheels hold
one random member stored uncompressed, so no tool can win by compression.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

MIB = 1024 * 1024
PROJECT = "benchpkg"
VERSION = "3.1.4"

PLATFORMS = (
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "musllinux_1_2_x86_64",
    "musllinux_1_2_aarch64",
    "macosx_10_9_x86_64",
    "macosx_11_0_arm64",
    "win_amd64",
    "win32",
)
#: 40 tags: CPython 3.10-3.14 on eight platforms.
TAGS = [f"cp3{minor}-cp3{minor}-{plat}" for minor in range(10, 15) for plat in PLATFORMS]


def scale_tags(count: int) -> list[str]:
    """``count`` distinct valid tags (up to 448): CPython 3.8-3.14 x manylinux_2_17..2_80 x86_64."""
    tags = [f"cp3{minor}-cp3{minor}-manylinux_2_{glibc}_x86_64" for glibc in range(17, 81) for minor in range(8, 15)]
    if count > len(tags):
        raise ValueError(f"at most {len(tags)} distinct tags")
    return tags[:count]


def build_project(work: Path, *, blob: int = 14_000) -> tuple[Path, Path]:
    """Build a small real project with hatchling; returns (wheel, sdist)."""
    project = work / "project"
    pkg = project / PROJECT
    pkg.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"
            [project]
            name = "{PROJECT}"
            version = "{VERSION}"
            description = "A benchmark project"
            readme = "README.md"
            license = "MIT"
            requires-python = ">=3.10"
            classifiers = ["Programming Language :: Python :: 3", "Operating System :: OS Independent"]
            dependencies = ["packaging>=23"]
            [project.urls]
            Source = "https://example.org/benchpkg"
            """
        )
    )
    (project / "README.md").write_text("# benchpkg\n\nA benchmark project.\n")
    (pkg / "__init__.py").write_text('"""benchpkg."""\n')
    (pkg / "_blob.bin").write_bytes(os.urandom(blob))  # a compiled-extension-like payload
    out = work / "built"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(project)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("*.whl")), next(out.glob("*.tar.gz"))


def small_release(work: Path, wheel: Path, sdist: Path, tags: list[str], name: str = "small") -> list[Path]:
    """One wheel per tag (retagged copies of ``wheel``) plus ``sdist``, in ``work/name``."""
    dist = work / name
    dist.mkdir()
    shutil.copy(sdist, dist)
    for tag in tags:
        retag_wheel(wheel, dist / wheel.name.replace("py3-none-any", tag), tag)
    return sorted(dist.iterdir())


def retag_wheel(source: Path, target: Path, tag: str) -> None:
    """A copy of ``source`` for another tag: WHEEL (and its RECORD line) say ``tag``."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        members = {info.filename: src.read(info) for info in src.infolist()}
        wheel_name = next(n for n in members if n.endswith(".dist-info/WHEEL"))
        record_name = wheel_name[: -len("WHEEL")] + "RECORD"
        text = members[wheel_name].decode()
        members[wheel_name] = "".join(
            "".join(f"Tag: {t}\n" for t in _expand(tag)) if line.startswith("Tag:") else line
            for line in text.splitlines(keepends=True)
        ).encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(members[wheel_name]).digest()).rstrip(b"=").decode()
        members[record_name] = "".join(
            f"{wheel_name},sha256={digest},{len(members[wheel_name])}\n" if line.startswith(wheel_name + ",") else line
            for line in members[record_name].decode().splitlines(keepends=True)
        ).encode()
        for info in src.infolist():
            dst.writestr(info, members[info.filename])


def _expand(tag: str) -> list[str]:
    py, abi, plats = tag.split("-")
    return [f"{py}-{abi}-{plat}" for plat in plats.split(".")]


def large_release(work: Path, count: int = 3, size: int = 200 * MIB) -> list[Path]:
    """``count`` wheels of about ``size`` bytes, each with one random member stored uncompressed."""
    dist = work / "large"
    dist.mkdir()
    block = os.urandom(16 * MIB)
    files = []
    for i in range(count):
        tag = f"cp31{i}-cp31{i}-manylinux_2_17_x86_64"
        path = dist / f"{PROJECT}-{VERSION}-{tag}.whl"
        info = f"{PROJECT}-{VERSION}.dist-info"
        payload = f"{PROJECT}/_payload{i}.bin"
        sha = hashlib.sha256()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.4\nName: {PROJECT}\nVersion: {VERSION}\nSummary: big\n")
            wheel_text = f"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: false\nTag: {tag}\n"
            zf.writestr(f"{info}/WHEEL", wheel_text)
            left = max(size - 4096, 64)
            with zf.open(payload, "w", force_zip64=True) as member:
                head = os.urandom(64)  # every file differs
                member.write(head)
                sha.update(head)
                left -= 64
                while left > 0:
                    piece = block[: min(left, len(block))]
                    member.write(piece)
                    sha.update(piece)
                    left -= len(piece)
            written = max(size - 4096, 64)
            record = "".join(
                f"{name},sha256={_b64(hashlib.sha256(data.encode()).digest())},{len(data)}\n"
                for name, data in ((f"{info}/WHEEL", wheel_text),)
            ) + f"{payload},sha256={_b64(sha.digest())},{written}\n{info}/RECORD,,\n"
            meta = f"Metadata-Version: 2.4\nName: {PROJECT}\nVersion: {VERSION}\nSummary: big\n"
            record = f"{info}/METADATA,sha256={_b64(hashlib.sha256(meta.encode()).digest())},{len(meta)}\n" + record
            zf.writestr(f"{info}/RECORD", record)
        files.append(path)
    return files


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
