"""Shared pieces of the reliability suite: releases built once, and one way to run trustpub.

Every run goes through :func:`run_trustpub`, which bounds it in time and checks, for
every run of the suite, that no secret it was given (the canaries) appears in its
stdout, stderr, or any file it may have written (the working folder, with the state
folder inside it). That is the "secrets" half of the suite: the canary check runs
under every fault, crash and misbehaving server, not only in its own module.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.distfactory import build_demo

TRUSTPUB = [sys.executable, "-m", "trustpub"]
#: Upper bound on any one trustpub run in this suite (a hang fails the test, never the session).
RUN_TIMEOUT = 90.0

_CI_PREFIXES = ("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI_", "CI_", "BUILDKITE", "CIRCLE")


def build_release(out: Path, wheels: int) -> Path:
    """examples/demo built by hatchling (a real build backend), plus ``wheels - 1`` retagged copies of its wheel.

    Retagging rewrites WHEEL and RECORD, so each wheel is a distinct, valid file.
    """
    out.mkdir(parents=True, exist_ok=True)
    build_demo(out, timeout=120)
    wheel = next(out.glob("*.whl"))
    pythons = ("cp39", "cp310", "cp311", "cp312", "cp313")
    platforms = ("manylinux_2_17_x86_64", "manylinux_2_17_aarch64", "musllinux_1_2_x86_64", "musllinux_1_2_aarch64",
                 "macosx_11_0_arm64", "macosx_10_9_x86_64", "win_amd64", "win32")
    tags = [f"{py}-{py}-{plat}" for plat in platforms for py in pythons]
    for tag in tags[: wheels - 1]:
        _retag(wheel, out / wheel.name.replace("py3-none-any", tag), tag)
    return out


def _retag(wheel: Path, target: Path, tag: str) -> None:
    with zipfile.ZipFile(wheel) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    wheel_name = next(n for n in members if n.endswith(".dist-info/WHEEL"))
    members[wheel_name] = members[wheel_name].replace(b"Tag: py3-none-any", f"Tag: {tag}".encode())
    digest = base64.urlsafe_b64encode(hashlib.sha256(members[wheel_name]).digest()).rstrip(b"=").decode()
    record_name = next(n for n in members if n.endswith(".dist-info/RECORD"))
    lines = [
        f"{wheel_name},sha256={digest},{len(members[wheel_name])}" if line.startswith(wheel_name + ",") else line
        for line in members[record_name].decode().splitlines()
    ]
    members[record_name] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in members.items():
            dst.writestr(name, data)


def file_bytes(folder: Path) -> dict[str, bytes]:
    """{filename: bytes} of the distributions in ``folder``."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".whl", ".gz")}


def sha256s(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in file_bytes(folder).items()}


def clean_env(cwd: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without CI identity or trustpub settings, state kept under ``cwd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CI_PREFIXES)}
    env.pop("CI", None)
    env["TRUSTPUB_STATE_DIR"] = str(cwd / "state")
    env.update(extra)
    return env


@dataclass(frozen=True)
class Run:
    """One finished trustpub run."""

    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def json(self) -> dict[str, object]:
        doc = json.loads(self.stdout)
        assert isinstance(doc, dict)
        return doc

    def outcomes(self) -> dict[str, str]:
        return {str(f["filename"]): str(f["outcome"]) for f in self.json()["files"]}  # type: ignore[attr-defined]


def run_trustpub(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], secrets: Iterable[str], timeout: float = RUN_TIMEOUT
) -> Run:
    """Run ``trustpub ARGS`` to the end (bounded), then check that no secret leaked anywhere."""
    import time

    secrets = tuple(s for s in secrets if s)
    assert secrets, "every reliability run names the secrets it must not leak"
    started = time.monotonic()
    proc = subprocess.run([*TRUSTPUB, *args], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout)
    run = Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started, secrets)
    assert_no_secret(run.stdout + run.stderr, secrets, where=f"output of trustpub {' '.join(args[:1])}")
    assert_no_secret_in_files(cwd, secrets)
    assert "Traceback (most recent call last)" not in run.stderr, run.stderr
    return run


def without_masks(text: str) -> str:
    """``text`` without GitHub's ``::add-mask::VALUE`` commands: the runner reads them to hide
    VALUE everywhere and never shows them, so they are the one place a secret must appear."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))


def assert_no_secret(text: str, secrets: Iterable[str], *, where: str) -> None:
    text = without_masks(text)
    for secret in secrets:
        # The secret itself, and its Basic-auth form (a leaked header would show that).
        for form in {secret, base64.b64encode(f"__token__:{secret}".encode()).decode()}:
            assert form not in text, f"a secret appeared in the {where}"


def assert_no_secret_in_files(folder: Path, secrets: Iterable[str]) -> None:
    needles = [s.encode() for s in secrets]
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 20_000_000:
            data = path.read_bytes()
            for needle in needles:
                assert needle not in data, f"a secret was written to {path}"


def journals(cwd: Path) -> list[Path]:
    """Journal files a run in ``cwd`` wrote (the state folder lives under ``cwd``; the old place too)."""
    return sorted(p for p in cwd.rglob("journal/*.json") if p.is_file())
