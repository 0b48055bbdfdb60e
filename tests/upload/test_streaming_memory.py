"""A 300 MB upload keeps the uploading process under 100 MB: files stream, they are never loaded.

The upload runs the way the CLI does it (parallel hashing, simple-API lookup, engine,
native uploader) in a SUBPROCESS that reports its own peak RSS with
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end. Two details keep that
number honest:

- The subprocess is started through a small intermediate process. A child starts
  with its parent's RSS high-water mark, and exec keeps it, so a child of this test
  process (which holds servers, fixtures and pytest itself) would report at least our
  size, whatever it did.
- The server must not share the measured process or this one in a way that hides a
  leak: the sink is its own process, and the local index (which runs PyPI's checks,
  digests included) is its own process too, with its own peak (``VmHWM``) checked,
  so a server that buffered the body would show up there, not be mistaken for ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SIZE = 300 * 1000 * 1000
LIMIT = 100 * 1000 * 1000
NAME = "bigdemo"

# Re-launches its arguments as a grandchild (see the module docstring).
HOP = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"

UPLOAD = textwrap.dedent(
    """
    import json, os, resource, sys
    from trustpub.secrets import Secret
    from trustpub.transport import Transport
    from trustpub.upload._types import UploadRequest
    from trustpub.dists import inspect_many
    from trustpub.upload.engine import UploadEngine
    from trustpub.upload.native import NativeUploader
    from trustpub.upload.simple import SimpleIndex

    path, upload_url, simple_url, username = sys.argv[1:5]
    password = Secret(os.environ["UPLOAD_PASSWORD"])
    sent = []
    dists = inspect_many([path])
    transport = Transport()
    engine = UploadEngine(
        NativeUploader(transport, progress=lambda name, n: sent.append(n)),
        lookup=SimpleIndex(transport, simple_url),
    )
    results = engine.upload(dists, lambda d: UploadRequest(
        d.path, d.filename, d.sha256, d.blake2_256, d.size, upload_url, username, password))
    print(json.dumps({
        "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "outcomes": [r.outcome for r in results],
        "sent": sum(sent),
        "sha256": dists[0].sha256,
    }))
    """
)

# Reads each body in 1 MiB pieces and forgets it; one "METHOD bytes" line per request.
SINK = textwrap.dedent(
    """
    import socket, sys, threading
    def serve(conn):
        buf = memoryview(bytearray(1 << 20))
        with conn:
            data = b""
            while True:
                while b"\\r\\n\\r\\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                head, _, rest = data.partition(b"\\r\\n\\r\\n")
                lines = head.split(b"\\r\\n")
                length = 0
                for line in lines[1:]:
                    key, _, value = line.partition(b":")
                    if key.strip().lower() == b"content-length":
                        length = int(value)
                got = min(len(rest), length)
                data = rest[length:]
                while got < length:
                    n = conn.recv_into(buf, min(len(buf), length - got))
                    if not n:
                        return
                    got += n
                method = lines[0].split()[0].decode()
                print(method, got, flush=True)
                status = b"404 Not Found" if method == "GET" else b"200 OK"
                conn.sendall(b"HTTP/1.1 " + status + b"\\r\\nContent-Length: 0\\r\\n\\r\\n")
    server = socket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
    """
)

LOCAL_INDEX = textwrap.dedent(
    """
    import json, sys
    from trustpub.local.index import LocalIndex
    index = LocalIndex(sys.argv[1])
    index.max_file_size = 512 * 1024 * 1024  # PyPI grants larger limits on request
    index.start()
    token = index.add_api_token(sys.argv[2])
    print(json.dumps({"upload_url": index.upload_url, "simple_url": index.simple_url, "token": token}), flush=True)
    sys.stdin.read()  # until the test closes our stdin
    print(json.dumps({"files": index.files(sys.argv[2])}), flush=True)
    index.stop()
    """
)


@pytest.fixture(scope="module")
def big_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid 300 MB wheel: one stored member of zeros (written in 1 MiB pieces)."""
    path = tmp_path_factory.mktemp("big") / f"{NAME}-1.0-py3-none-any.whl"
    info = f"{NAME}-1.0.dist-info"
    zero = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        with zf.open(f"{NAME}/blob.bin", "w") as member:
            left = SIZE - 4096
            while left > 0:
                member.write(zero[: min(left, len(zero))])
                left -= len(zero)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {NAME}\nVersion: 1.0\nSummary: big\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return path


def _run_upload(wheel: Path, upload_url: str, simple_url: str, username: str, password: str) -> dict[str, object]:
    assert upload_url.startswith("http://127.0.0.1:") and simple_url.startswith("http://127.0.0.1:")
    done = subprocess.run(
        [sys.executable, "-c", HOP, sys.executable, "-c", UPLOAD, str(wheel), upload_url, simple_url, username],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "UPLOAD_PASSWORD": password},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return report


@pytest.fixture
def sink() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    yield f"http://127.0.0.1:{port}/", proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)


def test_300_mb_to_a_discard_sink_stays_under_100_mb(
    big_wheel: Path, sink: tuple[str, subprocess.Popen[str]]
) -> None:
    url, proc = sink

    report = _run_upload(big_wheel, url, url + "simple/", "user", "pw-for-the-sink")

    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    posts = [int(line.split()[1]) for line in out.splitlines() if line.startswith("POST ")]
    assert report["outcomes"] == ["uploaded"]
    assert report["sent"] == big_wheel.stat().st_size
    assert len(posts) == 1 and posts[0] > big_wheel.stat().st_size  # the whole body arrived
    assert isinstance(report["maxrss_bytes"], int) and report["maxrss_bytes"] < LIMIT, report


def test_300_mb_to_the_local_index_stays_under_100_mb_on_both_sides(big_wheel: Path, tmp_path: Path) -> None:
    index = subprocess.Popen(
        [sys.executable, "-c", LOCAL_INDEX, str(tmp_path / "index"), NAME],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert index.stdin is not None and index.stdout is not None
        facts = json.loads(index.stdout.readline())

        report = _run_upload(big_wheel, facts["upload_url"], facts["simple_url"], "__token__", facts["token"])

        status = Path(f"/proc/{index.pid}/status").read_text()
        index_peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
        index.stdin.close()
        stored = json.loads(index.stdout.readline())
    finally:
        if index.poll() is None:
            index.terminate()
        index.wait(timeout=30)
    assert report["outcomes"] == ["uploaded"]
    assert stored["files"] == [big_wheel.name]
    assert isinstance(report["maxrss_bytes"], int) and report["maxrss_bytes"] < LIMIT, report
    # The index spooled the body to disk too: its peak is far below the file's size.
    assert index_peak < 2 * LIMIT < SIZE, index_peak
