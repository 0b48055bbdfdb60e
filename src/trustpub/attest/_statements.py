"""in-toto statements trustpub signs: what they say, and their exact bytes.

Three kinds, all in-toto Statement v1 (``_type`` ``https://in-toto.io/Statement/v1``):

* **publish/v1**, one per file: exactly one subject (the exact filename and its
  lowercase sha256), predicate type ``https://docs.pypi.org/attestations/publish/v1``
  and predicate ``{}``. PyPI's docs say this predicate MUST be ``{}`` or null;
  ``pypi_attestations.Attestation.sign`` leaves it out (null). trustpub writes ``{}``:
  the explicit empty object is what the docs show first, and a consumer that reads
  ``predicate`` never has to special-case a missing key.
* **SLSA Provenance v1**, one per file (``--slsa``): the same single subject, the
  predicate filled from the CI context (:class:`CIContext`).
* **release provenance**: ONE SLSA Provenance v1 statement naming every file of the
  release as a subject, sorted by name (the statement of the origin document). PyPI
  takes only single-subject attestations, so this one is never uploaded: it is signed
  as a plain Sigstore bundle and written beside the dists.

Encoding is canonical, so the same input always gives the same bytes: keys sorted,
no insignificant whitespace, UTF-8, no floats (integers and strings only). For these
inputs that is exactly RFC 8785 (JCS). The signature covers these bytes, and PyPI
verifies over the bytes as sent, so nothing ever re-serialises a statement::

    >>> stmt = build_statement([Subject("demo-1.0.tar.gz", "ab" * 32)], PUBLISH_V1, {})
    >>> encode_statement(stmt)[:60]
    b'{"_type":"https://in-toto.io/Statement/v1","predicate":{},"p'

This module is pure data: no sigstore import, no I/O, so dry runs can show the
statements (:func:`trustpub.attest.unsigned_statements`) without loading the client.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "DEFAULT_BUILDER_ID",
    "DEFAULT_INVOCATION_ID",
    "GITHUB_BUILD_TYPE",
    "PUBLISH_V1",
    "SLSA_PROVENANCE_V1",
    "STATEMENT_V1",
    "TRUSTPUB_BUILD_TYPE",
    "CIContext",
    "Subject",
    "build_statement",
    "encode_statement",
    "file_slsa_statement",
    "publish_statement",
    "release_statement",
    "rfc3339",
]

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
PUBLISH_V1 = "https://docs.pypi.org/attestations/publish/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"

#: ``runDetails.builder.id`` when nothing better is known (no CI context, no
#: ``builder_id``): the origin document's fallback builder identity.
DEFAULT_BUILDER_ID = "https://github.com/trustpub/trustpub/builder@v1"

#: The release provenance's ``runDetails.metadata.invocationId`` outside CI (no run URL
#: known): the origin document's ``"auto"``. In CI it is the run's URL.
DEFAULT_INVOCATION_ID = "auto"

#: The build type GitHub's own provenance (actions/attest-build-provenance) uses, so
#: tools that understand GitHub workflow provenance read ours the same way.
GITHUB_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1"
#: The build type for every other CI: the same parameter layout, a trustpub name.
TRUSTPUB_BUILD_TYPE = "https://github.com/trustpub/trustpub/buildtypes/ci/v1"

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Subject:
    """One in-toto subject: a file name and its sha256 (64 lowercase hex digits).

    PyPI compares the digest as a string with its own lowercase hex, so anything
    else is refused here rather than at upload time.
    """

    name: str
    sha256: str

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a subject needs a name")
        if not _HEX64.fullmatch(self.sha256):
            raise ValueError(f"subject {self.name!r}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "digest": {"sha256": self.sha256}}


def rfc3339(moment: float | datetime) -> str:
    """``2026-05-30T00:36:00Z``: UTC, whole seconds, as SLSA's timestamps are written."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, tz=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CIContext:
    """What the CI job says about itself, as SLSA provenance records it.

    Three sources, most trusted first (:meth:`resolve` merges them field by field):
    explicit values (``builder_id``, ``invocation_id``, ... as keys), the OIDC claims
    of the signing token (:meth:`from_claims`: the same facts the Fulcio certificate
    carries, so a verifier can cross-check the provenance against the certificate),
    and the CI's environment variables (:meth:`from_environment`: ``GITHUB_*``,
    GitLab's ``CI_*``), which are all a dry run has. Empty strings mean "not known".
    """

    builder_id: str = ""
    invocation_id: str = ""
    build_type: str = ""
    repository: str = ""
    repository_uri: str = ""
    workflow_path: str = ""
    ref: str = ""
    sha: str = ""
    event_name: str = ""
    repository_id: str = ""
    repository_owner_id: str = ""
    runner_environment: str = ""

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> CIContext:
        """The context a GitHub Actions or GitLab CI token describes (empty for others)."""
        c = {k: "" if v is None else str(v) for k, v in claims.items()}
        iss = c.get("iss", "").rstrip("/")
        if iss == "https://token.actions.githubusercontent.com":
            repo = c.get("repository", "")
            base = "https://github.com/"
            run = (
                f"{base}{repo}/actions/runs/{c['run_id']}/attempts/{c.get('run_attempt') or '1'}"
                if repo and c.get("run_id")
                else ""
            )
            return cls(
                builder_id=base + c["job_workflow_ref"] if c.get("job_workflow_ref") else "",
                invocation_id=run,
                build_type=GITHUB_BUILD_TYPE,
                repository=repo,
                repository_uri=base + repo if repo else "",
                # The caller's workflow file, as the certificate's Build Config URI names it.
                workflow_path=_github_workflow_path(c.get("workflow_ref", ""), repo),
                ref=c.get("ref", ""),
                sha=c.get("sha", ""),
                event_name=c.get("event_name", ""),
                repository_id=c.get("repository_id", ""),
                repository_owner_id=c.get("repository_owner_id", ""),
                runner_environment=c.get("runner_environment", ""),
            )
        if c.get("project_path") and c.get("ci_config_ref_uri"):
            project = c["project_path"]
            config = c["ci_config_ref_uri"]
            host = config.split("/", 1)[0] or "gitlab.com"
            path = config.split("//", 1)[1].rsplit("@", 1)[0] if "//" in config else ""
            return cls(
                builder_id="https://" + config,
                invocation_id=f"https://{host}/{project}/-/jobs/{c['job_id']}" if c.get("job_id") else "",
                build_type=TRUSTPUB_BUILD_TYPE,
                repository=project,
                repository_uri=f"https://{host}/{project}",
                workflow_path=path,
                ref=c.get("ref_path", ""),
                sha=c.get("sha", ""),
                event_name=c.get("pipeline_source", ""),
                repository_id=c.get("project_id", ""),
                repository_owner_id=c.get("namespace_id", ""),
                runner_environment=c.get("runner_environment", ""),
            )
        return cls()

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> CIContext:
        """The context GitHub Actions' or GitLab CI's predefined variables describe."""
        if env.get("GITHUB_ACTIONS") or env.get("GITHUB_RUN_ID"):
            server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
            repo = env.get("GITHUB_REPOSITORY", "")
            workflow_ref = env.get("GITHUB_WORKFLOW_REF", "")
            run_id = env.get("GITHUB_RUN_ID", "")
            return cls(
                # job_workflow_ref is only in the token; outside a reusable workflow it equals this.
                builder_id=f"{server}/{workflow_ref}" if workflow_ref else "",
                invocation_id=(
                    f"{server}/{repo}/actions/runs/{run_id}/attempts/{env.get('GITHUB_RUN_ATTEMPT') or '1'}"
                    if repo and run_id
                    else ""
                ),
                build_type=GITHUB_BUILD_TYPE,
                repository=repo,
                repository_uri=f"{server}/{repo}" if repo else "",
                workflow_path=_github_workflow_path(workflow_ref, repo),
                ref=env.get("GITHUB_REF", ""),
                sha=env.get("GITHUB_SHA", ""),
                event_name=env.get("GITHUB_EVENT_NAME", ""),
                repository_id=env.get("GITHUB_REPOSITORY_ID", ""),
                repository_owner_id=env.get("GITHUB_REPOSITORY_OWNER_ID", ""),
                runner_environment=env.get("RUNNER_ENVIRONMENT", ""),
            )
        if env.get("GITLAB_CI") and env.get("CI_PROJECT_PATH"):
            server = (env.get("CI_SERVER_URL") or "https://gitlab.com").rstrip("/")
            project = env["CI_PROJECT_PATH"]
            ref = (
                f"refs/tags/{env['CI_COMMIT_TAG']}"
                if env.get("CI_COMMIT_TAG")
                else f"refs/heads/{env['CI_COMMIT_BRANCH']}"
                if env.get("CI_COMMIT_BRANCH")
                else ""
            )
            config = env.get("CI_CONFIG_PATH") or ".gitlab-ci.yml"
            host = server.split("://", 1)[-1]
            return cls(
                builder_id=f"https://{host}/{project}//{config}@{ref}" if ref else "",
                invocation_id=env.get("CI_JOB_URL", ""),
                build_type=TRUSTPUB_BUILD_TYPE,
                repository=project,
                repository_uri=f"{server}/{project}",
                workflow_path=config,
                ref=ref,
                sha=env.get("CI_COMMIT_SHA", ""),
                event_name=env.get("CI_PIPELINE_SOURCE", ""),
                repository_id=env.get("CI_PROJECT_ID", ""),
                repository_owner_id=env.get("CI_PROJECT_NAMESPACE_ID", ""),
                runner_environment="",
            )
        return cls()

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> CIContext:
        """Explicit values: the keys that are this class's field names (others ignored)."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: str(v) for k, v in values.items() if k in known and v is not None})

    @classmethod
    def resolve(cls, given: Mapping[str, str] | None, claims: Mapping[str, Any] | None = None) -> CIContext:
        """Explicit keys of ``given``, then the token's ``claims``, then ``given`` read as a CI environment."""
        context = cls()
        if given is not None:
            context = cls.from_mapping(given)
        if claims:
            context = context.merged(cls.from_claims(claims))
        if given is not None:
            context = context.merged(cls.from_environment(given))
        return context

    def merged(self, fallback: CIContext) -> CIContext:
        """This context, with its empty fields taken from ``fallback``."""
        return CIContext(**{name: getattr(self, name) or getattr(fallback, name) for name in self.__dataclass_fields__})

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _github_workflow_path(workflow_ref: str, repo: str) -> str:
    """``.github/workflows/release.yml`` from ``owner/repo/.github/workflows/release.yml@ref``."""
    path = workflow_ref.split("@", 1)[0]
    return path[len(repo) + 1 :] if repo and path.startswith(repo + "/") else ""


def build_statement(
    subjects: Iterable[Subject],
    predicate_type: str,
    predicate: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """An in-toto Statement v1 as a JSON object; subjects sorted by name.

    Sorting makes the statement independent of the order the files were found in.
    Two subjects with the same name are refused: a statement naming one file twice
    (with two digests) would be ambiguous.
    """
    ordered = sorted(subjects, key=lambda s: s.name)
    if not ordered:
        raise ValueError("a statement needs at least one subject")
    names = [s.name for s in ordered]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"subject names must be unique, got {', '.join(duplicates)} more than once")
    return {
        "_type": STATEMENT_V1,
        "subject": [s.to_json() for s in ordered],
        "predicateType": predicate_type,
        "predicate": dict(predicate) if predicate is not None else None,
    }


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("statements carry no floats (their JSON encoding is not canonical)")
    if isinstance(value, dict):
        for item in value.values():
            _reject_floats(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _reject_floats(item)


def encode_statement(statement: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a statement: sorted keys, no whitespace, UTF-8.

    Same input, same bytes, on every machine and Python version.
    """
    _reject_floats(statement)
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def publish_statement(filename: str, sha256: str) -> dict[str, Any]:
    """The publish/v1 statement for one file (predicate ``{}``, see the module docstring)."""
    return build_statement([Subject(filename, sha256)], PUBLISH_V1, {})


def _slsa_predicate(context: CIContext, builder_id: str, finished_on: str | None) -> dict[str, Any]:
    external: dict[str, Any] = {}
    workflow = {
        key: value
        for key, value in (
            ("ref", context.ref),
            ("repository", context.repository_uri),
            ("path", context.workflow_path),
        )
        if value
    }
    if workflow:
        external["workflow"] = workflow
    internal_ci = {
        key: value
        for key, value in (
            ("event_name", context.event_name),
            ("repository_id", context.repository_id),
            ("repository_owner_id", context.repository_owner_id),
            ("runner_environment", context.runner_environment),
        )
        if value
    }
    build_definition: dict[str, Any] = {
        "buildType": context.build_type or TRUSTPUB_BUILD_TYPE,
        "externalParameters": external,
    }
    if internal_ci:
        key = "github" if context.build_type == GITHUB_BUILD_TYPE else "ci"
        build_definition["internalParameters"] = {key: internal_ci}
    if context.repository_uri and context.sha:
        uri = f"git+{context.repository_uri}" + (f"@{context.ref}" if context.ref else "")
        build_definition["resolvedDependencies"] = [{"uri": uri, "digest": {"gitCommit": context.sha}}]
    metadata: dict[str, Any] = {}
    if context.invocation_id:
        metadata["invocationId"] = context.invocation_id
    if finished_on:
        metadata["finishedOn"] = finished_on
    run_details: dict[str, Any] = {"builder": {"id": builder_id}}
    if metadata:
        run_details["metadata"] = metadata
    return {"buildDefinition": build_definition, "runDetails": run_details}


def _builder(context: CIContext, builder_id: str | None) -> str:
    # Explicit > the CI workflow (equals the certificate's Build Signer URI, so a
    # verifier can cross-check) > the fallback constant.
    return builder_id or context.builder_id or DEFAULT_BUILDER_ID


def file_slsa_statement(
    filename: str,
    sha256: str,
    context: CIContext,
    *,
    builder_id: str | None = None,
) -> dict[str, Any]:
    """The per-file SLSA Provenance v1 statement (single subject, as PyPI requires).

    No ``finishedOn``: the per-file statement must be the same on a re-run so an
    existing attestation can be recognised and reused.
    """
    predicate = _slsa_predicate(context, _builder(context, builder_id), None)
    return build_statement([Subject(filename, sha256)], SLSA_PROVENANCE_V1, predicate)


def release_statement(
    subjects: Sequence[Subject],
    context: CIContext,
    *,
    finished_on: float | datetime,
    builder_id: str | None = None,
    indexes: Sequence[str] = (),
) -> dict[str, Any]:
    """The release provenance: every file a subject (sorted), one SLSA v1 predicate.

    ``runDetails.metadata``: ``invocationId`` is the CI run's URL, else
    :data:`DEFAULT_INVOCATION_ID`; ``finishedOn`` is ``finished_on`` in UTC (RFC 3339).

    ``indexes`` are the upload URLs of a release sent to several indexes
    (``--to A,B``), recorded in order as the external parameter ``indexes``: the
    publisher chose them, and one signed document then says where the files went.
    """
    if not context.invocation_id:
        context = replace(context, invocation_id=DEFAULT_INVOCATION_ID)
    predicate = _slsa_predicate(context, _builder(context, builder_id), rfc3339(finished_on))
    if indexes:
        predicate["buildDefinition"]["externalParameters"]["indexes"] = list(indexes)
    return build_statement(subjects, SLSA_PROVENANCE_V1, predicate)
