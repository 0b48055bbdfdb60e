"""``trustpub doctor --workflow``: one test per finding, on real-shaped workflow files.

Each case starts from a workflow that follows PyPA's publishing guide
(tests/data/workflows/), changes the one thing a finding is about, and checks the
rule, its severity, the line it names and its fix. The command-line tests check the
exit status, the ``path:line:`` output, ``--json``, and refusals of bad files.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trustpub.workflow_lint import (
    ERROR,
    INFO,
    WARNING,
    Finding,
    LintReport,
    WorkflowLintError,
    lint_workflow,
)

DATA = Path(__file__).parent / "data" / "workflows"
RELEASE = (DATA / "release.yml").read_text(encoding="utf-8")
GITLAB = (DATA / "gitlab-ci.yml").read_text(encoding="utf-8")
PINNED = "pypa/gh-action-pypi-publish@76f52bc884231f62b9a034ebfe128415bbaabdfc  # v1.12.4"
TRUSTPUB = [sys.executable, "-m", "trustpub"]


def _github(tmp_path: Path, text: str, name: str = "release.yml", **options: str) -> LintReport:
    path = tmp_path / ".github" / "workflows" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return lint_workflow(path, **options)


def _gitlab(tmp_path: Path, text: str, name: str = ".gitlab-ci.yml", **options: str) -> LintReport:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return lint_workflow(path, **options)


def _line(text: str, needle: str) -> int:
    """The 1-based line of the only line containing ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def _only(report: LintReport, rule: str) -> Finding:
    found = [f for f in report.findings if f.rule == rule]
    assert len(found) == 1, report.findings
    return found[0]


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# --------------------------------------------------------------------------- GitHub


def test_the_recommended_workflow_has_no_findings(tmp_path: Path) -> None:
    report = _github(tmp_path, RELEASE, environment="pypi", workflow_name="release.yml")
    assert report.kind == "github" and report.publishing_jobs == ("publish",)
    assert report.findings == () and report.ok


def test_id_token_missing_on_the_publishing_job(tmp_path: Path) -> None:
    text = _replace(RELEASE, "    permissions:\n      id-token: write\n", "")
    report = _github(tmp_path, text)
    finding = _only(report, "id-token-missing")
    assert finding.severity == ERROR and finding.job == "publish"
    assert finding.line == _line(text, "  publish:")
    assert finding.fix == "add to the publishing job:  permissions: {id-token: write}  (job level, this job only)"
    assert not report.ok


def test_job_permissions_replace_the_workflows_grant(tmp_path: Path) -> None:
    text = _replace(RELEASE, "permissions:\n  contents: read\n", "permissions:\n  contents: read\n  id-token: write\n")
    text = _replace(text, "      id-token: write\n", "      contents: read\n")
    finding = _only(_github(tmp_path, text), "id-token-missing")
    assert finding.line == _line(text, "    permissions:")
    assert "replaces the workflow's" in finding.message
    assert finding.fix == "add `id-token: write` to this job's `permissions:`"


def test_id_token_granted_at_workflow_level(tmp_path: Path) -> None:
    text = _replace(RELEASE, "    permissions:\n      id-token: write\n", "")
    text = _replace(text, "permissions:\n  contents: read\n", "permissions:\n  contents: read\n  id-token: write\n")
    report = _github(tmp_path, text)
    finding = _only(report, "id-token-workflow-level")
    assert finding.severity == WARNING and report.ok
    assert finding.line == _line(text, "  id-token: write")
    assert finding.fix == (
        "move it to job 'publish': give that job `permissions: {id-token: write}` and keep the workflow's "
        "`permissions:` to `contents: read`"
    )
    assert "id-token-missing" not in report.rules()


def test_write_all_at_workflow_level_counts_as_a_workflow_grant(tmp_path: Path) -> None:
    text = _replace(RELEASE, "    permissions:\n      id-token: write\n", "")
    text = _replace(text, "permissions:\n  contents: read\n", "permissions: write-all\n")
    finding = _only(_github(tmp_path, text), "id-token-workflow-level")
    assert finding.line == _line(text, "permissions: write-all")
    assert finding.fix.startswith("move it to job 'publish'")


def test_no_environment_is_a_warning_that_names_the_publisher_case(tmp_path: Path) -> None:
    text = _replace(RELEASE, "    environment:\n      name: pypi\n      url: https://pypi.org/p/trustpub-demo\n", "")
    report = _github(tmp_path, text)
    finding = _only(report, "no-environment")
    assert finding.severity == WARNING and report.ok
    assert "if your trusted publisher names one" in finding.message
    assert finding.line == _line(text, "  publish:")
    assert finding.fix.startswith("add `environment: pypi` to job 'publish', name it in the trusted publisher")


def test_the_publishers_environment_missing_is_an_error(tmp_path: Path) -> None:
    text = _replace(RELEASE, "    environment:\n      name: pypi\n      url: https://pypi.org/p/trustpub-demo\n", "")
    report = _github(tmp_path, text, environment="pypi")
    finding = _only(report, "environment-missing")
    assert finding.severity == ERROR and finding.fix == "add `environment: pypi` to job 'publish'"
    assert finding.line == _line(text, "  publish:")
    assert "no-environment" not in report.rules()


def test_another_environment_than_the_publishers_is_an_error_case_insensitively(tmp_path: Path) -> None:
    text = _replace(RELEASE, "      name: pypi\n", "      name: release\n")
    finding = _only(_github(tmp_path, text, environment="pypi"), "environment-mismatch")
    assert finding.line == _line(text, "name: release")
    assert finding.fix == "set `environment: pypi` on the job, or change the publisher's environment to 'release'"
    # GitHub compares environments case-insensitively, as PyPI does.
    assert _github(tmp_path, RELEASE, environment="PyPI").findings == ()


def test_workflow_file_name_differing_from_the_publishers(tmp_path: Path) -> None:
    finding = _only(_github(tmp_path, RELEASE, workflow_name="publish.yml"), "workflow-name-mismatch")
    assert finding.severity == ERROR and finding.line == 1
    assert "'publish.yml'" in finding.message and "'release.yml'" in finding.message
    assert finding.fix == "set the publisher's workflow name to 'release.yml', or rename this file to 'publish.yml'"


def test_pull_request_target_trigger(tmp_path: Path) -> None:
    text = _replace(RELEASE, '    tags: ["v*"]\n', '    tags: ["v*"]\n  pull_request_target:\n')
    finding = _only(_github(tmp_path, text), "pull-request-target")
    assert finding.severity == ERROR and finding.line == _line(text, "pull_request_target:")
    assert "PyPI refuses" in finding.message
    assert finding.fix.startswith("publish on `push` of a tag, `release: {types: [published]}` or `workflow_dispatch`")


@pytest.mark.parametrize("on", ["on: [push, pull_request_target]\n", "on: pull_request_target\n"])
def test_pull_request_target_in_the_short_spellings_of_on(tmp_path: Path, on: str) -> None:
    text = _replace(RELEASE, 'on:\n  push:\n    tags: ["v*"]\n', on)
    assert _only(_github(tmp_path, text), "pull-request-target").line == _line(text, "pull_request_target")


def test_workflow_run_trigger_and_its_guard(tmp_path: Path) -> None:
    text = _replace(RELEASE, 'on:\n  push:\n    tags: ["v*"]\n', 'on:\n  workflow_run:\n    workflows: [CI]\n    types: [completed]\n')
    finding = _only(_github(tmp_path, text), "workflow-run")
    assert finding.severity == WARNING and finding.line == _line(text, "workflow_run:")
    assert "a fork's pull request can trigger" in finding.message
    assert finding.fix.endswith(
        "add to the publishing job `if: github.event.workflow_run.event == 'push' && "
        "github.event.workflow_run.head_repository.full_name == github.repository`"
    )
    guarded = _replace(
        text, "    needs: build\n",
        "    needs: build\n    if: github.event.workflow_run.head_repository.full_name == github.repository\n",
    )
    assert "workflow-run" not in _github(tmp_path, guarded).rules()


def test_build_and_publish_in_the_same_job(tmp_path: Path) -> None:
    text = _replace(
        RELEASE,
        "      - uses: pypa/gh-action-pypi-publish",
        "      - run: python -m build\n      - uses: pypa/gh-action-pypi-publish",
    )
    finding = _only(_github(tmp_path, text), "build-and-publish-same-job")
    assert finding.severity == WARNING and finding.job == "publish"
    assert finding.line == _line(text, "- run: python -m build")
    assert finding.fix == (
        "build in a job without `id-token: write`, `actions/upload-artifact` the dist/ folder, and publish in a "
        "separate job that `needs:` it and downloads the artifact"
    )


def test_a_reusable_workflow_that_publishes(tmp_path: Path) -> None:
    text = _replace(RELEASE, 'on:\n  push:\n    tags: ["v*"]\n', "on:\n  workflow_call:\n")
    finding = _only(_github(tmp_path, text, name="publish.yml"), "reusable-workflow")
    assert finding.severity == WARNING and finding.line == _line(text, "workflow_call:")
    assert "job_workflow_ref" in finding.message and "workflow_ref" in finding.message
    assert finding.fix.startswith("publish from a job of the top-level workflow (call this one to build only)")


def test_a_job_calling_a_reusable_workflow_with_the_oidc_permission(tmp_path: Path) -> None:
    text = (
        "on:\n  push:\n    tags: ['v*']\njobs:\n  pypi:\n    permissions:\n      id-token: write\n"
        "    uses: ./.github/workflows/publish.yml\n    secrets: inherit\n"
    )
    report = _github(tmp_path, text)
    finding = _only(report, "reusable-workflow")
    assert finding.line == _line(text, "uses: ./.github/workflows/publish.yml") and report.publishing_jobs == ("pypi",)
    assert finding.fix == "publish from a job of this workflow (its steps, not `uses:`); let the reusable workflow build only"


def test_third_party_actions_not_pinned_to_a_commit(tmp_path: Path) -> None:
    text = _replace(RELEASE, PINNED, "pypa/gh-action-pypi-publish@release/v1")
    finding = _only(_github(tmp_path, text), "unpinned-action")
    assert finding.severity == WARNING and finding.line == _line(text, "gh-action-pypi-publish@release/v1")
    assert finding.fix == (
        "pin it to a full commit SHA: `uses: pypa/gh-action-pypi-publish@<40-hex commit of release/v1>  # release/v1`"
    )
    # GitHub's own actions on a tag (actions/checkout@v4 ...) are not reported.
    assert len([f for f in _github(tmp_path, text).findings if f.rule == "unpinned-action"]) == 1


def test_trustpubs_own_action_and_a_run_step_are_publishing_jobs(tmp_path: Path) -> None:
    text = _replace(RELEASE, PINNED, "trustpub/trustpub@v1")
    report = _github(tmp_path, text)
    assert report.publishing_jobs == ("publish",) and _only(report, "unpinned-action")
    text = _replace(RELEASE, f"uses: {PINNED}", "run: pipx run trustpub publish dist/")
    text = _replace(text, "    permissions:\n      id-token: write\n", "")
    assert _only(_github(tmp_path, text), "id-token-missing").job == "publish"


def test_no_publishing_job(tmp_path: Path) -> None:
    text = _replace(RELEASE, f"      - uses: {PINNED}\n", "")
    finding = _only(_github(tmp_path, text), "no-publishing-job")
    assert finding.severity == WARNING and finding.line == _line(text, "jobs:")
    assert finding.fix == "lint the workflow that uploads to PyPI"


def test_an_api_token_skips_the_oidc_rules(tmp_path: Path) -> None:
    text = _replace(RELEASE, "    permissions:\n      id-token: write\n", "")
    text = _replace(text, f"      - uses: {PINNED}\n", f"      - uses: {PINNED}\n        with:\n          password: ${{{{ secrets.PYPI_API_TOKEN }}}}\n")
    report = _github(tmp_path, text)
    finding = _only(report, "api-token")
    assert finding.severity == INFO and finding.line == _line(text, f"- uses: {PINNED}")
    assert finding.fix == "register a trusted publisher on PyPI, give the job `id-token: write` and drop the token secret"
    assert "id-token-missing" not in report.rules() and report.ok


# --------------------------------------------------------------------------- GitLab


def test_the_recommended_gitlab_pipeline_has_no_findings(tmp_path: Path) -> None:
    report = _gitlab(tmp_path, GITLAB, environment="pypi", workflow_name=".gitlab-ci.yml")
    assert report.kind == "gitlab" and report.publishing_jobs == ("publish",)
    assert report.findings == ()


def test_gitlab_without_id_tokens(tmp_path: Path) -> None:
    text = _replace(GITLAB, "  id_tokens:\n    PYPI_ID_TOKEN:\n      aud: pypi\n    SIGSTORE_ID_TOKEN:\n      aud: sigstore\n", "")
    finding = _only(_gitlab(tmp_path, text), "id-tokens-missing")
    assert finding.severity == ERROR and finding.line == _line(text, "publish:")
    assert "id_tokens: {PYPI_ID_TOKEN: {aud: pypi}, SIGSTORE_ID_TOKEN: {aud: sigstore}}" in finding.fix


def test_gitlab_id_token_named_otherwise_than_trustpub_reads(tmp_path: Path) -> None:
    text = _replace(GITLAB, "    PYPI_ID_TOKEN:\n", "    PYPI_TOKEN:\n")
    report = _gitlab(tmp_path, text)
    finding = _only(report, "id-token-name")
    assert finding.line == _line(text, "PYPI_TOKEN:")
    assert finding.fix == "rename PYPI_TOKEN to PYPI_ID_TOKEN (keep `aud: pypi`)"


def test_gitlab_id_token_with_a_list_of_audiences(tmp_path: Path) -> None:
    text = _replace(GITLAB, "      aud: pypi\n", "      aud: [pypi, sigstore]\n")
    finding = _only(_gitlab(tmp_path, text), "id-token-audience")
    assert finding.line == _line(text, "aud: [pypi, sigstore]") and "one string" in finding.message
    assert finding.fix == "declare one token per audience: id_tokens: {PYPI_ID_TOKEN: {aud: pypi}, SIGSTORE_ID_TOKEN: {aud: sigstore}}"


def test_gitlab_id_token_without_an_audience(tmp_path: Path) -> None:
    text = _replace(GITLAB, "    PYPI_ID_TOKEN:\n      aud: pypi\n", "    PYPI_ID_TOKEN:\n      expire_in: 5m\n")
    report = _gitlab(tmp_path, text)
    finding = _only(report, "id-token-audience")
    assert finding.severity == ERROR and finding.line == _line(text, "PYPI_ID_TOKEN:")
    assert finding.message == "the id token PYPI_ID_TOKEN has no `aud:`"
    assert finding.fix == "give it `aud: pypi` (or `aud: sigstore`)"
    # Nothing serves the index's audience either: that is named where the tokens are declared.
    assert _only(report, "id-token-index-missing").line == _line(text, "id_tokens:")


def test_gitlab_token_for_another_index_than_the_script_publishes_to(tmp_path: Path) -> None:
    text = _replace(GITLAB, "trustpub publish dist/", "trustpub publish --testpypi dist/")
    finding = _only(_gitlab(tmp_path, text), "id-token-index-missing")
    assert finding.line == _line(text, "id_tokens:")
    assert "TESTPYPI_ID_TOKEN: {aud: testpypi}" in finding.fix


def test_gitlab_without_the_sigstore_token(tmp_path: Path) -> None:
    text = _replace(GITLAB, "    SIGSTORE_ID_TOKEN:\n      aud: sigstore\n", "")
    finding = _only(_gitlab(tmp_path, text), "id-token-sigstore-missing")
    assert finding.severity == ERROR and finding.line == _line(text, "id_tokens:")
    assert finding.fix == "add under id_tokens:  SIGSTORE_ID_TOKEN: {aud: sigstore}  (or publish with --no-attestations)"
    without = _replace(text, "trustpub publish dist/", "trustpub publish --no-attestations dist/")
    assert _gitlab(tmp_path, without).findings == ()


def test_gitlab_id_tokens_inherited_from_default_and_extends(tmp_path: Path) -> None:
    text = (
        "default:\n  id_tokens:\n    PYPI_ID_TOKEN: {aud: pypi}\n"
        ".release:\n  environment: pypi\n  id_tokens:\n    PYPI_ID_TOKEN: {aud: pypi}\n    SIGSTORE_ID_TOKEN: {aud: sigstore}\n"
        "publish:\n  extends: .release\n  script:\n    - trustpub publish dist/\n"
    )
    report = _gitlab(tmp_path, text)
    assert report.publishing_jobs == ("publish",) and report.findings == ()


def test_gitlab_environment_compared_case_sensitively(tmp_path: Path) -> None:
    finding = _only(_gitlab(tmp_path, GITLAB, environment="PyPI"), "environment-mismatch")
    assert finding.line == _line(GITLAB, "environment: pypi") and "case-sensitively" in finding.message
    assert finding.fix == "set `environment: PyPI`, or change the publisher's environment to 'pypi'"
    text = _replace(GITLAB, "  environment: pypi\n", "")
    finding = _only(_gitlab(tmp_path, text), "no-environment")
    assert finding.severity == WARNING and finding.line == _line(text, "publish:")
    assert finding.fix.startswith("add `environment: pypi` to job 'publish', make it a protected environment")
    finding = _only(_gitlab(tmp_path, text, environment="pypi"), "environment-missing")
    assert finding.severity == ERROR and finding.line == _line(text, "publish:")
    assert finding.fix == "add `environment: pypi` to job 'publish' (GitLab compares it case-sensitively)"


def test_gitlab_build_and_publish_in_the_same_job(tmp_path: Path) -> None:
    text = _replace(GITLAB, "    - trustpub publish dist/\n", "    - python -m build\n    - trustpub publish dist/\n")
    finding = _only(_gitlab(tmp_path, text), "build-and-publish-same-job")
    assert finding.job == "publish" and finding.severity == WARNING
    # The publishing job's `script:` (the build job's own `python -m build` is another line).
    assert finding.line == [n for n, line in enumerate(text.splitlines(), 1) if line == "  script:"][1]
    assert finding.fix.startswith("build in an earlier job (artifacts: paths: [dist/]) without id_tokens")


def test_gitlab_pipeline_path_differing_from_the_publishers(tmp_path: Path) -> None:
    finding = _only(_gitlab(tmp_path, GITLAB, workflow_name="ci/release.yml"), "workflow-name-mismatch")
    assert finding.severity == ERROR and finding.line == 1
    assert finding.fix == "set the publisher's top-level pipeline file path to the file GitLab runs, or publish from 'ci/release.yml'"
    included = _gitlab(tmp_path, GITLAB, name="release.gitlab-ci.yml")
    finding = _only(included, "included-file")
    assert finding.severity == INFO and included.ok and finding.line == 1
    assert finding.fix == "name the top-level file (the project's CI/CD configuration file) in the trusted publisher"


def test_gitlab_no_publishing_job(tmp_path: Path) -> None:
    text = _replace(GITLAB, "    - trustpub publish dist/\n", "    - echo no upload here\n")
    finding = _only(_gitlab(tmp_path, text), "no-publishing-job")
    assert finding.severity == WARNING and finding.line == 1
    assert finding.fix == "lint the file that defines the publishing job"


def test_the_gitlab_component_lints_clean() -> None:
    component = Path(__file__).resolve().parents[1] / "templates" / "publish.yml"
    report = lint_workflow(component, kind="gitlab")
    assert report.publishing_jobs and report.ok, report.findings


# --------------------------------------------------------------------------- command line


def _doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRUSTPUB, "doctor", *args], capture_output=True, text=True, timeout=60)


def test_cli_names_the_line_and_the_fix_and_exits_1_on_an_error(tmp_path: Path) -> None:
    text = _replace(RELEASE, "    permissions:\n      id-token: write\n", "")
    path = tmp_path / "release.yml"
    path.write_text(text, encoding="utf-8")
    proc = _doctor("--workflow", str(path), "--environment", "pypi")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{path}:{_line(text, '  publish:')}: error [id-token-missing]" in proc.stderr
    assert "    fix: add to the publishing job:  permissions: {id-token: write}" in proc.stderr
    assert "result: publishing from this file would NOT work (1 error" in proc.stderr


def test_cli_json_and_exit_0_with_warnings_only(tmp_path: Path) -> None:
    path = tmp_path / "release.yml"
    path.write_text(_replace(RELEASE, PINNED, "pypa/gh-action-pypi-publish@release/v1"), encoding="utf-8")
    proc = _doctor("--workflow", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["kind"] == "github"
    assert [f["rule"] for f in doc["findings"]] == ["unpinned-action"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("jobs:\n  publish: [\n", "not valid YAML"),
        ("", "not a CI workflow"),
        ("- just\n- a list\n", "not a CI workflow"),
    ],
)
def test_cli_refuses_a_file_that_is_not_a_workflow(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "release.yml"
    path.write_text(content, encoding="utf-8")
    proc = _doctor("--workflow", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr and expected in proc.stderr
    with pytest.raises(WorkflowLintError):
        lint_workflow(path)


def test_cli_missing_file(tmp_path: Path) -> None:
    proc = _doctor("--workflow", str(tmp_path / "nope.yml"))
    assert proc.returncode == 2 and "cannot read the workflow file" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_publisher_options_need_a_workflow() -> None:
    proc = _doctor("--environment", "pypi")
    assert proc.returncode == 2 and "--workflow FILE" in proc.stderr and "Traceback" not in proc.stderr


def test_every_rule_of_the_lint_has_a_test_here() -> None:
    """The rules are read from the lint's own source (each ``Finding("rule", ...)``); each
    must be the subject of a test above (``_only(report, "rule")``), so a new rule without
    a test fails here. That those tests assert the line and the fix is the reviewer's job."""
    import ast

    package = Path(__file__).resolve().parents[1] / "src" / "trustpub" / "workflow_lint"
    rules = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding" and node.args:
                first = node.args[0]
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (path.name, ast.dump(first))
                rules.add(first.value)
    tested = set(re.findall(r'_only\([^()]*(?:\([^()]*\)[^()]*)*, "([a-z-]+)"\)', Path(__file__).read_text(encoding="utf-8")))
    assert len(rules) >= 15  # the scan is not blind
    assert rules - tested == set(), f"rules without a test: {sorted(rules - tested)}"
