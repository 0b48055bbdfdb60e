"""The one exception hierarchy of trustpub.

Every error a user can cause or meet carries a message that names what failed and,
where one exists, a hint saying what to change. Only the CLI maps these to exit codes;
library callers catch :class:`TrustpubError`. Nothing trustpub raises on purpose
derives from anything else.

Messages must never contain secrets (tokens, passwords, JWTs): build them from
claims, names and URLs only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "CheckFailed",
    "ConfigurationError",
    "TrustpubError",
    "WouldBeRefused",
]


class TrustpubError(Exception):
    """Base class: a failure with a message a user can act on.

    ``hint`` is an optional second sentence saying what to do about it.
    """

    #: Exit status the CLI uses for this kind of failure (1: refused or failed,
    #: 2: usage or configuration).
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message

    @property
    def error_code(self) -> str:
        """The stable code of this error, the anchor of its troubleshooting entry (:mod:`trustpub.error_codes`)."""
        from trustpub.error_codes import code_for

        return code_for(self)

    def with_docs_link(self) -> str:
        """``str(self)`` ending with ``(see <docs>/troubleshooting.html#<code>)``: what the CLI prints."""
        from trustpub.error_codes import docs_link

        return f"{self} (see {docs_link(self)})"


class ConfigurationError(TrustpubError):
    """The request itself is wrong: bad arguments, missing paths, unknown options."""

    exit_code = 2


class CheckFailed(TrustpubError):
    """A preflight check found problems PyPI would refuse.

    ``findings`` are those problems (:class:`trustpub.checks.Finding`), so a report
    such as the CI step summary can list them.
    """

    def __init__(self, message: str, *, hint: str | None = None, findings: Sequence[Any] = ()) -> None:
        super().__init__(message, hint=hint)
        self.findings: tuple[Any, ...] = tuple(findings)


class WouldBeRefused(TrustpubError, ValueError):
    """Bytes PyPI's own validator would refuse: a ZIP container, an attestation set.

    ``reason`` is the refusal in PyPI's words, and ``str(exc)`` is that reason alone,
    so it can be compared with the server's response text. It is also a
    :class:`ValueError` (what these errors were before they joined this hierarchy),
    so code that treats them as bad data keeps working.
    """

    def __init__(self, reason: str, *, hint: str | None = None) -> None:
        super().__init__(reason, hint=hint)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason
