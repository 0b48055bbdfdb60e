"""YAML as composed nodes: values with the line they were written on.

The rules need the line of every key (a finding names where the fix goes), and
GitHub's ``on:`` must stay the string ``on`` (a YAML 1.1 constructor would make it
``True``). Composing without constructing gives both, and ignores GitLab's custom
tags (``!reference``) instead of failing on them. PyYAML is imported here only (and
this module only by :func:`trustpub.workflow_lint.lint_workflow`), so nothing else in
trustpub pays for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml import MappingNode, Node, ScalarNode, SequenceNode

from trustpub.workflow_lint._model import WorkflowLintError

__all__ = ["compose_file", "get", "is_mapping", "is_sequence", "items", "key_node", "line", "scalar", "scalars", "text"]

#: A workflow larger than this is not a workflow (GitHub's limit is far lower).
MAX_BYTES = 4 * 1024 * 1024


def compose_file(path: Path) -> list[Node]:
    """Every YAML document of ``path`` as a node tree. Raises :class:`WorkflowLintError`."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise WorkflowLintError(f"cannot read the workflow file {str(path)!r}: {exc.strerror}", hint="check the path") from None
    if len(data) > MAX_BYTES:
        raise WorkflowLintError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MiB; not a CI workflow file")
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkflowLintError(f"{path}: not UTF-8 text (byte {exc.start})", hint="CI configuration files are UTF-8 YAML") from None
    try:
        documents = [node for node in yaml.compose_all(source, Loader=yaml.SafeLoader) if node is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise WorkflowLintError(
            f"{path}{where}: not valid YAML ({problem})",
            hint="fix the YAML first; the CI would refuse this file before any job runs",
        ) from None
    return documents


def line(node: Node | None) -> int:
    """The 1-based line a node starts on (0 for none)."""
    return node.start_mark.line + 1 if node is not None else 0


def is_mapping(node: Node | None) -> bool:
    return isinstance(node, MappingNode)


def is_sequence(node: Node | None) -> bool:
    return isinstance(node, SequenceNode)


def scalar(node: Node | None) -> str | None:
    """A scalar's text (``None`` for a missing node, a mapping or a sequence)."""
    if not isinstance(node, ScalarNode):
        return None
    value: Any = node.value
    return str(value)


def items(node: Node | None) -> Iterator[tuple[str, Node, Node]]:
    """(key text, key node, value node) of a mapping, merge keys (``<<:``) expanded.

    Keys written in the mapping win over merged ones, as YAML's merge says.
    """
    if not is_mapping(node):
        return
    assert node is not None
    own = [(scalar(k), k, v) for k, v in node.value if scalar(k) != "<<"]
    seen = {key for key, _, _ in own}
    yield from ((k, kn, v) for k, kn, v in own if k is not None)
    for key_node, value in node.value:
        if scalar(key_node) != "<<":
            continue
        merged = value.value if is_sequence(value) else [value]
        for source in merged:
            for key, kn, v in items(source):
                if key not in seen:
                    seen.add(key)
                    yield key, kn, v


def get(node: Node | None, key: str) -> Node | None:
    """The value under ``key`` in a mapping, or None."""
    for name, _key_node, value in items(node):
        if name == key:
            return value
    return None


def key_node(node: Node | None, key: str) -> Node | None:
    """The key node itself (its line is where the key is written)."""
    for name, kn, _value in items(node):
        if name == key:
            return kn
    return None


def scalars(node: Node | None) -> list[str]:
    """A scalar or a sequence of scalars as a list of strings (GitLab's ``script:``)."""
    if node is None:
        return []
    if is_sequence(node):
        out: list[str] = []
        for child in node.value:
            out.extend(scalars(child))
        return out
    value = scalar(node)
    return [value] if value is not None else []


def text(node: Node | None) -> str:
    """Every scalar under ``node`` joined by newlines: what a job could run."""
    if node is None:
        return ""
    if isinstance(node, ScalarNode):
        return str(node.value)
    if is_sequence(node):
        return "\n".join(text(child) for child in node.value)
    return "\n".join(text(value) for _key, _kn, value in items(node))
