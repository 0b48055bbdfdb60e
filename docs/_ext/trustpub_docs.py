"""A Sphinx extension of trustpub's docs: tables generated from the code, so they cannot go stale.

``.. trustpub-rules::`` lists every preflight rule (:func:`trustpub.checks.all_rules`),
each with the anchor ``rule-<id>`` that the troubleshooting page's links use.
``.. trustpub-error-codes::`` lists every error code of :mod:`trustpub.error_codes`
with the exception class that has it.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


def _inert(text: str) -> str:
    """``text`` as plain reStructuredText: markup characters escaped (``linux_`` is not a link)."""
    for char in ("\\", "*", "_", "`", "|"):
        text = text.replace(char, "\\" + char)
    return text


def rule_lines() -> list[str]:
    """The reStructuredText of the rules list: a label and a definition per rule."""
    from trustpub.checks import all_rules

    lines: list[str] = []
    for rule in all_rules():
        lines += [
            f".. _rule-{rule.id}:",
            "",
            f"``{rule.id}`` ({rule.scope})",
            f"   {_inert(rule.summary)}",
            "",
        ]
    return lines


def error_code_lines() -> list[str]:
    """The reStructuredText of the code table: code (linked to its entry) and class."""
    from trustpub.error_codes import CODES

    lines = [".. list-table::", "   :header-rows: 1", "", "   * - code", "     - exception class"]
    for name, code in sorted(CODES.items(), key=lambda item: item[1]):
        lines += [f"   * - :ref:`{code} <{code}>`", f"     - ``{name}``"]
    return lines


class _Generated(SphinxDirective):
    has_content = False

    def lines(self) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(self.lines(), source="<generated>"), self.content_offset, container)
        return list(container.children)


class RulesDirective(_Generated):
    def lines(self) -> list[str]:
        return rule_lines()


class ErrorCodesDirective(_Generated):
    def lines(self) -> list[str]:
        return error_code_lines()


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("trustpub-rules", RulesDirective)
    app.add_directive("trustpub-error-codes", ErrorCodesDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
