"""The library API of issue 17: a build tool hands trustpub explicit targets and gets one result per artifact.

Everything here goes through ``trustpub.*`` alone (the names the package exports):
a request from ``PublishRequest.from_targets``, every refusal of ``validate()`` with
its own class, a dry run, and a real publish to the local world with trusted
publishing and attestations, read back with ``trustpub.inspect`` and ``trustpub.verify``.
"""

from __future__ import annotations

import builtins
import io
import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import trustpub
from tests.distfactory import make_metadata, make_sdist, make_wheel
from trustpub.attest import (
    DEFAULT_BUILDER_ID,
    CIContext,
    Subject,
    encode_statement,
    release_statement,
)
from trustpub.local.world import LocalWorld
from trustpub.orchestrator import Orchestrator
from trustpub.registry import PYPI_UPLOAD_URL, TESTPYPI_UPLOAD_URL
from trustpub.upload.recording import RecordingUploader

WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"
SDIST = "demo_pkg-1.0.0.tar.gz"
PUBLISHER = "github:octo-org/demo/release.yml"


@pytest.fixture
def built(tmp_path: Path) -> list[trustpub.Target]:
    """A wheel and an sdist of demo-pkg 1.0.0, declared as a build tool would (path, kind, sha256, size)."""
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist)
    make_sdist(dist)
    return [trustpub.Target.of(dist / WHEEL), trustpub.Target.of(dist / SDIST)]


def _request(targets: list[trustpub.Target], **options: Any) -> trustpub.PublishRequest:
    options.setdefault("registry", "testpypi")
    return trustpub.PublishRequest.from_targets("demo-pkg", "1.0.0", targets, **options)


# -- the surface ----------------------------------------------------------------------


def test_every_exported_name_resolves_and_the_package_is_typed() -> None:
    assert set(trustpub.__all__) == {"__version__", *trustpub._EXPORTS}
    for name in trustpub.__all__:
        assert getattr(trustpub, name) is not None, name
    assert issubclass(trustpub.DigestMismatch, trustpub.TrustpubError)
    assert issubclass(trustpub.UnknownRegistry, trustpub.ConfigurationError)
    assert (Path(trustpub.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize(
    ("argv", "function"),
    [
        (["check", "dist"], "check"),
        (["inspect", "x.attestation"], "inspect"),
        (["verify", "--publisher", PUBLISHER, "dist"], "verify"),
        (["attest", "dist"], "attest"),
        (["publish", "--to", "testpypi", "--dry-run", "dist"], "publish"),
    ],
)
def test_each_command_runs_the_library_function(
    argv: list[str], function: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line is a layer over trustpub.api: replacing the function changes what the command does."""
    from trustpub import api
    from trustpub.cli import main

    (tmp_path / "dist").mkdir()
    monkeypatch.chdir(tmp_path)
    seen: list[Any] = []

    def instead(request: Any, **_: Any) -> Any:
        seen.append(request)
        raise trustpub.ConfigurationError("stopped by the test")

    monkeypatch.setattr(api, function, instead)
    assert main(argv) == 2
    assert len(seen) == 1
    assert "stopped by the test" in capsys.readouterr().err


# -- registries -----------------------------------------------------------------------


def test_registry_kinds_name_their_urls_and_audience() -> None:
    kinds = trustpub.RegistryKind
    assert (kinds.PYPI.label, kinds.PYPI.upload_url, kinds.PYPI.simple_url, kinds.PYPI.oidc_audience) == (
        "PyPI", PYPI_UPLOAD_URL, "https://pypi.org/simple/", "pypi",
    )
    assert (kinds.TESTPYPI.label, kinds.TESTPYPI.upload_url, kinds.TESTPYPI.simple_url, kinds.TESTPYPI.oidc_audience) == (
        "TestPyPI", TESTPYPI_UPLOAD_URL, "https://test.pypi.org/simple/", "testpypi",
    )
    # A custom index's URLs are its own; its audience is asked from the index.
    assert (kinds.CUSTOM.label, kinds.CUSTOM.upload_url, kinds.CUSTOM.oidc_audience) == ("custom index", None, None)
    custom = trustpub.Registry.parse("https://pypi.example.org/legacy/")
    assert (custom.kind, custom.name, custom.simple_root(), custom.oidc_audience) == (
        kinds.CUSTOM, "https://pypi.example.org/legacy/", "https://pypi.example.org/simple/", None,
    )
    # The fallback: any other name is "unknown", with no URL and no audience.
    assert kinds.of("PyPI") is kinds.PYPI and kinds.of("pypy") is kinds.UNKNOWN
    assert (kinds.UNKNOWN.label, kinds.UNKNOWN.upload_url, kinds.UNKNOWN.simple_url, kinds.UNKNOWN.oidc_audience) == (
        "unknown", None, None, None,
    )
    unknown = trustpub.Registry.lookup("pypy")
    assert (unknown.kind, unknown.name, unknown.upload_url) == (kinds.UNKNOWN, "pypy", "")
    assert trustpub.Registry.lookup("testpypi") == trustpub.Registry.parse("testpypi")


# -- validate(): every refusal, each its own class, no I/O beyond a stat ---------------


def _refusals(targets: list[trustpub.Target], tmp_path: Path) -> list[tuple[str, dict[str, Any], type[Exception], str]]:
    wheel, sdist = targets
    zipped = tmp_path / "dist" / "demo_pkg-1.0.0.zip"
    zipped.write_bytes(b"PK")
    return [
        ("unknown registry", {"registry": "pypy"}, trustpub.UnknownRegistry, "unknown registry 'pypy'"),
        ("unknown kind", {"registry": trustpub.RegistryKind.UNKNOWN}, trustpub.UnknownRegistry, "unknown registry"),
        ("no targets", {"targets": []}, trustpub.NoTargets, "no targets"),
        ("empty distribution", {"distribution": ""}, trustpub.EmptyField, "distribution is empty"),
        ("empty version", {"version": " "}, trustpub.EmptyField, "version is empty"),
        ("empty path", {"targets": [trustpub.Target(Path(""), "wheel", wheel.sha256, 1)]}, trustpub.EmptyField, "path is empty"),
        ("empty sha256", {"targets": [trustpub.Target(wheel.path, "wheel", "", wheel.size)]}, trustpub.EmptyField, "sha256 is empty"),
        ("empty size", {"targets": [trustpub.Target(wheel.path, "wheel", wheel.sha256, 0)]}, trustpub.EmptyField, "size is empty"),
        ("sdist not .tar.gz", {"targets": [trustpub.Target(zipped, "sdist", "0" * 64, 2)]}, trustpub.WrongExtension,
         "a sdist must be named *.tar.gz"),
        ("wheel not .whl", {"targets": [trustpub.Target(sdist.path, "wheel", sdist.sha256, sdist.size)]},
         trustpub.WrongExtension, "a wheel must be named *.whl"),
        ("size mismatch", {"targets": [trustpub.Target(wheel.path, "wheel", wheel.sha256, wheel.size + 1)]},
         trustpub.SizeMismatch, f"declared size {wheel.size + 1} bytes, but the file has {wheel.size}"),
        ("missing identity", {"dry_run": False}, trustpub.MissingIdentityProvider, "no identity provider"),
        ("unknown target kind", {"targets": [trustpub.Target(wheel.path, "egg", wheel.sha256, wheel.size)]},  # type: ignore[arg-type]
         trustpub.UnknownTargetKind, "unknown kind 'egg'"),
        ("malformed sha256", {"targets": [trustpub.Target(wheel.path, "wheel", "abc", wheel.size)]},
         trustpub.MalformedDigest, "is not 64 hexadecimal digits"),
        ("missing file", {"targets": [trustpub.Target(tmp_path / "gone.whl", "wheel", wheel.sha256, 1)]},
         trustpub.TargetNotFound, "no such file"),
        ("listed twice", {"targets": [wheel, wheel]}, trustpub.DuplicateTarget, "listed twice"),
    ]


def test_validate_refuses_each_bad_request_with_its_own_error(
    built: list[trustpub.Target], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = _refusals(built, tmp_path)
    assert len({c[2] for c in cases}) == 10  # ten classes for sixteen refusals

    def no_reading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"validate() opened a file: {args[:1]}")

    for name, change, error, message in cases:
        fields: dict[str, Any] = {"distribution": "demo-pkg", "version": "1.0.0", "targets": built, "dry_run": True}
        fields.update(change)
        dry_run = fields.pop("dry_run")
        request = trustpub.PublishRequest.from_targets(
            fields.pop("distribution"), fields.pop("version"), fields.pop("targets"),
            registry=fields.pop("registry", "testpypi"), dry_run=dry_run,
        )
        with monkeypatch.context() as m:
            m.setattr(builtins, "open", no_reading)
            m.setattr(io, "open", no_reading)
            with pytest.raises(error) as caught:
                request.validate()
        assert type(caught.value) is error, name
        assert message in str(caught.value), (name, str(caught.value))
        assert caught.value.exit_code == 2, name


def test_a_valid_request_passes_and_a_dry_run_needs_no_identity(built: list[trustpub.Target]) -> None:
    _request(built, dry_run=True).validate()
    _request(built, identity=trustpub.StaticProvider("the test")).validate()
    _request(built, credentials="token").validate()  # the command line's credential search, no identity needed
    with pytest.raises(trustpub.MissingIdentityProvider):
        _request(built).validate()


def test_a_file_of_another_release_is_refused_before_anything(tmp_path: Path) -> None:
    other = make_wheel(tmp_path, name="other_pkg", metadata=make_metadata("other-pkg"))
    with pytest.raises(trustpub.ReleaseMismatch, match=r"declares distribution 'demo-pkg'.*says 'other-pkg'"):
        trustpub.publish(_request([trustpub.Target.of(other)], dry_run=True))
    newer = make_wheel(tmp_path, version="2.0", metadata=make_metadata(version="2.0"))
    with pytest.raises(trustpub.ReleaseMismatch, match=r"version '1\.0\.0'"):
        trustpub.publish(_request([trustpub.Target.of(newer)], dry_run=True))


def test_a_wrong_sha256_is_refused_when_the_file_is_hashed(built: list[trustpub.Target]) -> None:
    """validate() does not read files, so it passes; the preflight hashes them and refuses, before any upload."""
    wheel, sdist = built
    lying = trustpub.Target(wheel.path, "wheel", "0" * 64, wheel.size)
    request = _request([lying, sdist], dry_run=True)
    request.validate()
    recorder = RecordingUploader()
    with pytest.raises(trustpub.DigestMismatch, match=f"declared sha256 {'0' * 64}, but the file's is {wheel.sha256}") as caught:
        Orchestrator(uploader=recorder).publish(request)
    assert recorder.calls == []
    assert caught.value.exit_code == 1


# -- the dry run ----------------------------------------------------------------------


def test_dry_run_through_the_library_alone(built: list[trustpub.Target]) -> None:
    lines: list[str] = []
    result = trustpub.publish(_request(built, dry_run=True, env={}), say=lines.append)
    assert result.dry_run and result.ok and result.credentials == "none (dry run)"
    assert [(f.filename, f.outcome) for f in result.files] == [(WHEEL, "skipped"), (SDIST, "skipped")]
    assert {f.sha256 for f in result.files} == {t.sha256 for t in built}
    assert all(f.project_url == "https://test.pypi.org/project/demo-pkg/1.0.0/" for f in result.files)
    assert [f.attestation_url for f in result.files] == [
        f"https://test.pypi.org/integrity/demo-pkg/1.0.0/{name}/provenance" for name in (WHEEL, SDIST)
    ]
    assert all(f.log_index is None for f in result.files)  # nothing was signed
    assert lines and all("would upload" in line for line in lines)

    # The release statement it would sign (the last one): SLSA v1, sorted subjects with sha256.
    release = json.loads(result.statements[-1])
    assert release["_type"] == "https://in-toto.io/Statement/v1"
    assert release["predicateType"] == "https://slsa.dev/provenance/v1"
    assert release["subject"] == [{"name": t.filename, "digest": {"sha256": t.sha256}} for t in sorted(built, key=lambda t: t.filename)]
    run = release["predicate"]["runDetails"]
    assert run["builder"]["id"] == DEFAULT_BUILDER_ID
    assert run["metadata"]["invocationId"] == "auto"  # outside CI
    finished = datetime.strptime(run["metadata"]["finishedOn"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - finished) < timedelta(minutes=5)


def test_dry_run_uploader_gets_an_empty_token_and_answers_the_index_url(built: list[trustpub.Target]) -> None:
    recorder = RecordingUploader()
    result = Orchestrator(uploader=recorder).publish(_request(built, dry_run=True, env={}, registry="pypi"))
    assert sorted(c.filename for c in recorder.calls) == [WHEEL, SDIST]
    assert all(c.password.reveal() == "" for c in recorder.calls)
    assert all(c.upload_url == PYPI_UPLOAD_URL for c in recorder.calls)
    # The recorder alone derives the URL the index would give from the upload URL and the filename.
    answer = recorder.upload(recorder.calls[0])
    assert (answer.outcome, answer.url) == ("skipped", "https://pypi.org/project/demo-pkg/1.0.0/")
    assert [f.project_url for f in result.files] == ["https://pypi.org/project/demo-pkg/1.0.0/"] * 2


def test_release_statement_in_ci_names_the_run_and_takes_a_builder_id(built: list[trustpub.Target]) -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "octo/demo",
           "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "3"}
    result = trustpub.publish(_request(built, dry_run=True, env=env, builder_id="https://builder.example/b@v9"))
    run = json.loads(result.statements[-1])["predicate"]["runDetails"]
    assert run["builder"]["id"] == "https://builder.example/b@v9"
    assert run["metadata"]["invocationId"] == "https://github.com/octo/demo/actions/runs/42/attempts/3"


def test_release_statement_encoding_is_deterministic() -> None:
    subjects = [Subject("b-1.0.tar.gz", "ab" * 32), Subject("b-1.0-py3-none-any.whl", "cd" * 32)]
    when = datetime(2026, 5, 30, 0, 36, 5, tzinfo=timezone(timedelta(hours=7)))
    first = encode_statement(release_statement(subjects, CIContext(), finished_on=when))
    again = encode_statement(release_statement(list(reversed(subjects)), CIContext(), finished_on=when))
    assert first == again  # same input (in any order), same bytes
    assert encode_statement(json.loads(first)) == first  # a round trip through JSON changes nothing
    assert b'"finishedOn":"2026-05-29T17:36:05Z"' in first  # UTC
    assert first != encode_statement(release_statement(subjects, CIContext(), finished_on=when + timedelta(seconds=1)))
    assert re.fullmatch(rb'\{"_type":.*\}', first) and b"\n" not in first and b": " not in first


# -- a real publish to the local world -------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world", project="demo-pkg") as w:
        yield w


def test_publish_to_the_local_world_through_the_library_alone(
    built: list[trustpub.Target], world: LocalWorld, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    identity = trustpub.detect_identity(world.ci_environment())  # the CI's OIDC provider, as a build tool gets it
    request = _request(
        built, registry=world.index.upload_url, identity=identity, sigstore=str(world.trust_config),
        state_dir=tmp_path / "state", env={},
    )
    result = trustpub.publish(request)
    assert result.ok and not result.dry_run
    assert result.credentials == "trusted publishing (GitHub Actions)"
    assert sorted((f.filename, f.outcome) for f in result.files) == [(WHEEL, "uploaded"), (SDIST, "uploaded")]
    declared = {t.filename: t.sha256 for t in built}
    assert {f.filename: f.sha256 for f in result.files} == declared
    assert sorted(world.index.files("demo-pkg")) == sorted(declared)
    for f in result.files:
        assert f.project_url == f"{world.index.url}/project/demo-pkg/1.0.0/"
        assert f.attestation_url == f"{world.index.url}/integrity/demo-pkg/1.0.0/{f.filename}/provenance"
        assert isinstance(f.log_index, int)
        with urllib.request.urlopen(f.attestation_url) as answer:  # the index serves what the result names
            assert json.load(answer)["attestation_bundles"]
    assert len({f.log_index for f in result.files}) == 2

    # The release provenance, read back with the library: sorted subjects, the run, UTC.
    assert result.provenance is not None and result.provenance.is_file()
    report = trustpub.inspect([result.provenance])
    assert report.ok
    (statement,) = report.attestations
    assert statement.subjects == sorted(declared.items())
    run = statement.statement["predicate"]["runDetails"]
    assert run["builder"]["id"] == "https://github.com/octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0"
    assert run["metadata"]["invocationId"].startswith("https://github.com/octo-org/demo/actions/runs/")
    assert run["metadata"]["finishedOn"].endswith("Z")

    # The attestations written beside the files verify for the publisher, as the index checked them.
    verdict = trustpub.verify(trustpub.VerifyRequest(
        paths=tuple(t.path for t in built), publisher=PUBLISHER, sigstore=str(world.trust_config), env={},
    ))
    assert verdict.ok and len(verdict.files) == 2

    # Nothing was printed, and a re-run finds everything there.
    assert capfd.readouterr().out == ""
    again = trustpub.publish(request)
    assert [f.outcome for f in again.files] == ["already-present", "already-present"]


def test_a_wrong_sha256_uploads_and_signs_nothing(built: list[trustpub.Target], world: LocalWorld, tmp_path: Path) -> None:
    wheel, sdist = built
    lying = trustpub.Target(sdist.path, "sdist", "f" * 64, sdist.size)
    signed = world.sigstore.rekor.size
    with pytest.raises(trustpub.DigestMismatch, match="nothing was uploaded"):
        trustpub.publish(_request(
            [wheel, lying], registry=world.index.upload_url, identity=trustpub.detect_identity(world.ci_environment()),
            sigstore=str(world.trust_config), state_dir=tmp_path / "state", env={},
        ))
    assert world.index.stored_log == []
    assert world.sigstore.rekor.size == signed
