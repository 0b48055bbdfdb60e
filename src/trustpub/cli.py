"""The ``trustpub`` command line: argument parsing and exit codes, nothing else.

The parser below is the documented contract (see README.md). Each verb's work lives
in ``trustpub.commands.<verb>`` and is imported only when that verb runs, so
``trustpub --version`` never imports sigstore, rich or an HTTP client.

Exit codes: 0 success; 1 the work was refused or failed; 2 usage or configuration.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from trustpub import __version__
from trustpub.errors import TrustpubError

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors already; keep that, but one line only."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"trustpub: error: {message}\n")


def _add_output_flags(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    if json_flag:
        p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more detail (repeatable)")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trustpub",
        description=(
            "Publish Python distributions with trusted publishing, PEP 740 attestations, "
            "and a preflight as strict as PyPI."
        ),
    )
    parser.add_argument("--version", action="version", version=f"trustpub {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = sub.add_parser(
        "check",
        help="preflight: refuse what PyPI would refuse, before anything is uploaded",
        description=(
            "Check distributions against every rule PyPI applies on upload. PATHS are "
            "files or folders (default: dist/). One line per problem on stderr."
        ),
    )
    check.add_argument("paths", nargs="*", metavar="PATHS", help="files or folders (default: dist/)")
    check.add_argument("--strict", action="store_true", help="treat warnings as errors")
    check.add_argument("--list-rules", action="store_true", help="print every rule id and what it checks, then exit")
    _add_output_flags(check)

    doctor = sub.add_parser(
        "doctor",
        help="diagnose trusted publishing in this CI job (never uploads)",
        description=(
            "Detect the CI, fetch an OIDC token for the index, show its claims and the "
            "trusted publisher the index needs, and list what would go wrong. Exit 0 when "
            "publishing would work, 1 when it would not."
        ),
    )
    doctor.add_argument("--to", default="pypi", metavar="INDEX", help="pypi, testpypi or an upload URL (default: pypi)")
    doctor.add_argument("--project", metavar="NAME", help="project name for the settings link (default: from dist/)")
    doctor.add_argument("--mint", action="store_true", help="also try a real token exchange and explain the answer")
    doctor.add_argument(
        "--publisher",
        metavar="SPEC",
        help="the trusted publisher as configured on the index (github:OWNER/REPO/WORKFLOW[@ENV], "
        "gitlab:NS/PROJECT/PATH[@ENV], google:EMAIL); each claim is compared with it",
    )
    _add_output_flags(doctor)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    module = importlib.import_module(f"trustpub.commands.{args.command.replace('-', '_')}")
    try:
        code: int = module.run(args)
    except TrustpubError as exc:
        print(f"trustpub: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("trustpub: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
