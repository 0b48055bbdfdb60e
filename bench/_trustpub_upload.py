"""trustpub's side of ``bench/upload``: one release through the upload engine, as a CLI process would.

There is no lean ``publish`` entry yet that skips the preflight, so this is the upload
step on its own: hash and inspect every file (in parallel threads), ask the index which
files it already has, then send the rest with the native uploader, wheels in parallel
and the sdist last. It imports only the upload path (no rich, sigstore or
readme_renderer), because for a small release start-up is most of the time.

Usage::

    TRUSTPUB_BENCH_PASSWORD=... python bench/_trustpub_upload.py \\
        --url http://127.0.0.1:PORT/legacy/ [--simple-url http://127.0.0.1:PORT/simple/] \\
        [--username __token__] [--jobs 8] [--quiet] FILE...

Exit status 0 when every file is on the index, 1 otherwise (the reason on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="upload a release with trustpub's engine")
    parser.add_argument("--url", required=True, help="legacy upload URL (http://127.0.0.1:PORT/...)")
    parser.add_argument("--simple-url", help="simple index root for the idempotency lookup")
    parser.add_argument("--username", default="__token__")
    parser.add_argument("--jobs", type=int, default=4, help="parallel wheel uploads")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for url in (args.url, args.simple_url):
        if url is not None and not url.startswith("http://127.0.0.1:"):
            parser.error(f"benchmarks only talk to 127.0.0.1, not {url!r}")

    from trustpub.dists import inspect_many
    from trustpub.errors import TrustpubError
    from trustpub.secrets import Secret
    from trustpub.transport import Transport
    from trustpub.upload._types import UploadRequest
    from trustpub.upload.engine import UploadEngine
    from trustpub.upload.native import NativeUploader
    from trustpub.upload.progress import progress_for

    password = Secret(os.environ.get("TRUSTPUB_BENCH_PASSWORD", ""))
    try:
        dists = inspect_many(args.files)
        transport = Transport(maxsize=max(4, args.jobs))
        lookup = None
        if args.simple_url:
            from trustpub.upload.simple import SimpleIndex

            lookup = SimpleIndex(transport, args.simple_url)
        engine = UploadEngine(
            NativeUploader(transport), lookup=lookup, jobs=args.jobs, progress=progress_for(quiet=args.quiet)
        )
        engine.upload(
            dists,
            lambda d: UploadRequest(
                d.path, d.filename, d.sha256, d.blake2_256, d.size, args.url, args.username, password
            ),
        )
    except TrustpubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
