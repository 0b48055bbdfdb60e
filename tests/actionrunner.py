"""A small GitHub Actions runner for composite actions: runs action.yml as a runner would.

What it does, as the runner does it: reads ``action.yml``; fills every input from the
step's ``with:`` (an input the action does not declare is an error, as a typo in a
workflow should be) or its default; renders ``${{ inputs.* }}``, ``${{ github.* }}``,
``${{ env.* }}``, ``${{ runner.* }}`` and ``${{ steps.<id>.outputs.* }}`` in ``env:``,
``run:`` and the action's ``outputs``; runs each ``run:`` step with
``bash --noprofile --norc -eo pipefail`` in the workspace, with the job's environment
plus the files the runner provides (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH,
GITHUB_STEP_SUMMARY) and RUNNER_OS/RUNNER_TEMP; reads those files back after each step
(``NAME=value`` and ``NAME<<DELIM`` forms); collects workflow commands (``::error::``,
``::warning::``, ``::add-mask::``) from stdout and stderr; stops at the first failing
step. Anything it does not model (an expression other than those, ``uses:`` steps,
``if:``, a shell other than bash) fails loudly instead of being skipped.

A step can be replaced by the outputs it would have set (``replace={"install": {...}}``):
the tests put the test environment's own interpreter in place of the Action's pip
install, which needs the package index and a minute.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ActionRun", "ActionRunner", "StepResult", "UnsupportedExpression", "WorkflowCommand"]

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
#: ``::name key=value,key=value::message``: the properties end at the first ``::``.
_COMMAND = re.compile(r"^::([a-z-]+)(?: (.*?))?::(.*)$")
_STEP_KEYS = {"name", "id", "shell", "env", "run", "working-directory"}


class UnsupportedExpression(ValueError):
    """An expression or construct this runner does not model: the test must not pass by skipping it."""


@dataclass(frozen=True)
class WorkflowCommand:
    """``::warning title=T::message`` as the runner reads it from a step's output."""

    command: str
    properties: str
    message: str


@dataclass
class StepResult:
    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass
class ActionRun:
    """What a job would show after the action's step: each step, the outputs, annotations, summary."""

    steps: list[StepResult]
    outputs: dict[str, str]
    summary: str
    commands: list[WorkflowCommand]
    env: dict[str, str]

    @property
    def returncode(self) -> int:
        return next((s.returncode for s in self.steps if s.returncode), 0)

    @property
    def log(self) -> str:
        return "".join(s.stdout + s.stderr for s in self.steps)

    def annotations(self, level: str) -> list[str]:
        return [c.message for c in self.commands if c.command == level]


def _unescape(text: str, *, property: bool) -> str:
    pairs = [("%0D", "\r"), ("%0A", "\n")] + ([("%3A", ":"), ("%2C", ",")] if property else [])
    for escaped, plain in [*pairs, ("%25", "%")]:
        text = text.replace(escaped, plain)
    return text


def _command(match: re.Match[str]) -> WorkflowCommand:
    name, properties, message = match.groups("")
    return WorkflowCommand(name, _unescape(properties, property=True), _unescape(message, property=False))


def parse_file_commands(text: str) -> dict[str, str]:
    """``NAME=value`` lines and ``NAME<<DELIM`` blocks, as in GITHUB_OUTPUT and GITHUB_ENV."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise ValueError(f"{name}: no closing delimiter {delimiter!r}")
            i += 1
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        else:
            raise ValueError(f"not a file command: {line!r}")
    return values


@dataclass
class ActionRunner:
    """One job's runner: ``action_dir`` holds action.yml; ``workspace`` is GITHUB_WORKSPACE.

    ``env`` is the job's environment (e.g. the local world's ``ci_environment()``);
    the machine's own GITHUB_*/ACTIONS_*/RUNNER_*/TRUSTPUB_* variables are never passed on.
    """

    action_dir: Path
    workspace: Path
    env: Mapping[str, str] = field(default_factory=dict)
    runner_os: str = field(default_factory=lambda: {"Darwin": "macOS"}.get(platform.system(), platform.system()))
    timeout: float = 180

    def run(self, with_: Mapping[str, Any] | None = None, *, replace: Mapping[str, Mapping[str, str]] | None = None) -> ActionRun:
        action = yaml.safe_load((self.action_dir / "action.yml").read_text(encoding="utf-8"))
        if action.get("runs", {}).get("using") != "composite":
            raise UnsupportedExpression("only composite actions are modelled")
        inputs = self._inputs(action.get("inputs") or {}, with_ or {})
        temp = Path(tempfile.mkdtemp(prefix="runner-temp-", dir=self.workspace.parent))
        files = {name: temp / f"_{name.lower()}" for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")}
        for path in files.values():
            path.touch()
        job_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ACTIONS_", "RUNNER_", "TRUSTPUB_", "CI"))}
        job_env.update(self.env)
        job_env.update({
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_ACTION_PATH": str(self.action_dir),
            "RUNNER_OS": self.runner_os,
            "RUNNER_TEMP": str(temp),
            **{name: str(path) for name, path in files.items()},
        })
        steps: dict[str, dict[str, str]] = {}
        results: list[StepResult] = []
        commands: list[WorkflowCommand] = []
        for index, step in enumerate(action["runs"]["steps"]):
            unknown = set(step) - _STEP_KEYS
            if unknown:
                raise UnsupportedExpression(f"step {index}: {sorted(unknown)} are not modelled")
            step_id = step.get("id", f"__run_{index}")
            context = {"inputs": inputs, "steps": steps, "env": job_env, "temp": temp}
            if replace and step_id in replace:
                steps[step_id] = dict(replace[step_id])
                results.append(StepResult(step.get("name", step_id), 0, "", "", steps[step_id]))
                continue
            result = self._run_step(step, step_id, context, job_env, temp)
            steps[step_id] = result.outputs
            results.append(result)
            for stream in (result.stdout, result.stderr):
                commands += [_command(m) for m in map(_COMMAND.match, stream.splitlines()) if m]
            self._apply_env_files(job_env, files)
            if result.returncode:
                break
        outputs = {}
        if not any(r.returncode for r in results):
            context = {"inputs": inputs, "steps": steps, "env": job_env, "temp": temp}
            outputs = {name: self._render(str(spec["value"]), context) for name, spec in (action.get("outputs") or {}).items()}
        summary = files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8")
        return ActionRun(results, outputs, summary, commands, job_env)

    # -- the runner's parts ------------------------------------------------------------

    @staticmethod
    def _inputs(declared: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, str]:
        unexpected = set(given) - set(declared)
        if unexpected:
            raise UnsupportedExpression(f"unexpected inputs {sorted(unexpected)}; valid inputs are {sorted(declared)}")
        values = {}
        for name, spec in declared.items():
            value = given.get(name, (spec or {}).get("default", ""))
            # YAML booleans in `with:` reach the action as the strings 'true'/'false'.
            values[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return values

    def _render(self, text: str, context: Mapping[str, Any]) -> str:
        return _EXPRESSION.sub(lambda m: self._evaluate(m.group(1), context), text)

    def _evaluate(self, expression: str, context: Mapping[str, Any]) -> str:
        head, _, rest = expression.partition(".")
        if head == "inputs" and re.fullmatch(r"[A-Za-z0-9_-]+", rest):
            if rest not in context["inputs"]:
                raise UnsupportedExpression(f"${{{{ {expression} }}}}: the action declares no input {rest!r}")
            return str(context["inputs"][rest])
        if head == "github":
            known = {"action_path": str(self.action_dir), "workspace": str(self.workspace)}
            env = context["env"]
            known.update({k.removeprefix("GITHUB_").lower(): v for k, v in env.items() if k.startswith("GITHUB_")})
            if rest in known:
                return known[rest]
        if head == "runner" and rest in ("os", "temp"):
            return self.runner_os if rest == "os" else str(context["temp"])
        if head == "env" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rest):
            return str(context["env"].get(rest, ""))
        match = re.fullmatch(r"steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)", expression)
        if match:
            step_id, name = match.groups()
            if step_id not in context["steps"]:
                raise UnsupportedExpression(f"${{{{ {expression} }}}}: no earlier step has id {step_id!r}")
            return str(context["steps"][step_id].get(name, ""))
        raise UnsupportedExpression(f"${{{{ {expression} }}}} is not an expression this runner evaluates")

    def _run_step(self, step: Mapping[str, Any], step_id: str, context: Mapping[str, Any], job_env: Mapping[str, str], temp: Path) -> StepResult:
        if step.get("shell") != "bash":
            raise UnsupportedExpression(f"step {step_id}: shell {step.get('shell')!r}; only bash runs on all three runner OSes")
        if "run" not in step:
            raise UnsupportedExpression(f"step {step_id}: only run: steps are modelled")
        script = temp / f"{step_id}.sh"
        script.write_text(self._render(step["run"], context), encoding="utf-8")
        output = temp / f"{step_id}.output"
        output.touch()
        env = dict(job_env)
        env.update({str(k): self._render(str(v), context) for k, v in (step.get("env") or {}).items()})
        env["GITHUB_OUTPUT"] = str(output)
        cwd = self.workspace / self._render(str(step.get("working-directory", ".")), context)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            env=env, cwd=cwd, capture_output=True, text=True, timeout=self.timeout,
        )
        outputs = parse_file_commands(output.read_text(encoding="utf-8"))
        return StepResult(step.get("name", step_id), proc.returncode, proc.stdout, proc.stderr, outputs)

    @staticmethod
    def _apply_env_files(job_env: dict[str, str], files: Mapping[str, Path]) -> None:
        job_env.update(parse_file_commands(files["GITHUB_ENV"].read_text(encoding="utf-8")))
        files["GITHUB_ENV"].write_text("", encoding="utf-8")
        added = [line for line in files["GITHUB_PATH"].read_text(encoding="utf-8").splitlines() if line]
        if added:
            job_env["PATH"] = os.pathsep.join([*reversed(added), job_env.get("PATH", "")])
            files["GITHUB_PATH"].write_text("", encoding="utf-8")
