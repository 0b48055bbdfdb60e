"""The library API: PublishRequest.validate() and Orchestrator.publish() without the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.distfactory import make_sdist, make_wheel
from trustpub.errors import CheckFailed, ConfigurationError
from trustpub.orchestrator import Orchestrator
from trustpub.registry import Registry
from trustpub.request import PublishRequest
from trustpub.upload.recording import RecordingUploader


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    folder = tmp_path / "dist"
    folder.mkdir()
    make_wheel(folder)
    make_sdist(folder)
    return folder


def _request(dist: Path, **kwargs: object) -> PublishRequest:
    return PublishRequest(paths=(dist,), registry=Registry.parse("testpypi"), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"credentials": "password"}, "unknown credentials method"),
        ({"uploader": "twine"}, "unknown uploader"),
        ({"jobs": 0}, "--jobs must be between"),
        ({"jobs": 99}, "--jobs must be between"),
        ({"attestations": False, "slsa": True}, "--slsa needs attestations"),
        ({"repository": "pypi", "credentials": "trusted-publishing"}, "--repository names .pypirc"),
    ],
)
def test_validate_refuses_bad_requests(dist: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _request(dist, **kwargs).validate()


def test_validate_refuses_missing_paths_and_empty_requests(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such file"):
        _request(tmp_path / "nope").validate()
    with pytest.raises(ConfigurationError, match="nothing to publish"):
        PublishRequest(paths=(), registry=Registry.parse("pypi")).validate()


def test_dry_run_needs_no_provider_and_sends_an_empty_token(dist: Path, tmp_path: Path) -> None:
    recorder = RecordingUploader()
    result = Orchestrator(uploader=recorder).publish(_request(dist, dry_run=True, env={}))
    assert result.dry_run and result.ok
    assert [c.filename for c in recorder.calls] == ["demo_pkg-1.0.0-py3-none-any.whl", "demo_pkg-1.0.0.tar.gz"]
    assert all(c.password.reveal() == "" for c in recorder.calls)
    assert all(f.project_url == "https://test.pypi.org/project/demo-pkg/1.0.0/" for f in result.files)
    assert result.files[0].attestation_url == (
        "https://test.pypi.org/integrity/demo-pkg/1.0.0/demo_pkg-1.0.0-py3-none-any.whl/provenance"
    )
    # The statements that would be signed: one publish/v1 per file, sorted, plus the release statement.
    statements = [json.loads(s) for s in result.statements]
    subjects = [s["subject"][0]["name"] for s in statements if len(s["subject"]) == 1]
    assert subjects == ["demo_pkg-1.0.0-py3-none-any.whl", "demo_pkg-1.0.0.tar.gz"]
    release = [s for s in statements if len(s["subject"]) == 2]
    assert release and release[0]["predicateType"] == "https://slsa.dev/provenance/v1"
    assert [s["name"] for s in release[0]["subject"]] == sorted(s["name"] for s in release[0]["subject"])


def test_preflight_failure_raises_before_anything(dist: Path) -> None:
    make_wheel(dist, tag="cp312-cp312-linux_x86_64")
    recorder = RecordingUploader()
    with pytest.raises(CheckFailed, match="nothing was uploaded"):
        Orchestrator(uploader=recorder).publish(_request(dist, dry_run=True))
    assert recorder.calls == []
