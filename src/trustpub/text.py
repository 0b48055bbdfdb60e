"""Text that trustpub did not write, made safe to print.

Filenames, metadata, token claims, attestation contents and server answers are
written by somebody else, and a terminal or a CI log obeys some of what it reads: a
newline followed by ``::warning ...::`` becomes a GitHub workflow command, an ESC
sequence moves the cursor, recolours the log or fakes a GitLab section, and a
right-to-left override shows a name that is not the one on disk. Every printer of
trustpub passes such text through :func:`printable` (one line) or
:func:`markdown_text` (the GitHub step summary); JSON output needs neither, because
``json.dumps`` escapes control characters itself.

    >>> printable("demo.whl\\n::warning::pwned \\x1b[31mred")
    'demo.whl\\\\n::warning::pwned \\\\x1b[31mred'
    >>> printable("::error::at the start of a line")
    '\\\\x3a:error::at the start of a line'

Escaping is idempotent (backslashes are left alone, so escaping twice changes
nothing), which lets a message be escaped where it is built and again where it is
printed.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from trustpub.secrets import redact

__all__ = [
    "SHOWN_CHARS",
    "EscapingFormatter",
    "excerpt",
    "markdown_text",
    "markdown_url",
    "printable",
    "printable_lines",
]

#: How much of a server's error body a message shows.
SHOWN_CHARS = 500

# C0 and C1 controls, DEL, and the invisible characters that change how a line reads:
# bidi embeddings/overrides/isolates, zero-width spaces and marks, line and paragraph
# separators, the BOM; and lone surrogates (undecodable bytes of a filename), which
# no UTF-8 stream can write.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A workflow command is a line that starts, after blanks, with "::" (or the older "##[").
_COMMAND_START = re.compile(r"^(\s*)(?:(:)(?=:)|(#)(?=#\[))")
_MARKDOWN_SPECIAL = re.compile(r"([\\|\[\]<>`&])")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _neutralise_command(match: re.Match[str]) -> str:
    marker = match.group(2) or match.group(3)
    return match.group(1) + f"\\x{ord(marker):02x}"


def printable(text: object) -> str:
    """``text`` as one inert line: control and invisible characters shown as escapes.

    Newlines become ``\\n``, so the result is always a single line, and a leading
    ``::`` or ``##[`` (what a CI runner reads as a command) has its first character
    escaped, since the text may start a line of the log.
    """
    value = text if isinstance(text, str) else str(text)
    value = _UNSAFE.sub(_escape, value)
    return _COMMAND_START.sub(_neutralise_command, value, count=1)


def printable_lines(text: object) -> str:
    """Text whose line breaks are meant (an error with a block of claims, a YAML hint):
    each line made inert with :func:`printable`, the breaks kept.

    No line can then start a runner command or carry a control character, wherever
    its text came from.
    """
    value = text if isinstance(text, str) else str(text)
    return "\n".join(printable(line) for line in value.split("\n"))


def excerpt(text: str, limit: int = SHOWN_CHARS) -> str:
    """The start of a long text from a server: secrets redacted, blanks collapsed, cut at
    ``limit``, escaped.

    Redacting comes first: a secret the server echoed, cut in two by ``limit``, would
    no longer match and its first part would be shown.
    """
    flat = " ".join(redact(text).split())
    if len(flat) > limit:
        flat = f"{flat[:limit]}… ({len(flat) - limit} more characters)"
    return printable(flat)


def markdown_text(text: object) -> str:
    """:func:`printable`, then inert in Markdown: a table cell cannot be split by ``|``,
    no link, HTML tag, entity or code span can open."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", printable(text))


def markdown_url(url: str) -> str:
    """A URL for ``[text](url)``: blanks, controls, parentheses and ``|`` percent-encoded."""
    return quote(url, safe=":/?#[]@!$&'*+,;=%~")


class EscapingFormatter(logging.Formatter):
    """A log formatter whose messages go through :func:`printable` (logs quote servers too).

    Tracebacks keep their lines; only the message of each record is made one line.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)
