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


def _add_publish_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATHS", help="files or folders (default: dist/)")
    p.add_argument("--to", default="pypi", metavar="INDEX", help="pypi, testpypi, or the index's legacy upload URL (default: pypi)")
    p.add_argument("--testpypi", action="store_true", help="same as --to testpypi")
    p.add_argument("--dry-run", action="store_true", help="check and plan only: no network, no credentials")
    p.add_argument(
        "--credentials",
        choices=("auto", "trusted-publishing", "token"),
        default="auto",
        help="how to authenticate (default auto: a token or .pypirc if given, else trusted publishing in CI)",
    )
    p.add_argument("--repository", metavar="NAME", help="credentials (and URL) from this .pypirc section")
    p.add_argument("--sigstore", metavar="production|staging|FILE", help="Sigstore instance for attestations (default: $TRUSTPUB_SIGSTORE or production)")
    p.add_argument(
        "--attestations",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="attach PEP 740 attestations (default: on with trusted publishing)",
    )
    p.add_argument("--attestations-dir", metavar="DIR", help="write attestation files here instead of beside the dists")
    p.add_argument("--slsa", action="store_true", help="also attach a SLSA Provenance v1 attestation per file")
    p.add_argument("--jobs", type=int, default=4, metavar="N", help="parallel uploads (default 4)")
    p.add_argument("--uploader", choices=("native", "uv"), default="native", help="upload client (default native)")
    p.add_argument("--uv-binary", default="uv", metavar="PATH", help="uv executable for --uploader uv")
    p.add_argument(
        "--simple-url",
        metavar="URL",
        help="the index's simple API root, asked which files exist (default: /simple/ on the upload host; "
        "USER/INDEX/+simple/ for a devpi-style upload URL)",
    )
    _add_output_flags(p)


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

    publish = sub.add_parser(
        "publish",
        help="check, attest and upload a release (trusted publishing by default)",
        description=(
            "Publish PATHS (files or folders, default dist/): preflight every file, plan against "
            "the index by hash, get credentials, attest, mint, upload in parallel with retries, "
            "and verify that the index lists our bytes. Safe to re-run: a re-run completes a "
            "half-done release and never uploads different bytes under an existing name."
        ),
    )
    _add_publish_flags(publish)

    rehearse = sub.add_parser(
        "rehearse",
        help="run the whole publish chain against a local PyPI + Sigstore + OIDC world",
        description=(
            "Start the local PyPI world, trust a GitHub-shaped identity for the project, publish "
            "PATHS to it with trusted publishing and attestations, verify every file through the "
            "integrity API, print the report and stop the world."
        ),
    )
    rehearse.add_argument("paths", nargs="*", metavar="PATHS", help="files or folders (default: dist/)")
    rehearse.add_argument("--keep", action="store_true", help="leave the world running after the rehearsal (Ctrl-C stops it)")
    rehearse.add_argument("--slsa", action="store_true", help="also attach SLSA provenance attestations")
    rehearse.add_argument("--jobs", type=int, default=4, metavar="N", help="parallel uploads (default 4)")
    rehearse.add_argument("--uploader", choices=("native", "uv"), default="native", help="upload client (default native)")
    rehearse.add_argument("--dir", metavar="DIR", help="keep the world's files here (default: a temporary folder)")
    _add_output_flags(rehearse)

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

    sigstore_help = "production, staging or a ClientTrustConfig FILE (default: $TRUSTPUB_SIGSTORE, else production)"
    publisher_forms = "github:OWNER/REPO/WORKFLOW_FILE[@ENV], gitlab:NAMESPACE/PROJECT/WORKFLOW_FILEPATH[@ENV] or google:EMAIL"

    attest = sub.add_parser(
        "attest",
        help="sign PEP 740 attestations for distributions (in CI)",
        description=(
            "Sign <dist>.publish.attestation files with the CI job's identity, verify each one as "
            "the index will, and write the release provenance. Existing attestations that verify "
            "are reused; stale ones are replaced."
        ),
    )
    attest.add_argument("paths", nargs="*", metavar="PATHS", help="files or folders (default: dist/)")
    attest.add_argument("--slsa", action="store_true", help="also sign a per-file SLSA provenance attestation")
    attest.add_argument(
        "--attestations-dir",
        metavar="DIR",
        help="write attestations and the release provenance here (default: attestations beside the dists, "
        "the release provenance next to their folder)",
    )
    attest.add_argument("--sigstore", metavar="INSTANCE", help=sigstore_help)
    attest.add_argument("--builder-id", metavar="URI", help="runDetails.builder.id of the SLSA provenance (default: the CI workflow)")
    attest.add_argument("--publisher", metavar="SPEC", help=f"verify against this publisher instead of the token's ({publisher_forms})")
    _add_output_flags(attest)

    verify = sub.add_parser(
        "verify",
        help="verify attestations as PyPI does, for a publisher",
        description=(
            "Verify the attestations of each distribution (beside it, --attestation FILE, or a "
            "PEP 740 provenance document with --provenance FILE) with PyPI's rules. Exit 0 when "
            "every file verifies, 1 when one does not."
        ),
    )
    verify.add_argument("paths", nargs="*", metavar="PATHS", help="distributions or folders (default: dist/)")
    verify.add_argument("--publisher", required=True, metavar="SPEC", help=f"the trusted publisher: {publisher_forms}")
    verify.add_argument("--sigstore", metavar="INSTANCE", help=sigstore_help)
    verify.add_argument("--offline", action="store_true", help="use the trust root shipped in sigstore-python; no network")
    verify.add_argument("--attestation", action="append", metavar="FILE", help="an attestation file for the one distribution (repeatable)")
    verify.add_argument("--provenance", metavar="FILE", help="a PEP 740 provenance document (PyPI's integrity API) for the one distribution")
    verify.add_argument("--attestations-dir", metavar="DIR", help="look for attestations here instead of beside the dists")
    _add_output_flags(verify)

    inspect = sub.add_parser(
        "inspect",
        help="show what an attestation says: statement, subject, identity, log entry",
        description="Show attestations, provenance documents or Sigstore bundles without verifying them.",
    )
    inspect.add_argument("files", nargs="*", metavar="FILE", help="attestation, provenance or Sigstore bundle files")
    _add_output_flags(inspect)

    return parser


def configure_logging(verbose: int) -> None:
    """``-v`` shows each step (INFO), ``-vv`` every request (DEBUG); secrets are scrubbed
    from every record whatever the level."""
    import logging

    from trustpub.secrets import install_log_redaction

    install_log_redaction()
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="trustpub: %(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    configure_logging(getattr(args, "verbose", 0) or 0)
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
