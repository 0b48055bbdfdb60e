"""UvUploader against real servers, a capturing server, and a fake ``uv`` that records its call."""

from __future__ import annotations

import base64
import http.server
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tests.distfactory import make_wheel
from tests.servers import RunningIndex, pip_download
from trustpub.dists import hash_file
from trustpub.errors import ConfigurationError, TrustpubError
from trustpub.secrets import Secret
from trustpub.upload._types import UploadRejected, UploadRequest
from trustpub.upload.uv import UvUploader

UV = str(Path(sys.executable).parent / "uv")
SECRET = "s3cret-" + "Zq9xW2vLp7"  # long enough to be registered for redaction


def _request(
    path: Path, url: str, *, username: str = "user", password: str = SECRET, **kw: Any
) -> UploadRequest:
    hashes = hash_file(path)
    return UploadRequest(
        path=path,
        filename=kw.pop("filename", path.name),
        sha256=hashes.sha256,
        blake2_256=hashes.blake2_256,
        size=hashes.size,
        upload_url=url,
        username=username,
        password=Secret(password),
        **kw,
    )


def _subdir(parent: Path, name: str) -> Path:
    (parent / name).mkdir()
    return parent / name


def _for_index(path: Path, index: RunningIndex, **kw: Any) -> UploadRequest:
    return _request(path, index.upload_url, username=index.username, password=index.password, **kw)


@pytest.fixture(params=["pypiserver", "devpi"])
def index(request: pytest.FixtureRequest) -> RunningIndex:
    fixture = {"pypiserver": "pypiserver_index", "devpi": "devpi_index"}[request.param]
    result: RunningIndex = request.getfixturevalue(fixture)
    return result


# --- real servers --------------------------------------------------------------------------


@pytest.mark.slow
def test_upload_lands_and_downloads_identical(index: RunningIndex, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)

    result = UvUploader(UV).upload(_for_index(wheel, index))

    assert (result.filename, result.outcome) == (wheel.name, "uploaded")
    (fetched,) = pip_download(index, "demo_pkg==1.0.0", tmp_path / "down")
    assert fetched.read_bytes() == wheel.read_bytes()


@pytest.mark.slow
def test_duplicate_identical_file(index: RunningIndex, tmp_path: Path) -> None:
    """pypiserver refuses any re-upload (409); devpi accepts identical bytes with a 200."""
    wheel = make_wheel(tmp_path)
    uploader = UvUploader(UV)
    uploader.upload(_for_index(wheel, index))

    if index.kind == "devpi":
        assert uploader.upload(_for_index(wheel, index)).outcome == "uploaded"
        return
    with pytest.raises(UploadRejected) as caught:
        uploader.upload(_for_index(wheel, index))
    error = caught.value
    assert (error.filename, error.status, error.retryable) == (wheel.name, 409, False)
    # pypiserver's HTML page is reduced to its message.
    assert "Package 'demo_pkg-1.0.0-py3-none-any.whl' already exists!" in error.message
    assert "<pre>" not in error.message and "Hashing" not in error.message
    assert error.hint and "already on the index" in error.hint


@pytest.mark.slow
def test_check_url_skips_identical_and_refuses_different(
    index: RunningIndex, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path)
    uploader = UvUploader(UV, check_url=index.simple_url)
    assert uploader.upload(_for_index(wheel, index)).outcome == "uploaded"

    assert uploader.upload(_for_index(wheel, index)).outcome == "already-present"

    other = make_wheel(_subdir(tmp_path, "other"), extra_files={"x": b"y"})
    with pytest.raises(UploadRejected, match="do not match") as caught:
        uploader.upload(_for_index(other, index))
    assert caught.value.hint and "new version" in caught.value.hint


@pytest.mark.slow
def test_wrong_password_is_rejected_without_leaking_it(index: RunningIndex, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    wrong = "wrong-" + "Hk3mNp8sQw"

    with pytest.raises(UploadRejected) as caught:
        UvUploader(UV).upload(replace(_for_index(wheel, index), password=Secret(wrong)))

    assert caught.value.status == {"pypiserver": 403, "devpi": 401}[index.kind]
    assert wrong not in str(caught.value) and wrong not in repr(caught.value.args)
    assert caught.value.hint and "credentials" in caught.value.hint


@pytest.mark.slow
def test_attestation_field_is_accepted_by_both_servers(index: RunningIndex, tmp_path: Path) -> None:
    """Neither server knows PEP 740, but both must tolerate the ``attestations`` field."""
    wheel = make_wheel(tmp_path)
    attestation = tmp_path / "attestation.json"
    attestation.write_text('{"version": 1}')

    result = UvUploader(UV).upload(_for_index(wheel, index, attestations=(attestation,)))

    assert result.outcome == "uploaded"


# --- a capturing server: what uv really sends ------------------------------------------------


@dataclass
class _Capture:
    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)


def _form_fields(body: bytes, content_type: str) -> dict[str, bytes]:
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    fields: dict[str, bytes] = {}
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, value = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]+)"', head)
        if name:
            fields[name.group(1).decode()] = value.removesuffix(b"\r\n")
    return fields


@pytest.fixture
def capture() -> Iterator[_Capture]:
    """An HTTP server on 127.0.0.1 that records each upload form and answers 200."""
    holder = _Capture(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            holder.posts.append(
                {
                    "auth": self.headers.get("Authorization"),
                    "fields": _form_fields(body, self.headers["Content-Type"]),
                    "body": body,
                }
            )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.url = f"http://127.0.0.1:{server.server_address[1]}/legacy/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_attestations_reach_the_wire_whatever_their_file_names(
    capture: _Capture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uv sends only ``<dist>.<kind>.attestation`` files; ours go out under any name."""
    scratch = _subdir(tmp_path, "scratch")
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    wheel = make_wheel(tmp_path)
    named = tmp_path / f"{wheel.name}.publish.attestation"
    named.write_text('{"version": 1, "kind": "named"}')
    odd = _subdir(tmp_path, "sub") / "signed.json"
    odd.write_text('{"version": 1, "kind": "odd"}')

    result = UvUploader(UV).upload(_request(wheel, capture.url, attestations=(named, odd)))

    assert result.outcome == "uploaded"
    (post,) = capture.posts
    sent = json.loads(post["fields"]["attestations"])
    assert sorted(a["kind"] for a in sent) == ["named", "odd"]
    assert post["fields"]["sha256_digest"].decode() == hash_file(wheel).sha256
    assert post["fields"]["content"] == wheel.read_bytes()
    assert list(scratch.iterdir()) == []  # the links for uv are gone


def test_token_goes_as_token_and_glob_characters_in_paths_are_literal(
    capture: _Capture, tmp_path: Path
) -> None:
    folder = tmp_path / "build[1]*?"
    folder.mkdir()
    wheel = make_wheel(folder)

    UvUploader(UV).upload(
        _request(wheel, capture.url, username="__token__", password="pypi-" + "A" * 40)
    )

    (post,) = capture.posts
    assert post["auth"] == "Basic " + base64.b64encode(b"__token__:pypi-" + b"A" * 40).decode()
    assert post["fields"]["content"] == wheel.read_bytes()


def test_upload_filename_differing_from_path_name(capture: _Capture, tmp_path: Path) -> None:
    """``request.filename`` is what the index sees, even when the file on disk is named otherwise."""
    wheel = make_wheel(tmp_path)
    renamed = wheel.rename(tmp_path / "download.bin")

    UvUploader(UV).upload(_request(renamed, capture.url, filename=wheel.name))

    (post,) = capture.posts
    assert post["fields"]["content"] == renamed.read_bytes()
    assert f'name="content"; filename="{wheel.name}"'.encode() in post["body"]


# --- a fake uv: argv, environment, failures --------------------------------------------------


@pytest.fixture
def fake_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A ``uv`` stand-in that dumps argv and the UV_* environment, then prints and exits as told."""
    record = tmp_path / "record.json"
    script = tmp_path / "bin" / "uv"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('UV_')}\n"
        f"json.dump({{'argv': sys.argv, 'env': env}}, open({str(record)!r}, 'w'))\n"
        "sys.stderr.write(os.environ.get('FAKE_UV_STDERR', ''))\n"
        "sys.exit(int(os.environ.get('FAKE_UV_EXIT', '0')))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("UV_PUBLISH_URL", "https://upload.pypi.org/legacy/")
    monkeypatch.setenv("UV_PUBLISH_USERNAME", "someone-else")
    monkeypatch.setenv("UV_PUBLISH_CHECK_URL", "https://pypi.org/simple/")
    yield str(script), record


def test_secret_only_in_environment_and_caller_uv_publish_vars_dropped(
    fake_uv: tuple[str, Path], tmp_path: Path
) -> None:
    binary, record = fake_uv
    wheel = make_wheel(tmp_path)

    UvUploader(binary, extra_args=["--native-tls"]).upload(
        _request(wheel, "http://127.0.0.1:9/legacy/")
    )

    call = json.loads(record.read_text())
    assert not any(SECRET in arg for arg in call["argv"])
    assert call["env"] == {"UV_PUBLISH_PASSWORD": SECRET}
    argv = call["argv"][1:]
    assert argv[:3] == ["publish", "--publish-url", "http://127.0.0.1:9/legacy/"]
    assert argv[argv.index("--trusted-publishing") + 1] == "never"
    assert "--username=user" in argv
    assert "--check-url" not in argv
    assert argv[-2:] == ["--native-tls", str(wheel.absolute())]


def test_token_in_uv_publish_token_and_check_url_when_given(
    fake_uv: tuple[str, Path], tmp_path: Path
) -> None:
    binary, record = fake_uv
    wheel = make_wheel(tmp_path)

    UvUploader(binary, check_url="http://127.0.0.1:9/simple/").upload(
        _request(wheel, "http://127.0.0.1:9/legacy/", username="__token__")
    )

    call = json.loads(record.read_text())
    assert call["env"] == {"UV_PUBLISH_TOKEN": SECRET}
    assert not any(arg.startswith("--username") for arg in call["argv"])
    assert call["argv"][call["argv"].index("--check-url") + 1] == "http://127.0.0.1:9/simple/"


def test_failure_surfaces_redacted_stderr(
    fake_uv: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary, _ = fake_uv
    wheel = make_wheel(tmp_path)
    monkeypatch.setenv("FAKE_UV_EXIT", "2")
    monkeypatch.setenv(
        "FAKE_UV_STDERR",
        "Uploading demo (1KiB)\nerror: Failed to publish\n"
        f"  cause: Server returned status code 500 Internal Server Error. Server says: boom {SECRET}\n",
    )

    with pytest.raises(UploadRejected) as caught:
        UvUploader(binary).upload(_request(wheel, "http://127.0.0.1:9/legacy/"))

    error = caught.value
    assert (error.status, error.retryable) == (500, False)
    assert "uv publish exited with status 2" in str(error)
    assert "Server says: boom ***" in str(error)
    assert SECRET not in str(error) and SECRET not in repr(error.args)
    assert "Uploading demo" not in str(error)


def test_skip_message_means_already_present(
    fake_uv: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary, _ = fake_uv
    wheel = make_wheel(tmp_path)
    monkeypatch.setenv("FAKE_UV_STDERR", f"File {wheel.name} already exists, skipping\n")

    result = UvUploader(binary).upload(_request(wheel, "http://127.0.0.1:9/legacy/"))

    assert result.outcome == "already-present"


def test_changed_file_is_refused_before_uv_runs(fake_uv: tuple[str, Path], tmp_path: Path) -> None:
    binary, record = fake_uv
    wheel = make_wheel(tmp_path)
    request = _request(wheel, "http://127.0.0.1:9/legacy/")
    with wheel.open("ab") as fp:
        fp.write(b"tampered")

    with pytest.raises(UploadRejected, match="changed since it was checked"):
        UvUploader(binary).upload(request)
    assert not record.exists()


def test_missing_attestation_is_refused_not_silently_dropped(
    fake_uv: tuple[str, Path], tmp_path: Path
) -> None:
    binary, record = fake_uv
    wheel = make_wheel(tmp_path)

    with pytest.raises(UploadRejected, match="attestation file not found"):
        UvUploader(binary).upload(
            _request(wheel, "http://127.0.0.1:9/legacy/", attestations=(tmp_path / "nope",))
        )
    assert not record.exists()


@pytest.mark.parametrize("binary", ["uv-does-not-exist", "/nonexistent/bin/uv"])
def test_missing_binary_is_a_clear_configuration_error(binary: str, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)

    with pytest.raises(ConfigurationError, match=re.escape(repr(binary))) as caught:
        UvUploader(binary).upload(_request(wheel, "http://127.0.0.1:9/legacy/"))

    assert isinstance(caught.value, TrustpubError)
    assert caught.value.hint and "install uv" in caught.value.hint


def test_real_uv_is_the_pinned_version() -> None:
    """The behaviour pinned above (attestation naming, skip message) is uv 0.13's."""
    assert shutil.which(UV)
    out = subprocess.run([UV, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("uv 0.13.")
