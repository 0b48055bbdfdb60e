"""Every error trustpub can print has a stable code and an entry on the troubleshooting page (issue 17)."""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import trustpub
from trustpub.error_codes import CODES, DOCS_URL, code_for, docs_link
from trustpub.errors import ConfigurationError, TrustpubError

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGE = DOCS / "troubleshooting.rst"


def _error_classes() -> set[type[TrustpubError]]:
    for module in pkgutil.walk_packages(trustpub.__path__, "trustpub."):
        if not module.name.startswith("trustpub.local") and module.name != "trustpub.__main__":
            importlib.import_module(module.name)
    found: set[type[TrustpubError]] = set()
    todo = [TrustpubError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return {c for c in found if c.__module__.startswith("trustpub.")}


def _labels() -> set[str]:
    return set(re.findall(r"^\.\. _([a-z0-9-]+):$", PAGE.read_text("utf-8"), re.M))


def test_every_error_class_has_its_own_code() -> None:
    classes = _error_classes()
    names = [c.__name__ for c in classes]
    assert len(names) == len(set(names)), "two error classes share a name, so they would share a code"
    missing = sorted(n for n in names if n not in CODES)
    assert not missing, f"give these a code in trustpub/error_codes.py and an entry in docs/troubleshooting.rst: {missing}"
    assert len(set(CODES.values())) == len(CODES), "codes must be unique"
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", code) for code in CODES.values())


def test_every_code_has_a_troubleshooting_entry() -> None:
    missing = sorted(set(CODES.values()) - _labels())
    assert not missing, f"docs/troubleshooting.rst has no entry for {missing}"


def test_every_check_rule_has_a_troubleshooting_entry() -> None:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from trustpub_docs import rule_lines
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    from trustpub.checks import all_rules

    generated = "\n".join(rule_lines())
    rules = all_rules()
    assert len(rules) > 30
    for rule in rules:
        assert f".. _rule-{rule.id}:" in generated, rule.id
    assert ".. trustpub-rules::" in PAGE.read_text("utf-8")
    assert "check-rules" in _labels()


def test_a_wrapper_shows_its_causes_code() -> None:
    from trustpub.orchestrator import PublishFailed, PublishResult
    from trustpub.registry import Registry
    from trustpub.request_errors import DigestMismatch

    cause = DigestMismatch(Path("a.whl"), "0" * 64, "1" * 64)
    wrapped = PublishFailed(cause, PublishResult(Registry.parse("pypi"), "a", "1", []))
    assert code_for(wrapped) == cause.error_code == "sha256-mismatch"
    assert code_for(PublishFailed) == "publish-failed"
    assert docs_link(cause, env={}) == f"{DOCS_URL}/troubleshooting.html#sha256-mismatch"
    assert docs_link(cause, env={"TRUSTPUB_DOCS_URL": "file:///tmp/site/"}) == "file:///tmp/site/troubleshooting.html#sha256-mismatch"


def test_the_cli_error_line_ends_with_its_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from trustpub.cli import main

    monkeypatch.delenv("TRUSTPUB_DOCS_URL", raising=False)
    (tmp_path / "dist").mkdir()
    assert main(["publish", "--to", "pypy", "--dry-run", str(tmp_path / "dist")]) == 2
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("trustpub: error:")]
    assert "unknown index 'pypy'" in line
    assert line.endswith(f"(see {DOCS_URL}/troubleshooting.html#configuration)")
    # str() of the exception (what library callers and message tests see) carries no link.
    assert "see http" not in str(ConfigurationError("x", hint="y"))
