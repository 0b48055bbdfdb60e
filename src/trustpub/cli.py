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
import textwrap
from collections.abc import Sequence

from trustpub import __version__
from trustpub.auth import METHODS as CREDENTIAL_METHODS
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


def _add_paths(p: argparse.ArgumentParser, what: str = "files or folders") -> None:
    """PATHS: the files or folders a command reads, ``dist/`` when none are given."""
    p.add_argument("paths", nargs="*", metavar="PATHS", help=f"{what} (default: dist/)")


def _add_output_flags(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    if json_flag:
        p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more detail (repeatable)")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")


# The order trustpub.target and trustpub.credentials follow (README: `trustpub publish`).
_CREDENTIAL_SOURCES = """\
index (the first one given): --repository NAME's URL (--to must agree), --to/--testpypi,
  $TWINE_REPOSITORY_URL, $TWINE_REPOSITORY's .pypirc section, else pypi.

credentials, for that index only (--credentials auto or token; the first found wins):
  1. user:password@ in the index URL (--to, TWINE_REPOSITORY_URL, the section's repository)
  2. --repository NAME: the .pypirc section's username and password
  3. TRUSTPUB_TOKEN, then PYPI_API_TOKEN (username __token__)
  4. TRUSTPUB_USERNAME + TRUSTPUB_PASSWORD
  5. TWINE_USERNAME + TWINE_PASSWORD (username __token__ if only the password is set);
     not used when TWINE_REPOSITORY_URL/TWINE_REPOSITORY names another index
  6. the .pypirc section ($PYPIRC, else ~/.pypirc) whose repository is this index
  7. the keyring, with --keyring-provider import: the password of the username above
     that came without one, else of __token__, under the upload URL, then the host;
     at most $TRUSTPUB_KEYRING_TIMEOUT seconds (default 5), no prompting backends
     without a terminal, and a warning line when it is skipped
  8. (auto only) trusted publishing, when a CI identity is detected
Nothing is ever prompted for. No credential is sent to another index, nor kept over a
redirect to another host."""


def _explain_credentials(p: argparse.ArgumentParser) -> None:
    """Put the credential order first in ``publish --help``, laid out as a list."""
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = textwrap.fill(p.description or "", width=88)
    rest = f"\n\n{textwrap.fill(p.epilog, width=88)}" if p.epilog else ""
    p.epilog = _CREDENTIAL_SOURCES + rest


def _add_publish_flags(p: argparse.ArgumentParser) -> None:
    _add_paths(p)
    p.add_argument(
        "--to",
        default=None,
        metavar="INDEX",
        help="pypi, testpypi, or the index's legacy upload URL (default: the --repository section's URL, else "
        "$TWINE_REPOSITORY_URL, else $TWINE_REPOSITORY's section, else pypi); user:password@ in the URL is "
        "taken as the credentials and never shown. Several indexes, in order, separated by commas or line "
        "breaks (names, URLs or .pypirc section names): --to testpypi,pypi checks every index and mints every "
        "token first, attests once, then publishes to each and stops at the first failure",
    )
    p.add_argument("--testpypi", action="store_true", help="same as --to testpypi")
    p.add_argument("--dry-run", action="store_true", help="check and plan only: no network, no credentials")
    p.add_argument(
        "--credentials",
        choices=CREDENTIAL_METHODS,
        default="auto",
        help="how to authenticate (default auto: the first explicit credentials found, in the order below, "
        "else trusted publishing in CI)",
    )
    p.add_argument(
        "--repository",
        metavar="NAME",
        help="publish to this .pypirc section's repository URL with its credentials (--to, if given, must agree)",
    )
    p.add_argument(
        "--keyring-provider",
        choices=("import", "disabled"),
        default=None,
        help="import: look passwords up in the system keyring with the keyring library, time-bounded and "
        "never prompting without a terminal (default: $TRUSTPUB_KEYRING_PROVIDER, else disabled)",
    )
    p.add_argument("--sigstore", metavar="production|staging|FILE", help="Sigstore instance for attestations (default: $TRUSTPUB_SIGSTORE or production)")
    p.add_argument(
        "--attestations",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="attach PEP 740 attestations (default: on with trusted publishing)",
    )
    p.add_argument("--attestations-dir", metavar="DIR", help="write attestation files and the release provenance here")
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep the release journal and provenance here (default: $TRUSTPUB_STATE_DIR, else the per-user cache "
        "folder, e.g. ~/.cache/trustpub; never the project, where the next sdist would pack them)",
    )
    p.add_argument("--slsa", action="store_true", help="also attach a SLSA Provenance v1 attestation per file")
    _add_upload_client_flags(p)
    p.add_argument(
        "--simple-url",
        metavar="URL",
        help="the index's simple API root, asked which files exist (default: /simple/ on the upload host; "
        "USER/INDEX/+simple/ for a devpi-style upload URL)",
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="seconds to wait for each answer (the index, its trusted-publishing endpoints, the upload "
        "answer after the last byte); an answer still unfinished after that long is cut off too "
        "(default: $TRUSTPUB_TIMEOUT, else 60; connecting: 10 s)",
    )
    _add_upload2_flags(p)
    _add_output_flags(p)


def _add_upload_client_flags(p: argparse.ArgumentParser) -> None:
    """How the files are sent, for ``publish`` and ``rehearse`` alike."""
    p.add_argument("--jobs", type=int, default=4, metavar="N",
                   help="most uploads in flight (default 4): one first, then more while they pay off")
    p.add_argument("--uploader", choices=("native", "uv"), default="native", help="upload client (default native)")
    p.add_argument("--uv-binary", default="uv", metavar="PATH", help="uv executable for --uploader uv (default: uv on PATH)")


def _add_upload2_flags(p: argparse.ArgumentParser) -> None:
    """The Upload 2.0 (PEP 694) options: an atomic, previewable release (README: Atomic releases)."""
    g = p.add_argument_group("Upload 2.0 (PEP 694): atomic, staged releases")
    g.add_argument(
        "--upload-api", metavar="URL|auto|legacy",
        help="the index's Upload 2.0 root endpoint: stage every file in one session and publish them at once "
        "(auto: probe SCHEME://HOST/2.0/ of a custom --to index, legacy if it has none; default: legacy)",
    )
    g.add_argument("--stage-only", action="store_true",
                   help="stage the release and stop: print the stage URL and token, publish nothing")
    g.add_argument("--keep-stage", action="store_true", help="on failure, keep the session staged instead of cancelling it")
    g.add_argument("--smoke", metavar="CMD",
                   help="install the staged release from its preview into a fresh venv and run CMD before publishing; "
                   "with several --to indexes, a legacy index is tried after its upload, from its simple API, "
                   "before the next index")
    g.add_argument("--session", metavar="URL|ID", help="publish a stage an earlier --stage-only or --keep-stage run left")
    g.add_argument("--cancel", action="store_true", help="with --session: cancel the stage instead of publishing it")


def _seconds(value: str) -> float:
    """A positive, finite number of seconds (argparse type; a bad value is a usage error)."""
    import math

    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return seconds


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
    _add_paths(check)
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
        epilog=(
            "Without an ambient CI identity (e.g. Google Cloud outside the metadata server), give static OIDC "
            "tokens: TRUSTPUB_OIDC_TOKEN (or a file named by TRUSTPUB_OIDC_TOKEN_FILE) with the index's audience "
            "for trusted publishing, and TRUSTPUB_SIGSTORE_OIDC_TOKEN (or TRUSTPUB_SIGSTORE_OIDC_TOKEN_FILE) with "
            "audience 'sigstore' to sign the attestations."
        ),
    )
    _add_publish_flags(publish)
    _explain_credentials(publish)

    rehearse = sub.add_parser(
        "rehearse",
        help="run the whole publish chain against a local PyPI + Sigstore + OIDC world",
        description=(
            "Start the local PyPI world, trust a GitHub-shaped identity for the project, publish "
            "PATHS to it with trusted publishing and attestations, verify every file through the "
            "integrity API, print the report and stop the world."
        ),
    )
    _add_paths(rehearse)
    rehearse.add_argument("--keep", action="store_true", help="leave the world running after the rehearsal (Ctrl-C stops it)")
    rehearse.add_argument("--slsa", action="store_true", help="also attach SLSA provenance attestations")
    _add_upload_client_flags(rehearse)
    rehearse.add_argument(
        "--dir",
        metavar="DIR",
        help="keep the world's files here, with the attestations, provenance and journal (default: the world in a "
        "temporary folder; attestations, provenance and journal in STATE/rehearse/PROJECT, STATE being "
        "$TRUSTPUB_STATE_DIR or the per-user cache folder, as for publish --state-dir)",
    )
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
    doctor.add_argument(
        "--workflow",
        metavar="FILE",
        help="lint a CI file instead (.github/workflows/*.yml or .gitlab-ci.yml), before any job runs: each finding "
        "names the line and the fix; exit 1 on an error-level finding",
    )
    doctor.add_argument(
        "--environment",
        metavar="NAME",
        help="with --workflow: the environment the trusted publisher names (its absence or another name is an error)",
    )
    doctor.add_argument(
        "--workflow-name",
        metavar="FILE",
        help="with --workflow: the workflow file name (GitHub) or top-level pipeline path (GitLab) the publisher names",
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
    _add_paths(attest)
    attest.add_argument("--slsa", action="store_true", help="also sign a per-file SLSA provenance attestation")
    attest.add_argument(
        "--attestations-dir",
        metavar="DIR",
        help="write attestations and the release provenance here (default: attestations beside the dists, "
        "the release provenance in the per-user state folder, $TRUSTPUB_STATE_DIR)",
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
    _add_paths(verify, "distributions or folders")
    verify.add_argument("--publisher", required=True, metavar="SPEC", help=f"the trusted publisher: {publisher_forms}")
    verify.add_argument("--sigstore", metavar="INSTANCE", help=sigstore_help)
    verify.add_argument(
        "--offline",
        action="store_true",
        help="no network: Sigstore production's root shipped in sigstore-python (ignores $TRUSTPUB_SIGSTORE; "
        "--sigstore staging|FILE still chooses another)",
    )
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
    from trustpub.text import EscapingFormatter

    install_log_redaction()
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    # Log messages quote servers and filenames: each one printed as one inert line.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("trustpub: %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


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
        from trustpub.text import printable_lines

        print(f"trustpub: error: {printable_lines(exc.with_docs_link())}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("trustpub: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
