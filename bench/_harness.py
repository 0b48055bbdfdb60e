"""What every benchmark shares: fresh processes, rotating rounds, medians, peak memory, results.

Why one harness: each figure in ``bench/RESULTS.md`` must mean the same thing. A tool
is always run as a fresh process, exactly as a user types it; its wall time is taken
by a tiny parent, and its peak memory is the process's own ``ru_maxrss`` from
``wait4``. Tools take turns inside each round (A B C, then B C A, ...), so page cache,
server warm-up and background load favour nobody; medians are reported with the
spread and the ratio to trustpub.

``BENCH_QUICK=1`` (or ``bench/run --quick``) shrinks every scenario to one round and
small inputs: a smoke test of the scripts, not a measurement.

Every URL a benchmark gives a tool is ``http://127.0.0.1:PORT``; :func:`loopback`
refuses anything else before a command is built.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
TRUSTPUB = str(BIN / "trustpub")
TWINE = str(BIN / "twine")
UV = str(BIN / "uv")

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


def loopback(url: str) -> str:
    """``url`` if it is on 127.0.0.1; twine falls back to upload.pypi.org on an empty URL."""
    if not url.startswith("http://127.0.0.1:"):
        raise SystemExit(f"refusing a non-loopback URL: {url!r}")
    return url


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a tool: no user index settings, proxies or CI identity; quiet warnings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("TWINE_", "UV_", "PIP_", "TRUSTPUB_", "PYPI_", "GITHUB_", "ACTIONS_", "GITLAB_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env["UV_NO_CONFIG"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    # Every tool runs from compiled bytecode, as after a pip install (see compile_sources).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra or {})
    return env


def compile_sources() -> None:
    """Byte-compile trustpub's sources, as ``pip install`` does for an installed package.

    The peers come from site-packages with their ``.pyc`` files; trustpub here is an
    editable install, and with ``PYTHONDONTWRITEBYTECODE`` set (as on the development
    machine) it would recompile its modules in every run: about 0.1 s that no user's
    installed trustpub pays.
    """
    import compileall

    compileall.compile_dir(str(ROOT / "src" / "trustpub"), quiet=1)


# Runs the client and reports (wall s, exit status, ru_maxrss KiB) of it alone. The
# client must not be a direct child of the benchmark: a forked child starts with its
# parent's RSS high-water mark, which exec keeps, so wait4() there would report the
# benchmark's size (servers live in it) instead of the client's. This hop is a bare
# interpreter (-I -S, about 8 MiB); its own posix_spawn child starts from that.
_HOP = """
import os, sys, time
argv = sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    out.write(f"{wall} {os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
"""


@dataclass(frozen=True)
class Run:
    """One process: wall seconds, exit status, peak RSS in KiB, where its output went, CPU seconds."""

    wall: float
    code: int
    peak_kib: int
    log: Path
    #: User + system CPU of the process itself (not the servers): what grows with the
    #: client's own work, whatever the index does.
    cpu: float = 0.0


def run_once(argv: Sequence[str], env: Mapping[str, str], log: Path, *, cwd: Path | None = None) -> Run:
    """Run ``argv`` as a fresh process (stdout and stderr to ``log``); time it and its peak memory."""
    result = log.with_suffix(".result")
    with log.open("wb") as out:
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", _HOP, str(result), *argv],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=dict(env), check=True, cwd=cwd,
        )  # fmt: skip
    wall, code, peak, cpu = result.read_text().split()
    return Run(float(wall), int(code), int(peak), log, float(cpu))


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    peak_kib: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median_cpu(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.wall) if self.wall else None

    @property
    def peak_mib(self) -> float | None:
        return max(self.peak_kib) / 1024 if self.peak_kib else None


#: A tool of a scenario: called before each run, returns (argv, env); may prepare state.
Command = Callable[[], tuple[list[str], dict[str, str]]]


def rounds(
    tools: Mapping[str, Command],
    runs: int,
    logs: Path,
    *,
    warmup: int = 1,
    check: Callable[[str, Run], str | None] | None = None,
    cwd: Path | None = None,
) -> dict[str, Samples]:
    """``warmup`` untimed rounds, then ``runs`` timed ones, the tools' order rotating each round.

    ``check(name, run)`` returns a problem (the index does not hold every file, ...)
    or ``None``; a run with a non-zero exit or a problem is a failure, not a sample.
    """
    logs.mkdir(parents=True, exist_ok=True)
    names = list(tools)
    samples = {name: Samples() for name in names}
    for round_no in range(warmup + runs):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            argv, env = tools[name]()
            run = run_once(argv, env, logs / f"{_slug(name)}-{round_no}.log", cwd=cwd)
            problem = None
            if run.code:
                problem = f"exit {run.code}: {_tail(run.log)}"
            elif check is not None:
                problem = check(name, run)
            if problem:
                samples[name].failures.append(problem)
            elif round_no >= warmup:
                samples[name].wall.append(run.wall)
                samples[name].peak_kib.append(run.peak_kib)
                samples[name].cpu.append(run.cpu)
    return samples


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def _tail(log: Path) -> str:
    text = log.read_text(errors="replace").strip()
    return " | ".join(text.splitlines()[-4:])[-400:]


# --- reporting -------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """A target stated in the issue, checked on the medians of one scenario."""

    text: str
    check: Callable[[dict[str, float]], bool]


@dataclass
class Section:
    """One scenario's results: printed as it finishes, then written to RESULTS.md."""

    title: str
    lines: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def table(
        self,
        samples: Mapping[str, Samples],
        *,
        reference: str,
        goals: Sequence[Goal] = (),
        memory_limit_mib: float | None = 100.0,
        note: str = "",
    ) -> dict[str, float]:
        """A markdown table (median, spread, peak memory, ratio to ``reference``), then the goals."""
        med = {n: s.median for n, s in samples.items() if s.median is not None}
        self.say(f"| tool | median | min-max | peak memory | {reference} / tool |")
        self.say("|---|---:|---:|---:|---:|")
        for name, s in samples.items():
            if s.median is None:
                self.say(f"| {name} | failed | | | |")
                continue
            ratio = f"{med[reference] / s.median:.2f}" if reference in med else "-"
            self.say(
                f"| {name} | {s.median:.3f} s | {min(s.wall):.3f}-{max(s.wall):.3f} s | {s.peak_mib:.1f} MiB | {ratio} |"
            )
        if note:
            self.say()
            self.say(note)
        for name, s in samples.items():
            for failure in s.failures[:2]:
                self.say(f"- **{name} failed**: `{failure}`")
                self.misses.append(f"{self.title}: {name} failed")
        for goal in goals:
            met = reference in med and _safe(goal.check, med)
            self.say(f"- goal: {goal.text}: **{'met' if met else 'NOT MET'}**")
            if not met:
                self.misses.append(f"{self.title}: {goal.text}")
        if memory_limit_mib is not None and reference in samples and samples[reference].peak_mib is not None:
            peak = samples[reference].peak_mib or 0.0
            met = peak < memory_limit_mib
            self.say(f"- goal: {reference} peak memory < {memory_limit_mib:.0f} MiB: **{'met' if met else 'NOT MET'}** ({peak:.1f} MiB)")
            if not met:
                self.misses.append(f"{self.title}: memory")
        self.say()
        return med

    def to_json(self) -> dict[str, object]:
        return {"title": self.title, "lines": self.lines, "misses": self.misses}


def _safe(check: Callable[[dict[str, float]], bool], med: dict[str, float]) -> bool:
    try:
        return bool(check(med))
    except (KeyError, ZeroDivisionError):
        return False


class Report:
    """The sections of one benchmark script; written as JSON for ``bench/run`` to assemble."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sections: list[Section] = []

    def section(self, title: str) -> Section:
        print(f"\n## {title}\n", flush=True)
        section = Section(title)
        self.sections.append(section)
        return section

    def write(self, path: str | None) -> None:
        if path:
            Path(path).write_text(json.dumps({"name": self.name, "sections": [s.to_json() for s in self.sections]}, indent=1))
        misses = [m for s in self.sections for m in s.misses]
        print("\nall goals met" if not misses else "\nnot met:\n  " + "\n  ".join(misses), flush=True)
