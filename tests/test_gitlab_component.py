"""The GitLab CI/CD component (templates/publish.yml), run as a GitLab runner would.

The component is rendered the way GitLab does at pipeline creation: the ``spec:
inputs`` header is checked against the inputs given (unknown, missing, ``regex`` and
``type: boolean``), then every ``$[[ inputs.NAME ]]`` in the job, keys included, is
replaced. Its ``script:`` lines then run in one bash session (``set -eo pipefail``,
as the runner's shell does) with GitLab's predefined variables and, for each
``id_tokens:`` entry of the rendered job, a token minted by the local world's issuer
with GitLab's claims for that job. The release must land on the local index with
attestations that verify for the GitLab publisher.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml

from tests.distfactory import build_demo
from trustpub.local.issuer import GitLabIdentity
from trustpub.local.world import LocalWorld

REPO = Path(__file__).resolve().parents[1]
COMPONENT = REPO / "templates" / "publish.yml"
PROJECT = "trustpub-demo"
PROJECT_PATH = "octo-group/demo"
_INPUT = re.compile(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]")


class RenderError(ValueError):
    """GitLab would refuse to create the pipeline with these inputs."""


def _header_and_body() -> tuple[dict[str, Any], Any]:
    header, body = yaml.safe_load_all(COMPONENT.read_text(encoding="utf-8"))
    return header["spec"]["inputs"], body


def render(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The component's job configuration after GitLab's input interpolation."""
    spec, body = _header_and_body()
    unknown = set(inputs) - set(spec)
    if unknown:
        raise RenderError(f"unknown input(s): {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, rule in spec.items():
        rule = rule or {}
        if name in inputs:
            value = inputs[name]
        elif "default" in rule:
            value = rule["default"]
        else:
            raise RenderError(f"`{name}` input: required value not provided")
        if rule.get("type", "string") == "boolean" and not isinstance(value, bool):
            raise RenderError(f"`{name}` input: provided value is not a boolean")
        if rule.get("type", "string") == "string" and not isinstance(value, str):
            raise RenderError(f"`{name}` input: provided value is not a string")
        if "regex" in rule and not re.search(rule["regex"], str(value)):
            raise RenderError(f"`{name}` input: provided value does not match required RegEx pattern")
        values[name] = value

    def text(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    def interpolate(node: Any) -> Any:
        if isinstance(node, dict):
            return {interpolate(k): interpolate(v) for k, v in node.items()}
        if isinstance(node, list):
            return [interpolate(v) for v in node]
        if isinstance(node, str):
            whole = _INPUT.fullmatch(node.strip())
            if whole:  # a value that is one interpolation keeps the input's type
                return values[whole.group(1)]
            return _INPUT.sub(lambda m: text(values[m.group(1)]), node)
        return node

    rendered: dict[str, Any] = interpolate(body)
    leftover = _INPUT.search(json.dumps(rendered))
    assert leftover is None, leftover
    return rendered


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project's wheel and sdist, as the build job's artifacts (real backend)."""
    out = tmp_path_factory.mktemp("dist")
    build_demo(out)
    return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    with LocalWorld.start(tmp_path / "world") as running:
        running.index.add_project(PROJECT)
        yield running


def _runner_env(world: LocalWorld, job_name: str, job: Mapping[str, Any], project_dir: Path, identity: GitLabIdentity) -> dict[str, str]:
    """GitLab's predefined variables for this job, its ``variables:``, and its id tokens."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GITLAB", "ACTIONS_", "TRUSTPUB_", "PYPI_", "GOOGLE_", "CI_", "PIP_"))
        and not k.endswith("_ID_TOKEN")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({
        "CI": "true",
        "GITLAB_CI": "true",
        "CI_SERVER": "yes",
        "CI_SERVER_URL": identity.issuer,
        "CI_SERVER_HOST": identity.host,
        "CI_SERVER_FQDN": identity.host,
        "CI_PROJECT_PATH": identity.project_path,
        "CI_PROJECT_NAMESPACE": identity.project_path.rsplit("/", 1)[0],
        "CI_PROJECT_NAME": identity.project_path.rsplit("/", 1)[1],
        "CI_PROJECT_ID": identity.project_id,
        "CI_PROJECT_DIR": str(project_dir),
        "CI_CONFIG_PATH": identity.ci_config_path,
        "CI_COMMIT_SHA": identity.sha,
        "CI_COMMIT_TAG": identity.ref,
        "CI_COMMIT_REF_NAME": identity.ref,
        "CI_JOB_ID": identity.job_id,
        "CI_JOB_NAME": job_name,
        "CI_JOB_STAGE": str(job["stage"]),
        "CI_PIPELINE_ID": identity.pipeline_id,
        "CI_PIPELINE_SOURCE": identity.pipeline_source,
        "CI_ENVIRONMENT_NAME": str(job["environment"]["name"]),
        "GITLAB_USER_LOGIN": identity.user_login,
        # A project CI/CD variable: the local world's Sigstore instead of the public one.
        "TRUSTPUB_SIGSTORE": str(world.trust_config),
        # Offline: pip may only confirm the trustpub already installed here.
        "PIP_NO_INDEX": "1",
    })
    env.update({str(k): str(v) for k, v in (job.get("variables") or {}).items()})
    for variable, spec in job["id_tokens"].items():
        env[variable] = world.issuer.mint_gitlab(spec["aud"], identity=identity)
    return env


def _run_job(world: LocalWorld, dist: Path, tmp_path: Path, inputs: Mapping[str, Any], identity: GitLabIdentity) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], Path]:
    rendered = render(inputs)
    (job_name, job), = rendered.items()
    project_dir = tmp_path / "project"
    shutil.copytree(dist, project_dir / "dist")  # the build job's artifacts
    env = _runner_env(world, job_name, job, project_dir, identity)
    script = "set -eo pipefail\n" + "\n".join([*job.get("before_script", []), *job["script"]])
    proc = subprocess.run(["bash", "-c", script], cwd=project_dir, env=env, capture_output=True, text=True, timeout=180)
    for variable in job["id_tokens"]:
        assert env[variable] not in proc.stdout + proc.stderr
    return proc, job, project_dir


def _identity(**fields: Any) -> GitLabIdentity:
    return GitLabIdentity(project_path=PROJECT_PATH, environment="pypi", **fields)


def test_the_component_header_follows_gitlabs_spec() -> None:
    spec, body = _header_and_body()
    assert all((rule or {}).get("description") for rule in spec.values()), "every input documented"
    assert spec["attestations"]["type"] == "boolean" and spec["attestations"]["default"] is True
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert spec["trustpub-spec"]["default"] == f"trustpub=={version}", "the component installs its own release"
    (job_name, job), = body.items()
    assert job_name == "$[[ inputs.job-name ]]"
    assert job["id_tokens"]["SIGSTORE_ID_TOKEN"] == {"aud": "sigstore"}


def test_rendering_refuses_inputs_gitlab_would_refuse() -> None:
    with pytest.raises(RenderError, match="unknown input"):
        render({"repository_url": "pypi"})
    with pytest.raises(RenderError, match="RegEx"):
        render({"token-variable": "pypi_token"})
    with pytest.raises(RenderError, match="not a boolean"):
        render({"attestations": "yes"})
    job = render({"job-name": "release", "audience": "testpypi", "token-variable": "TESTPYPI_ID_TOKEN"})["release"]
    assert job["id_tokens"] == {"TESTPYPI_ID_TOKEN": {"aud": "testpypi"}, "SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}


def test_the_component_publishes_with_attestations_that_verify(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    from pypi_attestations import GitLabPublisher
    from sigstore.models import ClientTrustConfig
    from sigstore.verify import Verifier

    from trustpub.attest import verify_provenance
    from trustpub.dists import hash_file
    from trustpub.transport import Transport

    world.index.add_gitlab_publisher(PROJECT, PROJECT_PATH, ".gitlab-ci.yml", environment="pypi")
    proc, job, project_dir = _run_job(world, dist, tmp_path, {"repository-url": world.index.upload_url}, _identity())
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report_path = project_dir / job["artifacts"]["paths"][0]
    doc = json.loads(report_path.read_text(encoding="utf-8"))  # the job's artifact
    assert doc["ok"] is True and doc["credentials"] == "trusted publishing (GitLab CI)"
    ours = {p.name: hash_file(p).sha256 for p in dist.iterdir()}
    assert {f["filename"]: f["sha256"] for f in doc["files"]} == ours
    assert world.index.files(PROJECT) == sorted(ours)
    verifier = Verifier(trusted_root=ClientTrustConfig.from_json(world.trust_config.read_text()).trusted_root)
    publisher = GitLabPublisher(repository=PROJECT_PATH, workflow_filepath=".gitlab-ci.yml", environment="pypi")
    for entry in doc["files"]:
        assert entry["outcome"] == "uploaded" and entry["rekor_log_index"] is not None
        served = Transport().get(entry["attestation_url"])
        assert served.status == 200
        verdict = verify_provenance(served.data, entry["filename"], entry["sha256"], publisher, verifier, source=entry["attestation_url"])
        assert verdict.ok, verdict.failure


def test_a_token_variable_that_does_not_match_the_audience_is_named(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    """TestPyPI's audience with the default variable name: trustpub says which variable it reads."""
    world.index.audience = "testpypi"
    world.index.add_gitlab_publisher(PROJECT, PROJECT_PATH, ".gitlab-ci.yml", environment="pypi")
    inputs = {"repository-url": world.index.upload_url, "audience": "testpypi"}
    proc, _job, _dir = _run_job(world, dist, tmp_path, inputs, _identity())
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "TESTPYPI_ID_TOKEN is not set" in proc.stderr
    assert world.index.files(PROJECT) == [] and world.sigstore.rekor.size == 0


def test_self_managed_gitlab_publishes_but_refuses_attestations_up_front(world: LocalWorld, dist: Path, tmp_path: Path) -> None:
    """An issuer a PyPI organization registered: identity works, attestations are refused before signing."""
    identity = _identity(host="gitlab.example.com")
    world.index.trust_issuer(identity.issuer, world.issuer.jwks_url)
    world.index.add_gitlab_publisher(PROJECT, PROJECT_PATH, ".gitlab-ci.yml", environment="pypi", issuer_url=identity.issuer)

    proc, _job, _dir = _run_job(world, dist, tmp_path / "with", {"repository-url": world.index.upload_url}, identity)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "self-managed GitLab (https://gitlab.example.com)" in proc.stderr
    assert "PyPI verifies GitLab attestations only for the issuer https://gitlab.com" in proc.stderr
    assert "--no-attestations" in proc.stderr
    assert world.index.files(PROJECT) == [] and world.sigstore.rekor.size == 0, "nothing signed or uploaded"
    # docs/ci/gitlab.rst quotes this refusal word for word.
    quoted = next(
        line.strip() for line in (REPO / "docs" / "ci" / "gitlab.rst").read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("trustpub: error: --attestations")
    )
    assert quoted in proc.stderr

    inputs = {"repository-url": world.index.upload_url, "attestations": False}
    proc, job, project_dir = _run_job(world, dist, tmp_path / "without", inputs, identity)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((project_dir / job["artifacts"]["paths"][0]).read_text(encoding="utf-8"))
    assert doc["ok"] and all(f["outcome"] == "uploaded" and f["rekor_log_index"] is None for f in doc["files"])
    assert world.sigstore.rekor.size == 0
