"""The library API (issue 13): ``trustpub.publish(request)`` and ``trustpub.check(paths)`` take plain
values, print nothing, and are what the command line runs; ``import trustpub`` stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import trustpub
from tests.distfactory import make_metadata, make_wheel
from tests.servers import RunningIndex
from trustpub.commands.publish import OutputOptions, execute
from trustpub.errors import TrustpubError
from trustpub.registry import Registry
from trustpub.request import PublishRequest


def test_import_trustpub_loads_no_pipeline_until_asked() -> None:
    code = (
        "import sys, trustpub\n"
        "print(','.join(m for m in ('trustpub.api', 'trustpub.orchestrator', 'trustpub.checks', 'sigstore') if m in sys.modules))\n"
        "trustpub.check\n"
        "print('trustpub.api' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["", "True"]


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'pubish'"):
        trustpub.pubish  # type: ignore[attr-defined]  # noqa: B018


def test_check_reports_what_pypi_would_refuse(tmp_path: Path) -> None:
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    good = make_wheel(tmp_path / "good")
    bad = make_wheel(tmp_path / "bad", metadata=make_metadata(version="not a version"))
    assert trustpub.check([good]).ok()
    report = trustpub.check([bad])
    assert not report.ok()
    assert report.errors


def test_publish_uploads_to_a_real_index_and_prints_nothing(
    tmp_path: Path, pypiserver_index: RunningIndex, capfd: pytest.CaptureFixture[str]
) -> None:
    wheel = make_wheel(tmp_path, name="api_demo", version="3.1.4")
    lines: list[str] = []
    request = PublishRequest(
        paths=(wheel,),
        registry=Registry.parse(pypiserver_index.upload_url),
        credentials="token",
        attestations=False,
        state_dir=tmp_path / "state",
        env={"TRUSTPUB_USERNAME": pypiserver_index.username, "TRUSTPUB_PASSWORD": pypiserver_index.password,
             "HOME": str(tmp_path)},
    )
    result = trustpub.publish(request, say=lines.append)
    assert result.ok
    assert [f.outcome for f in result.files] == ["uploaded"]
    with urllib.request.urlopen(pypiserver_index.simple_url + "api-demo/") as page:
        assert wheel.name in page.read().decode()
    assert lines  # progress went to say(), not to the terminal
    captured = capfd.readouterr()
    assert captured.out == "" and pypiserver_index.password not in captured.err


def test_publish_refusal_is_a_trustpub_error(tmp_path: Path) -> None:
    with pytest.raises(TrustpubError, match="no such file"):
        trustpub.publish(PublishRequest(paths=(tmp_path / "missing",), registry=Registry.parse("testpypi"), dry_run=True))


def test_execute_takes_output_options_not_argparse(
    tmp_path: Path, pypiserver_index: RunningIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = make_wheel(tmp_path, name="api_dry", version="1.0")
    request = PublishRequest(
        paths=(wheel,), registry=Registry.parse(pypiserver_index.upload_url), dry_run=True,
        state_dir=tmp_path / "state", env={},
    )
    code, result = execute(request, OutputOptions(json=True, quiet=True), env={})
    assert code == 0 and result is not None and result.dry_run
    out, err = capsys.readouterr()
    assert json.loads(out)["ok"] is True
    assert err == ""  # quiet: nothing but errors
