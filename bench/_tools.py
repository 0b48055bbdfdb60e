"""The three upload commands, exactly as a user types them, each against a fresh target.

trustpub is the real ``trustpub publish`` (preflight, plan, upload, verify, journal)
with a token and attestations off, since neither peer makes attestations; its state
folder (journals) is a temporary one.
"""

from __future__ import annotations

from pathlib import Path

from _harness import TRUSTPUB, TWINE, UV, Command, clean_env, loopback
from _targets import Target


def trustpub_cmd(target: Target, files: list[Path], jobs: int, state: Path) -> Command:
    def command() -> tuple[list[str], dict[str, str]]:
        target.fresh(target)
        argv = [TRUSTPUB, "publish", "--to", loopback(target.upload_url), "--no-attestations",
                "--credentials", "token", "--jobs", str(jobs), "-q", *map(str, files)]  # fmt: skip
        env = clean_env({"TRUSTPUB_USERNAME": target.username, "TRUSTPUB_PASSWORD": target.password,
                         "TRUSTPUB_STATE_DIR": str(state)})  # fmt: skip
        return argv, env

    return command


def twine_cmd(target: Target, files: list[Path]) -> Command:
    def command() -> tuple[list[str], dict[str, str]]:
        target.fresh(target)
        argv = [TWINE, "upload", "--repository-url", loopback(target.upload_url),
                f"--username={target.username}", f"--password={target.password}",
                "--non-interactive", "--disable-progress-bar", *map(str, files)]  # fmt: skip
        return argv, clean_env()

    return command


def uv_cmd(target: Target, files: list[Path]) -> Command:
    def command() -> tuple[list[str], dict[str, str]]:
        target.fresh(target)
        argv = [UV, "publish", "--publish-url", loopback(target.upload_url),
                "--username", target.username, "--password", target.password,
                "--trusted-publishing", "never", "--no-progress", *map(str, files)]  # fmt: skip
        return argv, clean_env()

    return command
