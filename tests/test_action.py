"""The composite GitHub Action (action.yml), executed as a runner would execute it.

:mod:`tests.actionrunner` parses action.yml, renders its expressions and runs every
``run:`` step with bash and the runner's files and variables, against the local world
(index, Sigstore, and the OIDC issuer that stands in for GitHub's token endpoint). Only
the install step is replaced, by the outputs it would set (this interpreter, where
trustpub is installed): it needs the package index. What it installs, the lock, is
checked here on its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.actionrunner import ActionRun, ActionRunner, UnsupportedExpression, parse_file_commands
from tests.distfactory import make_sdist, make_wheel
from trustpub.local.index import LocalIndex
from trustpub.local.issuer import GITHUB_ISSUER
from trustpub.local.world import LocalWorld

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the Action runs under bash")

REPO = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
LOCK = REPO / "action" / "requirements.txt"
PROJECT = "demo-pkg"
#: The install step's outputs, as the real step would set them: this interpreter has trustpub.
INSTALLED = {"install": {"python": sys.executable}}

#: The inputs of pypa/gh-action-pypi-publish, and their deprecated underscore spellings.
OFFICIAL = ("user", "password", "repository-url", "packages-dir", "verify-metadata", "skip-existing",
            "verbose", "print-hash", "attestations")
DEPRECATED = ("repository_url", "packages_dir", "verify_metadata", "skip_existing", "print_hash")

#: A release job written for pypa/gh-action-pypi-publish, as projects have it (the URL is
#: TestPyPI's; the test points it at the local index, and `uses:` at this repository).
PYPA_WORKFLOW = """\
name: release
on:
  push:
    tags: ["v*"]
jobs:
  publish:
    runs-on: ubuntu-latest
    environment: release
    permissions:
      id-token: write
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: dist
          path: dist/
      - name: Publish to TestPyPI
        uses: pypa/gh-action-pypi-publish@release/v1
        with:
          repository-url: https://test.pypi.org/legacy/
          packages-dir: dist/
          verbose: true
          print-hash: true
          skip-existing: true
          attestations: true
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """GITHUB_WORKSPACE with a release in dist/ (a wheel and an sdist)."""
    root = tmp_path / "workspace"
    (root / "dist").mkdir(parents=True)
    make_wheel(root / "dist")
    make_sdist(root / "dist")
    return root


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world", project=PROJECT) as running:
        yield running


def _runner(workspace: Path, env: dict[str, str]) -> ActionRunner:
    # A state folder of this test's own: journals and provenance land there.
    return ActionRunner(REPO, workspace, {"TRUSTPUB_STATE_DIR": str(workspace.parent / "state"),
                                          "PYPIRC": str(workspace.parent / "no-pypirc"), **env})


def _dists(workspace: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (workspace / "dist").iterdir()
            if p.suffix in (".whl", ".gz")}


def _get(url: str, accept: str = "*/*") -> bytes:
    assert url.startswith("http://127.0.0.1:"), url
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}), timeout=30) as response:
        body: bytes = response.read()
        return body


def _provenance(index: LocalIndex, filename: str) -> dict[str, Any]:
    doc = json.loads(_get(f"{index.url}/integrity/{PROJECT}/1.0.0/{filename}/provenance",
                          "application/vnd.pypi.integrity.v1+json"))
    assert isinstance(doc, dict)
    return doc


def _check_outputs(run: ActionRun, expected: dict[str, str], *, uploads_per_file: int = 1) -> dict[str, Any]:
    """The three outputs: the report is trustpub's JSON, the provenance a signed bundle,
    and each URL serves the exact bytes of a file this run uploaded."""
    report = json.loads(Path(run.outputs["report"]).read_text(encoding="utf-8"))
    assert report["ok"] is True
    provenance = json.loads(Path(run.outputs["provenance"]).read_text(encoding="utf-8"))
    assert "dsseEnvelope" in provenance
    urls = run.outputs["urls"].splitlines()
    assert len(urls) == len(expected) * uploads_per_file
    served = {url.rsplit("/", 1)[-1]: hashlib.sha256(_get(url)).hexdigest() for url in urls}
    assert served == expected
    assert isinstance(report, dict)
    return report


# -- the interface: pypa/gh-action-pypi-publish's inputs, outputs, shells ------------------


def test_the_action_declares_every_input_of_the_official_action_and_its_outputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    inputs = ACTION["inputs"]
    for name in (*OFFICIAL, *DEPRECATED):
        assert name in inputs, name
    for old in DEPRECATED:
        assert inputs[old]["description"].startswith("[DEPRECATED]") and f"`{old.replace('_', '-')}`" in inputs[old]["description"]
    # The official defaults, stated where the canonical input has none (the deprecated one must stay tellable).
    assert inputs["user"]["default"] == "__token__" and inputs["attestations"]["default"] == "true"
    assert "https://upload.pypi.org/legacy/" in inputs["repository-url"]["description"]
    # Where trustpub behaves otherwise, the description says so.
    assert "sha256" in inputs["skip-existing"]["description"]
    assert "preflight runs anyway" in " ".join(inputs["verify-metadata"]["description"].split())
    assert "always shows it" in inputs["print-hash"]["description"]
    assert set(ACTION["outputs"]) == {"report", "provenance", "urls"}
    # bash on Linux, macOS and Windows runners alike.
    assert all(step["shell"] == "bash" for step in ACTION["runs"]["steps"])


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    """What the install step installs: every runtime dependency of trustpub and the build
    backend, pinned inside pyproject's ranges, each with sha256 hashes, and closed (every
    dependency of a locked release, on this platform, is locked too)."""
    text = LOCK.read_text(encoding="utf-8")
    floor = re.search(r"^# requires-python: >=(\d+)\.(\d+)$", text, re.M)
    assert floor, "the lock names the oldest Python it was tested with"
    pins: dict[str, str] = {}
    hashes: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        requirement = re.match(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^ ;\\]+)", line)
        if requirement:
            current = canonicalize_name(requirement.group(1))
            pins[current] = requirement.group(3)
            hashes[current] = []
        for digest in re.findall(r"--hash=sha256:([0-9a-f]+)", line):
            assert len(digest) == 64, (current, digest)
            hashes[current].append(digest)
    assert pins and all(hashes[name] for name in pins), [n for n in pins if not hashes[n]]

    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    direct = [Requirement(r) for r in (*pyproject["project"]["dependencies"], *pyproject["build-system"]["requires"])]
    for req in direct:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is a dependency of trustpub but not in {LOCK.name}: run `make action-lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (req.name, pins[name], str(req.specifier))
    # Closed: where this environment has the locked release, its requirements are locked too.
    for name, version in pins.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue
        for line in dist.requires or []:
            needed = Requirement(line)
            if needed.marker is None or needed.marker.evaluate({"extra": ""}):
                assert canonicalize_name(needed.name) in pins, f"{name} {version} needs {needed.name}, not locked"

    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "install")
    assert step["run"] == 'bash "$TRUSTPUB_ACTION_PATH/action/install.sh"'
    install = (REPO / "action" / "install.sh").read_text(encoding="utf-8")
    assert "--require-hashes" in install and "action/requirements.txt" in install
    assert "--no-build-isolation --no-index" in install  # trustpub from the action's own checkout


# -- runs of the Action --------------------------------------------------------------------


def test_a_workflow_written_for_the_official_action_runs_unchanged(world: LocalWorld, workspace: Path) -> None:
    """The `with:` block of a pypa/gh-action-pypi-publish step, only its URL pointed at
    the local index: it publishes with trusted publishing and attestations, and a re-run
    (what skip-existing is for) completes without uploading anything twice."""
    workflow = yaml.safe_load(PYPA_WORKFLOW)
    step = next(s for s in workflow["jobs"]["publish"]["steps"] if s["uses"].startswith("pypa/gh-action-pypi-publish"))
    with_ = dict(step["with"])
    with_["repository-url"] = world.index.upload_url
    runner = _runner(workspace, world.ci_environment())

    run = runner.run(with_, replace=INSTALLED)
    assert run.returncode == 0, run.log
    expected = _dists(workspace)
    assert sorted(world.index.files(PROJECT)) == sorted(expected)
    for filename in expected:  # with attestations, on the index
        assert _provenance(world.index, filename)["attestation_bundles"]
    report = _check_outputs(run, expected)
    assert {f["outcome"] for f in report["files"]} == {"uploaded"}
    assert report["credentials"].startswith("trusted publishing")
    assert not run.annotations("error") and not run.annotations("warning")
    # The step summary: trustpub's table with each sha256, and how the inputs were read.
    assert f"### trustpub: {PROJECT} 1.0.0 to " in run.summary
    assert "`skip-existing: true`: trustpub compares by sha256 on every run" in run.summary
    # The official action ignores `attestations` for an index other than PyPI; trustpub says it did not.
    assert "`attestations: true`: trustpub attests for an index other than PyPI and TestPyPI too" in run.summary
    (command,) = [line for line in run.log.splitlines() if line.startswith("running: trustpub publish")]
    assert " -v " in command and "--credentials trusted-publishing --attestations" in command  # verbose: true

    again = runner.run(with_, replace=INSTALLED)
    assert again.returncode == 0, again.log
    report = json.loads(Path(again.outputs["report"]).read_text(encoding="utf-8"))
    assert {f["outcome"] for f in report["files"]} == {"already-present"}
    assert again.outputs["urls"] == ""  # nothing uploaded this time
    assert sorted(world.index.files(PROJECT)) == sorted(expected)


def test_several_repository_urls_publish_to_each_index_in_order(world: LocalWorld, workspace: Path, tmp_path: Path) -> None:
    """repository-url with one URL per line becomes one `--to A,B`: both indexes get the
    files and the same attestations, and the outputs list the uploads of both."""
    staging = LocalIndex(tmp_path / "staging", audience="testpypi",
                         jwks_urls={GITHUB_ISSUER: world.issuer.jwks_url}, trust_config=world.trust_config)
    staging.start()
    try:
        ident = world.issuer.github
        staging.add_project(PROJECT)
        staging.add_github_publisher(PROJECT, ident.repository, ident.repository_owner_id, ident.workflow_file,
                                     ident.environment)
        run = _runner(workspace, world.ci_environment()).run(
            {"repository-url": f"{staging.upload_url}\n  {world.index.upload_url}  \n"}, replace=INSTALLED)
        assert run.returncode == 0, run.log
        expected = _dists(workspace)
        report = json.loads(Path(run.outputs["report"]).read_text(encoding="utf-8"))
        assert [t["upload_url"] for t in report["targets"]] == [staging.upload_url, world.index.upload_url]
        assert [t["status"] for t in report["targets"]] == ["landed", "landed"]
        for filename in expected:
            assert _provenance(staging, filename) == _provenance(world.index, filename)
        urls = run.outputs["urls"].splitlines()
        assert [u.startswith(staging.url) for u in urls] == [True] * len(expected) + [False] * len(expected)
        assert {u.rsplit("/", 1)[-1]: hashlib.sha256(_get(u)).hexdigest() for u in urls} == expected
        assert Path(run.outputs["provenance"]).is_file()
    finally:
        staging.stop()


def test_an_api_token_with_the_deprecated_spellings(world: LocalWorld, workspace: Path) -> None:
    """password: an API token (no trusted publishing, so no attestations, with a warning),
    and the underscore spellings, each with a deprecation warning naming the new one."""
    token = world.index.add_api_token(PROJECT)
    run = _runner(workspace, {}).run(
        {"password": token, "repository_url": world.index.upload_url, "packages_dir": "dist/",
         "verify_metadata": "false", "skip_existing": "true", "print_hash": "false"},
        replace=INSTALLED,
    )
    assert run.returncode == 0, run.log
    assert sorted(world.index.files(PROJECT)) == sorted(_dists(workspace))
    warnings = run.annotations("warning")
    for old in DEPRECATED:
        assert any(f"`{old}` is deprecated: rename it to `{old.replace('_', '-')}`" in w for w in warnings), old
    assert any("attestations need trusted publishing" in w for w in warnings)
    assert token not in run.log and token not in run.summary
    report = json.loads(Path(run.outputs["report"]).read_text(encoding="utf-8"))
    assert report["credentials"] and "trusted" not in report["credentials"]
    assert run.outputs["provenance"] == ""  # no attestations, no release provenance
    assert "`verify-metadata: false`: trustpub's preflight ran anyway" in run.summary
    assert "`print-hash: false`: the sha256 of every file is shown anyway" in run.summary
    assert "`attestations: true`" not in run.summary  # none were made: nothing to say about them


def test_a_password_in_the_url_stays_out_of_the_log(workspace: Path) -> None:
    run = _runner(workspace, {"GITHUB_ACTIONS": "true"}).run(
        {"repository-url": "http://alice:s3cr3t-pw@127.0.0.1:9/legacy/", "password": "pypi-unused-token"},
        replace=INSTALLED)
    assert run.returncode == 1  # nothing listens there
    assert "running: trustpub publish --json --to http://***@127.0.0.1:9/legacy/" in run.log
    assert "s3cr3t-pw" not in run.log + run.summary and "pypi-unused-token" not in run.log + run.summary
    # A failed release still leaves its report, named by the step's output.
    report = json.loads(Path(run.steps[-1].outputs["report"]).read_text(encoding="utf-8"))
    assert report["ok"] is False and "127.0.0.1:9" in report["error"] and "s3cr3t-pw" not in json.dumps(report)


def test_without_id_token_write_the_fix_is_named_and_nothing_runs(workspace: Path) -> None:
    """A job without `permissions: id-token: write` has no ACTIONS_ID_TOKEN_* variables."""
    env = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo-org/demo"}
    run = _runner(workspace, env).run({"repository-url": "http://127.0.0.1:9/legacy/"}, replace=INSTALLED)
    assert run.returncode == 1
    (error,) = run.annotations("error")
    assert "permissions: id-token: write" in error and "password:" in error
    assert next(c for c in run.commands if c.command == "error").properties == "title=trustpub action: trusted publishing needs id-token: write"
    assert run.outputs == {}


@pytest.mark.parametrize(
    ("with_", "message"),
    [
        ({"slsa": "yes"}, "`slsa` must be true or false, not 'yes'"),  # trustpub's own input: strict
        ({"packages-dir": "wheelhouse"}, "`packages-dir` is 'wheelhouse', which is not a folder"),
        ({"repository-url": " ,\n"}, "`repository-url` holds no URL"),
        ({"user": "alice"}, "`user` is 'alice' but `password` is empty"),
        ({"jobs": "four"}, "`jobs` must be a whole number, not 'four'"),
    ],
)
def test_a_bad_input_is_one_error_naming_it(workspace: Path, with_: dict[str, str], message: str) -> None:
    run = _runner(workspace, {"GITHUB_ACTIONS": "true"}).run(with_, replace=INSTALLED)
    assert run.returncode == 1
    assert [e for e in run.annotations("error") if message in e], run.log
    assert "Traceback" not in run.log


def test_other_values_of_the_official_booleans_are_read_as_the_official_action_reads_them(world: LocalWorld, workspace: Path) -> None:
    """pypa/gh-action-pypi-publish takes every value but `false` as true, so a workflow
    with `verbose: yes` runs there; it runs here too, verbosely, and a warning says how
    each such value was read."""
    run = _runner(workspace, world.ci_environment()).run(
        {"repository-url": world.index.upload_url, "verbose": "yes", "skip-existing": "1", "attestations": "on"},
        replace=INSTALLED)
    assert run.returncode == 0, run.log
    (command,) = [line for line in run.log.splitlines() if line.startswith("running: trustpub publish")]
    assert " -v " in command and "--attestations" in command and "--no-attestations" not in command
    warnings = run.annotations("warning")
    for shown in ("`verbose: yes`", "`skip-existing: 1`", "`attestations: on`"):
        assert any(w.startswith(shown + " is read as true, as pypa/gh-action-pypi-publish") for w in warnings), shown
    assert "`skip-existing: true`" in run.summary
    for filename in _dists(workspace):
        assert _provenance(world.index, filename)["attestation_bundles"]


# -- Linux, macOS and Windows runners: the virtual environment's layout ----------------------

#: An interpreter of the job's PATH (what actions/setup-python leaves there): ``-m venv DIR``
#: makes the layouts named in $FAKE_VENV_LAYOUTS, each interpreter in it a recorder; the
#: rest runs this test's Python. Only ``pip`` is not run: it needs the package index.
_BASE_PYTHON = """#!/bin/bash
set -eu
printf '%s\t%s\n' "${0##*/}" "$*" >> "$FAKE_PYTHON_LOG"
if [ "${1:-}" = -m ] && [ "${2:-}" = venv ]; then
  for layout in $FAKE_VENV_LAYOUTS; do
    mkdir -p "$3/${layout%/*}"
    cp "$FAKE_VENV_PYTHON" "$3/$layout"
  done
  exit 0
fi
exec "$REAL_PYTHON" "$@"
"""
#: A venv's interpreter: writes its own path and arguments, records pip, runs the rest.
_VENV_PYTHON = """#!/bin/bash
set -eu
printf '%s\t%s\n' "$0" "$*" >> "$FAKE_PYTHON_LOG"
if [ "${1:-}" = -m ] && [ "${2:-}" = pip ]; then exit 0; fi
exec "$REAL_PYTHON" "$@"
"""


def _fake_interpreters(tmp_path: Path, layouts: list[str]) -> tuple[dict[str, str], Path]:
    """The job's environment with ``python`` and ``python3`` first on PATH, and the log they write."""
    bindir = tmp_path / "toolcache"
    bindir.mkdir()
    for name, body in (("python", _BASE_PYTHON), ("python3", _BASE_PYTHON), ("venv-python", _VENV_PYTHON)):
        (bindir / name).write_text(body, encoding="utf-8")
        (bindir / name).chmod(0o755)
    log = tmp_path / "interpreters.log"
    env = {
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "REAL_PYTHON": sys.executable,
        "FAKE_PYTHON_LOG": str(log),
        "FAKE_VENV_PYTHON": str(bindir / "venv-python"),
        "FAKE_VENV_LAYOUTS": " ".join(layouts),
        # Were a real pip reached after all, it could not leave this machine.
        "PIP_NO_INDEX": "1",
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple/",
    }
    return env, log


def _calls(log: Path) -> list[tuple[str, str]]:
    """(interpreter, arguments) of each run, in order."""
    return [(who, args) for who, _, args in (line.partition("\t") for line in log.read_text(encoding="utf-8").splitlines())]


@pytest.mark.parametrize(
    ("runner_os", "layouts", "chosen", "base"),
    [
        # Both layouts present: a choice by directory alone could take bin/ on Windows.
        ("Windows", ["bin/python", "Scripts/python.exe"], "Scripts/python.exe", "python"),
        ("macOS", ["Scripts/python.exe", "bin/python"], "bin/python", "python3"),
        ("Linux", ["Scripts/python.exe", "bin/python"], "bin/python", "python3"),
        # A Python built for MSYS2/MinGW makes bin/ on Windows: the second choice there.
        ("Windows", ["bin/python"], "bin/python", "python"),
    ],
)
def test_the_install_step_uses_the_venv_layout_of_the_runners_os(
    world: LocalWorld, workspace: Path, tmp_path: Path, runner_os: str, layouts: list[str], chosen: str, base: str,
) -> None:
    """Both steps run as on that runner (RUNNER_OS, its default interpreter name); every
    command after `-m venv` runs with the venv's interpreter for that OS, and the release
    it publishes lands on the local index with attestations."""
    env, log = _fake_interpreters(tmp_path, layouts)
    runner = ActionRunner(REPO, workspace, {**env, **world.ci_environment(), "PATH": env["PATH"],
                                            "TRUSTPUB_STATE_DIR": str(tmp_path / "state")}, runner_os=runner_os)
    run = runner.run({"repository-url": world.index.upload_url})
    assert run.returncode == 0, run.log
    temp = Path(run.env["RUNNER_TEMP"])
    interpreter = temp / "trustpub-venv" / chosen
    assert run.steps[0].outputs == {"python": str(interpreter)}
    calls = _calls(log)
    # The runner's own interpreter only checks its version and makes the venv ...
    assert [who for who, _ in calls[:2]] == [base, base]
    assert calls[1][1] == f"-m venv {temp / 'trustpub-venv'}"
    # ... and everything after runs with the venv's, for this OS: the hash-locked install, trustpub, the outputs.
    assert {who for who, _ in calls[2:]} == {str(interpreter)}
    pip = [args for _, args in calls if args.startswith("-m pip")]
    assert pip == [
        f"-m pip --disable-pip-version-check --quiet install --require-hashes --no-deps --only-binary :all: -r {LOCK}",
        f"-m pip --disable-pip-version-check --quiet install --no-deps --no-build-isolation --no-index {REPO}",
        "-m pip --disable-pip-version-check --quiet check",
    ]
    assert any(args.startswith("-m trustpub publish --json") for _, args in calls)
    assert any(args.endswith("report.json") and "action/outputs.py" in args for _, args in calls)
    _check_outputs(run, _dists(workspace))


def test_a_venv_without_an_interpreter_for_the_runners_os_is_one_error(workspace: Path, tmp_path: Path) -> None:
    env, _log = _fake_interpreters(tmp_path, ["lib/python"])
    run = ActionRunner(REPO, workspace, env, runner_os="Windows").run({})
    assert run.returncode == 1 and len(run.steps) == 1
    (error,) = run.annotations("error")
    assert "made none of Scripts/python.exe bin/python.exe bin/python" in error and "RUNNER_OS=Windows" in error
    assert "Traceback" not in run.log


def test_an_interpreter_older_than_the_lock_is_refused_with_the_fix(workspace: Path, tmp_path: Path) -> None:
    old = tmp_path / "python2"
    old.write_text("#!/bin/bash\nexit 1\n", encoding="utf-8")  # sys.version_info < floor: exit status 1
    old.chmod(0o755)
    run = ActionRunner(REPO, workspace, {}, runner_os="Linux").run({"python": str(old)})
    assert run.returncode == 1 and len(run.steps) == 1
    (error,) = run.annotations("error")
    assert f"'{old}' is older than the Python the Action's lock was tested with" in error
    assert "actions/setup-python" in error


# -- the runner itself: what it does not model fails, never passes quietly -------------------


def _tiny_action(tmp_path: Path, body: str) -> ActionRunner:
    (tmp_path / "action.yml").write_text(body, encoding="utf-8")
    (tmp_path / "ws").mkdir(exist_ok=True)
    return ActionRunner(tmp_path, tmp_path / "ws")


def test_the_runner_refuses_what_it_does_not_evaluate(tmp_path: Path) -> None:
    runner = _tiny_action(tmp_path, "runs:\n  using: composite\n  steps:\n"
                                    "    - shell: bash\n      run: echo ${{ secrets.PYPI_TOKEN }}\n")
    with pytest.raises(UnsupportedExpression, match=r"secrets\.PYPI_TOKEN"):
        runner.run({})
    runner = _tiny_action(tmp_path, "inputs: {a: {default: x}}\nruns:\n  using: composite\n  steps:\n"
                                    "    - shell: bash\n      run: echo ${{ inputs.b }}\n")
    with pytest.raises(UnsupportedExpression, match="no input 'b'"):
        runner.run({})
    with pytest.raises(UnsupportedExpression, match="unexpected inputs"):
        runner.run({"typo": "1"})


def test_the_runner_carries_outputs_env_and_path_between_steps(tmp_path: Path) -> None:
    runner = _tiny_action(tmp_path, """\
outputs:
  joined: {value: "${{ steps.second.outputs.joined }}"}
runs:
  using: composite
  steps:
    - id: first
      shell: bash
      run: |
        echo "word=hello" >> "$GITHUB_OUTPUT"
        printf 'MULTI<<EOF\\nline one\\nline two\\nEOF\\n' >> "$GITHUB_ENV"
        mkdir -p "$RUNNER_TEMP/tools" && echo "$RUNNER_TEMP/tools" >> "$GITHUB_PATH"
    - id: second
      shell: bash
      env: {WORD: "${{ steps.first.outputs.word }}"}
      run: |
        case ":$PATH:" in *":$RUNNER_TEMP/tools:"*) ;; *) exit 3 ;; esac
        echo "joined=$WORD/${MULTI//$'\\n'/+}/${{ runner.os }}" >> "$GITHUB_OUTPUT"
""")
    run = runner.run({})
    assert run.returncode == 0, run.log
    assert run.outputs["joined"] == f"hello/line one+line two/{runner.runner_os}"
    assert parse_file_commands("a<<X\n1\n2\nX\nb=c=d\n") == {"a": "1\n2", "b": "c=d"}
