"""Rules for GitLab CI/CD configuration (``.gitlab-ci.yml``, an included file, a component).

trustpub reads GitLab's tokens from the variables the job declares under
``id_tokens:``, one per audience, named ``<AUDIENCE>_ID_TOKEN``
(:func:`trustpub.oidc.gitlab_env_var`): a token for the index (``pypi``,
``testpypi``) and one for Sigstore. A missing or misnamed token, or an audience
list (PyPI accepts one string), fails the release before anything is signed; this
says so before the pipeline runs. PyPI matches the top-level pipeline file path,
and compares the environment case-sensitively (``warehouse-contract.md`` §1.8).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trustpub.oidc import SIGSTORE_AUDIENCE, gitlab_env_var, gitlab_id_tokens_block
from trustpub.workflow_lint import _commands as commands
from trustpub.workflow_lint._model import ERROR, INFO, WARNING, Finding
from trustpub.workflow_lint._nodes import (
    get,
    is_mapping,
    is_sequence,
    items,
    key_node,
    line,
    scalar,
    scalars,
)

if TYPE_CHECKING:
    from yaml import Node

__all__ = ["lint_gitlab", "looks_like_gitlab"]

#: Top-level keys that configure the pipeline rather than name a job.
_GLOBAL_KEYS = frozenset(
    {"stages", "variables", "default", "include", "workflow", "image", "services", "before_script", "after_script", "cache", "spec"}
)
_PLACEHOLDER = "$[["


@dataclass(frozen=True)
class _Job:
    name: str
    key: Node
    #: Keys of the job after ``default:`` and ``extends:`` (key text -> (key node, value)).
    keys: dict[str, tuple[Node, Node]]

    def get(self, key: str) -> Node | None:
        found = self.keys.get(key)
        return found[1] if found else None

    def line_of(self, key: str) -> int:
        found = self.keys.get(key)
        return line(found[0]) if found else line(self.key)

    def script(self) -> str:
        return "\n".join(scalars(self.get("before_script")) + scalars(self.get("script")))


def _resolve(name: str, raw: dict[str, Node], default: Node | None, seen: frozenset[str] = frozenset()) -> dict[str, tuple[Node, Node]]:
    """A job's keys: ``default:``'s inheritable ones, then each ``extends:`` parent, then its own."""
    node = raw[name]
    keys: dict[str, tuple[Node, Node]] = {}
    if not seen:
        for key in ("id_tokens", "image", "before_script"):
            if (kn := key_node(default, key)) is not None:
                value = get(default, key)
                assert value is not None
                keys[key] = (kn, value)
    parents = scalars(get(node, "extends"))
    for parent in parents:
        if parent in raw and parent not in seen and parent != name:
            keys.update(_resolve(parent, raw, None, seen | {name}))
    for key, kn, value in items(node):
        if key != "extends":
            keys[key] = (kn, value)
    return keys


def _jobs(doc: Node) -> list[_Job]:
    raw = {name: value for name, _kn, value in items(doc) if name not in _GLOBAL_KEYS and is_mapping(value)}
    keys = {name: kn for name, kn, _value in items(doc)}
    default = get(doc, "default")
    return [
        _Job(name, keys[name], _resolve(name, raw, default))
        for name in raw
        if not name.startswith(".")
    ]


def _check_id_tokens(job: _Job, audience: str, attest: bool, out: list[Finding]) -> None:
    wanted = [audience] + ([SIGSTORE_AUDIENCE] if attest else [])
    block = gitlab_id_tokens_block(wanted, flow=True)
    tokens = job.get("id_tokens")
    if not is_mapping(tokens):
        out.append(
            Finding(
                "id-tokens-missing",
                ERROR,
                line(job.key),
                f"job {job.name!r} publishes but declares no `id_tokens:`; GitLab gives it no OIDC token, so trusted "
                "publishing" + (" and attestations fail" if attest else " fails"),
                f"add to job {job.name!r}:  {block}",
                job.name,
            )
        )
        return
    served: set[str] = set()
    for var, var_node, spec in items(tokens):
        aud_node = get(spec, "aud")
        aud = scalar(aud_node)
        if aud_node is None:
            out.append(
                Finding("id-token-audience", ERROR, line(var_node), f"the id token {var} has no `aud:`", f"give it `aud: {audience}` (or `aud: sigstore`)", job.name)
            )
            continue
        if is_sequence(aud_node):
            out.append(
                Finding(
                    "id-token-audience",
                    ERROR,
                    line(aud_node),
                    f"the id token {var} has a list of audiences; PyPI and Sigstore accept a token whose `aud` is "
                    "one string (a list gives 'malformed or invalid token')",
                    f"declare one token per audience: {block}",
                    job.name,
                )
            )
            continue
        if aud is None or _PLACEHOLDER in aud or _PLACEHOLDER in var:
            served.update(wanted)  # a component's input: judged where it is included
            continue
        expected = gitlab_env_var(aud)
        if var != expected:
            out.append(
                Finding(
                    "id-token-name",
                    ERROR,
                    line(var_node),
                    f"trustpub reads the token for audience {aud!r} from {expected}, but this job names it {var}",
                    f"rename {var} to {expected} (keep `aud: {aud}`)",
                    job.name,
                )
            )
        served.add(aud)
    where = job.line_of("id_tokens")
    if audience not in served:
        out.append(
            Finding(
                "id-token-index-missing",
                ERROR,
                where,
                f"job {job.name!r} publishes to an index with audience {audience!r} but declares no token for it "
                f"({gitlab_env_var(audience)} with `aud: {audience}`)",
                f"add under id_tokens:  {gitlab_env_var(audience)}: {{aud: {audience}}}",
                job.name,
            )
        )
    if attest and SIGSTORE_AUDIENCE not in served:
        out.append(
            Finding(
                "id-token-sigstore-missing",
                ERROR,
                where,
                f"job {job.name!r} attests (the default with trusted publishing) but declares no token for Sigstore; "
                "trustpub stops before signing",
                f"add under id_tokens:  {gitlab_env_var(SIGSTORE_AUDIENCE)}: {{aud: {SIGSTORE_AUDIENCE}}}  "
                "(or publish with --no-attestations)",
                job.name,
            )
        )


def _check_environment(job: _Job, wanted: str | None, out: list[Finding]) -> None:
    node = job.get("environment")
    name = scalar(get(node, "name")) if is_mapping(node) else scalar(node)
    if node is None:
        if wanted:
            out.append(
                Finding(
                    "environment-missing",
                    ERROR,
                    line(job.key),
                    f"the trusted publisher names environment {wanted!r}, but job {job.name!r} runs in none; PyPI "
                    "refuses its token",
                    f"add `environment: {wanted}` to job {job.name!r} (GitLab compares it case-sensitively)",
                    job.name,
                )
            )
        else:
            out.append(
                Finding(
                    "no-environment",
                    WARNING,
                    line(job.key),
                    f"job {job.name!r} publishes outside an environment: if your trusted publisher names one, PyPI "
                    "refuses the token; if it names none, whoever can run this pipeline can publish",
                    f"add `environment: pypi` to job {job.name!r}, make it a protected environment, and name it in "
                    "the trusted publisher (or pass --environment NAME to check the publisher's)",
                    job.name,
                )
            )
        return
    if wanted and name and _PLACEHOLDER not in name and "$" not in name and name != wanted:
        out.append(
            Finding(
                "environment-mismatch",
                ERROR,
                job.line_of("environment"),
                f"job {job.name!r} runs in environment {name!r}, but the trusted publisher names {wanted!r} "
                "(GitLab environments are compared case-sensitively)",
                f"set `environment: {wanted}`, or change the publisher's environment to {name!r}",
                job.name,
            )
        )


def _check_build(job: _Job, out: list[Finding]) -> None:
    if commands.builds(job.script()):
        out.append(
            Finding(
                "build-and-publish-same-job",
                WARNING,
                job.line_of("script"),
                f"job {job.name!r} builds and publishes: the build runs with the job's OIDC tokens in its environment",
                "build in an earlier job (artifacts: paths: [dist/]) without id_tokens, and publish in a job that "
                "`needs:` it",
                job.name,
            )
        )


def lint_gitlab(path: Path, docs: list[Node], *, environment: str | None, workflow_name: str | None) -> tuple[tuple[str, ...], list[Finding]]:
    """(publishing job names, findings) of a GitLab CI/CD file (a component's spec header is skipped)."""
    out: list[Finding] = []
    content = [d for d in docs if get(d, "spec") is None or len(docs) == 1] or docs[-1:]
    doc = content[-1]
    jobs = [job for job in _jobs(doc) if commands.publishes(job.script())]
    if workflow_name and path.name != workflow_name and not path.as_posix().endswith("/" + workflow_name.lstrip("/")):
        out.append(
            Finding(
                "workflow-name-mismatch",
                ERROR,
                1,
                f"the trusted publisher names the pipeline file {workflow_name!r}, but this file is {path.name!r}; "
                "PyPI matches the top-level pipeline file path (ci_config_ref_uri) and refuses the token",
                f"set the publisher's top-level pipeline file path to the file GitLab runs, or publish from {workflow_name!r}",
            )
        )
    elif not workflow_name and path.name != ".gitlab-ci.yml" and jobs:
        out.append(
            Finding(
                "included-file",
                INFO,
                1,
                f"{path.name!r} is not the top-level pipeline file: PyPI matches the file GitLab starts from "
                "(ci_config_ref_uri, usually .gitlab-ci.yml), even for jobs defined in an included file",
                "name the top-level file (the project's CI/CD configuration file) in the trusted publisher",
            )
        )
    if not jobs:
        out.append(
            Finding(
                "no-publishing-job",
                WARNING,
                1,
                "no job publishes (no `trustpub publish`, `twine upload` or `uv publish` in a script), so nothing "
                "here was checked for trusted publishing",
                "lint the file that defines the publishing job",
            )
        )
    for job in jobs:
        script = job.script()
        _check_id_tokens(job, commands.index_audience(script), not commands.skips_attestations(script), out)
        _check_environment(job, environment, out)
        _check_build(job, out)
    return tuple(job.name for job in jobs), out


def looks_like_gitlab(doc: Node) -> bool:
    """GitLab keys at the top, or jobs with ``script:``, and no GitHub ``jobs:``/``on:``."""
    if get(doc, "jobs") is not None and (get(doc, "on") is not None or get(doc, "true") is not None):
        return False
    if get(doc, "spec") is not None or get(doc, "stages") is not None or get(doc, "include") is not None:
        return True
    return any(get(value, "script") is not None or get(value, "extends") is not None for _n, _k, value in items(doc))

