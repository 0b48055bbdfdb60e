"""Why a request built from explicit targets is refused: one exception class per rule.

A build tool that hands trustpub its artifacts (:meth:`trustpub.request.PublishRequest.from_targets`)
gets each refusal as its own class, so it can tell "my digest is wrong" from "the
index name is wrong" without parsing messages. All are
:class:`~trustpub.errors.ConfigurationError` (exit 2: the request is wrong) except
:class:`DigestMismatch` (exit 1), which is found later, when the file is hashed.
Every message names the target (its path) and the rule; every class has its entry
on the troubleshooting page (:mod:`trustpub.error_codes`).
"""

from __future__ import annotations

from pathlib import Path

from trustpub.errors import ConfigurationError, TrustpubError

__all__ = [
    "DigestMismatch",
    "DuplicateTarget",
    "EmptyField",
    "MalformedDigest",
    "MissingIdentityProvider",
    "NoTargets",
    "ReleaseMismatch",
    "SizeMismatch",
    "TargetNotFound",
    "UnknownRegistry",
    "UnknownTargetKind",
    "WrongExtension",
]


class UnknownRegistry(ConfigurationError):
    """The request names an index trustpub does not know (:attr:`RegistryKind.UNKNOWN`)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown registry {name!r}: the request has no upload URL",
            hint="use pypi, testpypi, or the index's legacy upload URL such as https://example.org/legacy/",
        )
        self.name = name


class NoTargets(ConfigurationError):
    """The request lists no artifact."""

    def __init__(self) -> None:
        super().__init__("nothing to publish: the request has no targets",
                         hint="give at least one Target(path, kind, sha256, size)")


class EmptyField(ConfigurationError):
    """A required value is empty: the distribution, the version, or a target's path, sha256 or size."""

    def __init__(self, field: str, *, target: str | None = None) -> None:
        where = f"target {target}: " if target else ""
        super().__init__(f"{where}{field} is empty", hint=f"every request needs its {field}")
        self.field = field
        self.target = target


class UnknownTargetKind(ConfigurationError):
    """A target's kind is neither ``sdist`` nor ``wheel``."""

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(f"target {path}: unknown kind {kind!r}", hint="a target is an sdist or a wheel")
        self.path = path


class WrongExtension(ConfigurationError):
    """An sdist whose name does not end in ``.tar.gz``, or a wheel's not in ``.whl``."""

    def __init__(self, path: Path, kind: str, suffix: str) -> None:
        super().__init__(
            f"target {path}: a {kind} must be named *{suffix}",
            hint="PyPI takes sdists as .tar.gz (PEP 625) and wheels as .whl (PEP 491)",
        )
        self.path = path
        self.kind = kind


class MalformedDigest(ConfigurationError):
    """A target's sha256 is not 64 hexadecimal digits."""

    def __init__(self, path: Path, value: str) -> None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        super().__init__(f"target {path}: sha256 {shown!r} is not 64 hexadecimal digits",
                         hint="give hashlib.sha256(data).hexdigest()")
        self.path = path


class TargetNotFound(ConfigurationError):
    """A target's path is not a regular file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"target {path}: {reason}", hint="build it first, or fix the path")
        self.path = path


class SizeMismatch(ConfigurationError):
    """A target's declared size differs from the file's size on disk (``stat``)."""

    def __init__(self, path: Path, declared: int, actual: int) -> None:
        super().__init__(
            f"target {path}: declared size {declared} bytes, but the file has {actual}",
            hint="the file changed after the build tool measured it; rebuild, or declare its real size",
        )
        self.path = path
        self.declared = declared
        self.actual = actual


class DuplicateTarget(ConfigurationError):
    """Two targets have the same file name: an index keeps one file per name."""

    def __init__(self, filename: str) -> None:
        super().__init__(f"target {filename} is listed twice", hint="list each file once")
        self.filename = filename


class MissingIdentityProvider(ConfigurationError):
    """Trusted publishing was asked for, not as a dry run, and no identity provider was given."""

    def __init__(self) -> None:
        super().__init__(
            "no identity provider: trusted publishing needs an OIDC provider to mint the upload token",
            hint="pass identity=trustpub.oidc.detect_ci().require_provider() (or a StaticProvider), "
            "credentials='token', or dry_run=True",
        )


class ReleaseMismatch(ConfigurationError):
    """A target's file belongs to another distribution or version than the request declares."""

    def __init__(self, path: Path, field: str, declared: str, actual: str) -> None:
        super().__init__(
            f"target {path}: the request declares {field} {declared!r}, but the file's metadata says {actual!r}",
            hint="every target must be a file of the declared distribution and version",
        )
        self.path = path


class DigestMismatch(TrustpubError):
    """A target's declared sha256 differs from the file's bytes; found when the file is hashed, before upload."""

    def __init__(self, path: Path, declared: str, actual: str) -> None:
        super().__init__(
            f"target {path}: declared sha256 {declared}, but the file's is {actual}; nothing was uploaded",
            hint="the file is not the one the build tool hashed; rebuild, or declare the digest of these bytes",
        )
        self.path = path
        self.declared = declared
        self.actual = actual
