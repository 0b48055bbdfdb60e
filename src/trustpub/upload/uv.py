"""Upload through ``uv publish``, one file per call, for users who want uv on the wire.

    >>> uploader = UvUploader("uv")                                 # doctest: +SKIP
    >>> uploader.upload(request)                                    # doctest: +SKIP
    UploadResult(filename='demo_pkg-1.0.0-py3-none-any.whl', outcome='uploaded', ...)

The engine parallelises, so each call runs one ``uv publish`` for one distribution
and its attestations. What this module has to get right about uv 0.13:

- **Secrets stay off the command line.** The password or token goes into the child's
  environment only (``UV_PUBLISH_TOKEN`` for ``__token__``, else
  ``UV_PUBLISH_PASSWORD``), where other users cannot read it the way they can read
  argv in ``ps``; every inherited ``UV_PUBLISH_*`` variable is dropped first so the
  caller's shell cannot add or override credentials, URLs or check URLs.
- **No second identity.** ``--trusted-publishing never``: trustpub already minted the
  token; uv must not start its own OIDC exchange (in ``automatic`` mode on GitHub it
  would, and a failure there turns into a confusing "Missing credentials").
- **Attestations must be named for uv to send them.** uv does not look beside the
  dist. It sends only the attestation files passed as arguments whose name is
  ``<dist filename>.<kind>.attestation``, matched by name and not by folder, and it
  *silently drops* any other ``*.attestation`` file. So every attestation is passed
  under such a name (linked into a scratch folder when it is not already).
- **Arguments are glob patterns to uv.** A ``[`` in a folder name would make the
  file vanish ("No files found to publish"), so paths are escaped.
- **Duplicates.** uv prints ``File X already exists, skipping`` (exit 0) only when a
  ``check_url`` is given and the index has the same sha256; that is reported as
  ``already-present``. Without it, a duplicate is whatever the index answers: a 409
  from pypiserver (an error here), a 200 from devpi for identical bytes ("uploaded").

uv's own retries cover transient transport errors; anything that still fails is
raised as :class:`UploadRejected` with uv's stderr (redacted) and ``retryable=False``.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from trustpub.auth import TOKEN_USERNAME
from trustpub.errors import ConfigurationError
from trustpub.registry import PYPI_UPLOAD_URL
from trustpub.secrets import redact
from trustpub.upload._types import UploadRejected, UploadRequest, UploadResult

__all__ = ["UvUploader"]

_logger = logging.getLogger(__name__)

_SKIPPED = re.compile(r"already exists, skipping")
_STATUS = re.compile(r"status code (\d{3})")
_GLOB_SPECIAL = re.compile(r"([\[\]*?])")
# uv's progress chatter: useful on a terminal, noise in an error message.
_PROGRESS = re.compile(r"^(Publishing \d+ files? to |Hashing |Uploading )")
_MAX_MESSAGE = 4000
_CHUNK = 1024 * 1024


class UvUploader:
    """Runs ``uv publish`` for one file per :meth:`upload` call; safe to share between threads.

    ``binary`` is a name looked up on ``PATH`` or a path. ``extra_args`` go before the
    files (for example ``["--native-tls"]``). ``check_url``, when given, is the simple
    index uv asks before uploading, so identical files are skipped, not refused.
    """

    def __init__(
        self,
        binary: str = "uv",
        *,
        extra_args: Sequence[str] = (),
        check_url: str | None = None,
    ) -> None:
        self.binary = binary
        self.extra_args = tuple(extra_args)
        self.check_url = check_url

    def upload(self, request: UploadRequest) -> UploadResult:
        """Publish ``request.path`` (and its attestations) under ``request.filename``."""
        executable = self._resolve_binary()
        _refuse_clear_text_proxy(request.upload_url)
        _verify_file(request)
        with _staged_files(request) as files:
            argv = self._argv(executable, request, files)
            _logger.debug("running %s", " ".join(argv))
            completed = self._run(argv, _child_env(request))
        return _result(request, completed)

    def _resolve_binary(self) -> str:
        found = shutil.which(self.binary)
        if found is None:
            raise ConfigurationError(
                f"uv executable not found: {self.binary!r}",
                hint="install uv (pip install uv) or pass the path of the uv binary",
            )
        return found

    def _argv(self, executable: str, request: UploadRequest, files: Sequence[Path]) -> list[str]:
        argv = [
            executable, "publish",
            "--publish-url", request.upload_url,
            "--trusted-publishing", "never",
            "--no-progress", "--color", "never",
        ]  # fmt: skip
        if request.username != TOKEN_USERNAME:
            # A user name is not a secret (the password goes through the environment);
            # the "=" form keeps a name starting with "-" from reading as an option.
            argv.append(f"--username={request.username}")
        if self.check_url:
            argv += ["--check-url", self.check_url]
        argv += self.extra_args
        argv += [_glob_escape(str(path)) for path in files]
        return argv

    def _run(self, argv: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False
            )
        except OSError as exc:  # vanished between which() and exec, or not executable
            raise ConfigurationError(
                f"cannot run uv executable {self.binary!r}: {exc.strerror or exc}",
                hint="install uv (pip install uv) or pass the path of the uv binary",
            ) from exc


def _verify_file(request: UploadRequest) -> None:
    """Refuse to hand uv a file that is not the one that was checked and attested.

    uv hashes what it reads and sends that digest, so the index cannot notice a swap;
    this check can. (The native uploader does it while streaming.)
    """
    sha = hashlib.sha256()
    try:
        with open(request.path, "rb") as fp:
            while chunk := fp.read(_CHUNK):
                sha.update(chunk)
    except OSError as exc:
        raise UploadRejected(
            request.filename, f"cannot read {str(request.path)!r}: {exc.strerror or exc}"
        ) from exc
    if request.sha256 is not None and sha.hexdigest() != request.sha256.lower():
        raise UploadRejected(
            request.filename,
            f"{str(request.path)!r} changed since it was checked: sha256 is {sha.hexdigest()}, expected {request.sha256}",
            hint="rebuild and re-check the distribution; nothing was uploaded",
        )
    for attestation in request.attestations:
        if not attestation.is_file():
            # uv would skip a missing argument without a word and upload the dist bare.
            raise UploadRejected(
                request.filename, f"attestation file not found: {str(attestation)!r}"
            )


def _attestation_name(filename: str, path: Path) -> bool:
    """True when uv will pair ``path`` with ``filename`` (``<filename>.<kind>.attestation``)."""
    kind = path.name.removeprefix(f"{filename}.").removesuffix(".attestation")
    return path.name == f"{filename}.{kind}.attestation" and bool(kind) and "." not in kind


@contextlib.contextmanager
def _staged_files(request: UploadRequest) -> Iterator[list[Path]]:
    """The paths to give uv: the originals when uv accepts their names, links otherwise."""
    needs_link = [
        request.path.name != request.filename,
        *(not _attestation_name(request.filename, a) for a in request.attestations),
    ]
    if not any(needs_link):
        yield [request.path.absolute(), *(a.absolute() for a in request.attestations)]
        return
    scratch = Path(tempfile.mkdtemp(prefix="trustpub-uv-"))
    try:
        files = [
            _link(request.path, scratch / request.filename)
            if needs_link[0]
            else request.path.absolute()
        ]
        for index, (attestation, link) in enumerate(
            zip(request.attestations, needs_link[1:], strict=True)
        ):
            target = scratch / f"{request.filename}.trustpub{index}.attestation"
            files.append(_link(attestation, target) if link else attestation.absolute())
        yield files
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _link(source: Path, target: Path) -> Path:
    """``target`` pointing at ``source``: a symlink where allowed, else a copy."""
    try:
        target.symlink_to(source.absolute())
    except OSError:  # e.g. Windows without the symlink privilege
        shutil.copyfile(source, target)
    return target


def _glob_escape(path: str) -> str:
    """Escape the characters uv's glob crate treats as patterns (``[x]`` matches ``x``)."""
    return _GLOB_SPECIAL.sub(r"[\1]", path)


def _refuse_clear_text_proxy(upload_url: str) -> None:
    """Refuse plain http through a proxy on another machine, as the native transport does.

    uv sends even a loopback ``http://`` upload through ``HTTP_PROXY`` or
    ``ALL_PROXY``, Authorization header included, so a proxy elsewhere would read the
    credential in clear text (and reach its own loopback, not this machine's index).
    """
    from urllib.parse import urlsplit

    from trustpub.registry import is_loopback_host
    from trustpub.transport import InsecureTransport, proxy_for

    parts = urlsplit(upload_url)
    if parts.scheme != "http":
        return
    proxy = proxy_for(upload_url, all_proxy=True)
    proxy_host = urlsplit(proxy).hostname if proxy else None
    if proxy is not None and not is_loopback_host(proxy_host):
        raise InsecureTransport(
            f"refusing to let uv send credentials for {parts.hostname!r} over plain http through the proxy "
            f"{proxy_host or '?'!r} (HTTP_PROXY or ALL_PROXY)",
            hint=f"add {parts.hostname} to NO_PROXY, or use the index's https:// URL",
        )


def _child_env(request: UploadRequest) -> dict[str, str]:
    """The caller's environment without any ``UV_PUBLISH_*``, plus this request's secret."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("UV_PUBLISH_")}
    if request.username == TOKEN_USERNAME:
        env["UV_PUBLISH_TOKEN"] = request.password.reveal()
    else:
        env["UV_PUBLISH_PASSWORD"] = request.password.reveal()
    return env


def _result(request: UploadRequest, completed: subprocess.CompletedProcess[bytes]) -> UploadResult:
    output = redact(_decode(completed.stderr) + "\n" + _decode(completed.stdout))
    if completed.returncode == 0:
        if _SKIPPED.search(output):
            return UploadResult(
                request.filename, "already-present", message="uv: already on the index, skipped"
            )
        return UploadResult(request.filename, "uploaded", message="uploaded with uv publish")
    status_match = _STATUS.search(output)
    status = int(status_match.group(1)) if status_match else None
    raise UploadRejected(
        request.filename,
        f"uv publish exited with status {completed.returncode}: {_readable(output)}",
        status=status,
        hint=_hint(status, output, request),
        retryable=False,
    )


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _readable(output: str) -> str:
    """uv's error text without progress lines, and with an HTML error page reduced to its text.

    uv quotes the whole response body; pypiserver answers with an HTML page whose only
    useful part is the ``<pre>`` message.
    """
    text = re.sub(r"(?is)<head\b.*?</head>|<style\b.*?</style>", " ", output)
    if text != output or re.search(r"(?i)<html\b|<!doctype", text):
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    kept = [line for line in lines if line and not _PROGRESS.match(line)]
    message = "\n".join(kept) or "(uv printed nothing)"
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + " [...]"
    return message


def _hint(status: int | None, output: str, request: UploadRequest) -> str | None:
    if "Local file and index file do not match" in output:
        return "the index holds different bytes under this file name; published files cannot be replaced, so release a new version"
    if status in (401, 403):
        return f"check the credentials for {request.upload_url} (user {request.username!r})"
    if status in (400, 409) and "already exists" in output:
        return "a file with this name is already on the index; compare its sha256 with yours before retrying"
    if status == 405:
        return f"is the URL the upload endpoint (for PyPI: {PYPI_UPLOAD_URL}) and not the simple index?"
    return None
