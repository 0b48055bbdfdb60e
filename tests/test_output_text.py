"""What trustpub prints about text it did not write: filenames, server answers, retries.

A filename or an error body can carry a newline followed by ``::warning::`` (a GitHub
workflow command once it starts a line), terminal escape sequences, or ``|`` that
would split a Markdown table. These tests put such text in real files and real
127.0.0.1 servers and read what the CLI prints, on stderr, stdout and in
``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.distfactory import make_wheel
from trustpub.local.world import LocalWorld
from trustpub.text import excerpt, markdown_text, printable, printable_lines

TRUSTPUB = [sys.executable, "-m", "trustpub"]

# What a hostile name or body carries: a line break into a workflow command, a
# terminal title + colour + screen clear, a bidi override and a table-cell separator.
INJECTION = "\n::warning title=pwned::owned\x1b]0;title\x07\x1b[31m\x1b[2J\u202e|cell"
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI_")) and k != "CI"
    }
    env.update(extra)
    return env


def _no_injected_command(text: str) -> None:
    """No line that a runner would read as a command other than trustpub's own ``::error``."""
    for line in text.splitlines():
        stripped = line.lstrip()
        assert not stripped.startswith("::warning"), line
        assert not stripped.startswith("##["), line
    assert _RAW_CONTROL.search(text) is None, repr(text)


# -- the escaping function -------------------------------------------------------------


def test_printable_escapes_controls_and_leading_commands() -> None:
    assert printable("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert printable("\x1b[31mred\x9b") == "\\x1b[31mred\\x9b"
    assert printable("name\u202eevil") == "name\\u202eevil"
    assert printable("::warning::x") == "\\x3a:warning::x"
    assert printable("   ::error::x") == "   \\x3a:error::x"
    assert printable("##[set-output]x") == "\\x23#[set-output]x"
    # Ordinary text, Windows paths and non-ASCII names are left alone.
    for plain in ("demo_pkg-1.0.0-py3-none-any.whl", "C:\\dist\\x.whl", "café 1:2 a::b"):
        assert printable(plain) == plain


def test_printable_lines_keeps_meant_line_breaks_and_disarms_each_line() -> None:
    shown = printable_lines("index refused the token\n    sub: repo:x\n::warning::fake\x1b[2J\r")
    assert shown.split("\n") == ["index refused the token", "    sub: repo:x", "\\x3a:warning::fake\\x1b[2J\\r"]


@given(st.text())
def test_printable_is_one_inert_line_and_idempotent(text: str) -> None:
    shown = printable(text)
    assert "\n" not in shown and "\r" not in shown
    assert _RAW_CONTROL.search(shown) is None
    assert not shown.lstrip().startswith(("::", "##["))
    assert printable(shown) == shown


@given(st.text())
def test_markdown_text_never_splits_a_cell_or_opens_markup(text: str) -> None:
    cell = markdown_text(text)
    # Every '|' is escaped, and every escaping backslash is itself escaped.
    assert re.search(r"(?<!\\)(?:\\\\)*\|", cell) is None
    assert "\n" not in cell
    assert re.search(r"(?<!\\)(?:\\\\)*[<\[`]", cell) is None


def test_excerpt_bounds_what_a_server_wrote() -> None:
    shown = excerpt("\x1b[2J" + "x" * 100_000, limit=300)
    assert shown.startswith("\\x1b[2J") and len(shown) < 400
    assert "more characters" in shown


# -- a dist file with a hostile name ---------------------------------------------------


@pytest.fixture
def hostile_dist(tmp_path: Path) -> Path:
    """A real wheel on disk whose name carries the injection (Linux allows it)."""
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = make_wheel(dist)
    hostile = dist / f"demo_pkg-1.0.0-py3-none-any{INJECTION}.whl"
    wheel.rename(hostile)
    return dist


def test_check_reports_a_hostile_filename_escaped(hostile_dist: Path) -> None:
    proc = subprocess.run([*TRUSTPUB, "check", str(hostile_dist)], capture_output=True, text=True, timeout=60, env=_clean_env())
    assert proc.returncode == 1, proc.stderr
    _no_injected_command(proc.stderr)
    (line,) = [ln for ln in proc.stderr.splitlines() if "[filename-characters]" in ln]
    assert line.startswith("demo_pkg-1.0.0-py3-none-any\\n::warning title=pwned::owned\\x1b]0;title\\x07\\x1b[31m")
    # JSON stays JSON, with the exact name.
    doc = json.loads(
        subprocess.run([*TRUSTPUB, "check", "--json", str(hostile_dist)], capture_output=True, text=True, timeout=60).stdout
    )
    assert doc["files"][0]["filename"].endswith(INJECTION + ".whl")


def test_publish_refuses_a_hostile_filename_and_the_summary_shows_it_escaped(hostile_dist: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    with LocalWorld.start(tmp_path / "world", project="demo-pkg") as world:
        env = _clean_env(
            GITHUB_ACTIONS="true",
            GITHUB_STEP_SUMMARY=str(summary),
            TRUSTPUB_TOKEN=world.index.add_api_token("demo-pkg"),
        )
        proc = subprocess.run(
            [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--no-attestations", str(hostile_dist)],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )
        assert world.index.stored_log == []
    assert proc.returncode == 1, proc.stderr
    _no_injected_command(proc.stdout + proc.stderr)
    assert "[filename-characters]" in proc.stderr and "\\n::warning title=pwned" in proc.stderr
    assert "::error::preflight found 1 problem(s)" in proc.stdout
    text = summary.read_text()
    _no_injected_command(text)
    rows = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert rows[0] == "| file | rule | problem |"
    (row,) = [r for r in rows if "filename-characters" in r]
    # Three cells exactly: the '|' of the name is escaped.
    assert len(re.findall(r"(?<!\\)\|", row)) == 4
    assert "\\\\n::warning title=pwned::owned\\\\x1b" in row and "\\|cell" in row


# -- a server that answers with a huge, hostile error body ------------------------------


class _HostileIndex:
    """Answers the simple API with 404 and every upload with a 400 whose body is
    ``size`` bytes: escape sequences, then filler."""

    def __init__(self, size: int) -> None:
        self.size = size
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                # One endless first line (what an error message is taken from), then the rest.
                head = "upload refused \x1b]0;title\x07\x1b[31m\u202e|cell ::warning::owned ".encode()
                self.send_response(400, "Bad Request")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(owner.size))
                self.end_headers()
                try:
                    self.wfile.write(head)
                    left = owner.size - len(head)
                    block = b"x" * 65536
                    while left > 0:
                        self.wfile.write(block[: min(left, len(block))])
                        left -= len(block)
                except OSError:
                    pass  # the client stopped reading: that is the point

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile_index() -> Iterator[_HostileIndex]:
    server = _HostileIndex(size=20 * 1024 * 1024)
    yield server
    server.stop()


def test_a_huge_hostile_error_body_is_shown_short_and_escaped(hostile_index: _HostileIndex, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist)
    summary = tmp_path / "summary.md"
    env = _clean_env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), TRUSTPUB_TOKEN="pypi-" + "A" * 40)
    proc = subprocess.run(
        [*TRUSTPUB, "publish", "--to", hostile_index.url + "/legacy/", "--no-attestations", "-v", "--json", str(dist)],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    _no_injected_command(proc.stderr)
    assert "400 upload refused \\x1b]0;title\\x07\\x1b[31m\\u202e|cell ::warning::owned xxx" in proc.stderr
    # 20 MiB were offered; a few lines of a few hundred characters were printed.
    assert len(proc.stderr) < 20_000, len(proc.stderr)
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and len(doc["error"]) < 2_000
    text = summary.read_text()
    _no_injected_command(text)
    status = next(ln for ln in text.splitlines() if ln.startswith("Release failed"))
    assert "\\|cell" in status and len(status) < 2_000


def test_transport_reads_an_error_body_only_up_to_its_bound(hostile_index: _HostileIndex) -> None:
    from trustpub.transport import MAX_ERROR_BODY, Transport

    transport = Transport()
    response = transport.request("POST", hostile_index.url + "/legacy/", body=b"x")
    assert response.status == 400
    assert response.truncated is True and len(response.data) == MAX_ERROR_BODY
    assert response.data.startswith(b"upload refused \x1b]0;title")
    # The connection with unread bytes was dropped, not reused: the next request works.
    again = transport.request("GET", hostile_index.url + "/simple/demo/")
    assert again.status == 404 and again.truncated is False


def test_transport_refuses_a_success_body_past_its_bound(tmp_path: Path) -> None:
    from trustpub.transport import Transport, TransportError

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = json.dumps({"files": [{"filename": "x" * 100}] * 100}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/demo/"
        assert len(Transport().request("GET", url).data) > 4096
        with pytest.raises(TransportError, match="more than 4 KiB"):
            Transport().request("GET", url, max_body=4096)
    finally:
        server.shutdown()
        server.server_close()


# -- item 13: an upload URL that is not the upload endpoint ----------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world", project="demo-pkg") as w:
        yield w


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    folder = tmp_path / "dist"
    folder.mkdir()
    make_wheel(folder)
    return folder


def test_a_404_on_a_url_without_legacy_names_the_upload_url_shape(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    env = _clean_env(TRUSTPUB_TOKEN=world.index.add_api_token("demo-pkg"))
    proc = subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.url + "/upload/", "--no-attestations", str(dist)],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert " 404 " in proc.stderr
    assert f"PyPI-style indexes take uploads at {world.index.url}/legacy/" in proc.stderr
    assert world.index.stored_log == []


# -- item 14: a retry is said once -----------------------------------------------------


@pytest.mark.parametrize("flags", [["-v"], ["-vv"], ["-q", "-v"]])
def test_each_retry_is_printed_once(world: LocalWorld, dist: Path, tmp_path: Path, flags: list[str]) -> None:
    world.index.fail_next_uploads(1, status=503)
    env = _clean_env(TRUSTPUB_TOKEN=world.index.add_api_token("demo-pkg"))
    proc = subprocess.run(
        [*TRUSTPUB, "publish", "--to", world.index.upload_url, "--no-attestations", *flags, str(dist)],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    retries = [ln for ln in proc.stderr.splitlines() if "attempt 1 failed" in ln]
    assert len(retries) == 1, proc.stderr
    # The filename is said once per line, not again inside the reason.
    assert retries[0].count("demo_pkg-1.0.0-py3-none-any.whl") == 1, retries[0]
    assert "503" in retries[0]
