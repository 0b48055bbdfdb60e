"""``python -m trustpub.local serve``: run the local PyPI world until interrupted.

Prints the world's URLs, trust-config path, CI environment and a ready API token
(``api_token``) as JSON on stdout, writes them to ``DIR/world.json`` and ``DIR/env``
(``source DIR/env`` in a shell), writes ``DIR/pypirc`` with a ``[local]`` section
holding the upload URL and that token (all three mode 0600), and stops cleanly on
Ctrl-C or SIGTERM. The token is account-wide: it uploads to every project of the
local index and may create new ones, so ``twine upload --config-file DIR/pypirc -r
local`` and ``trustpub publish --to URL --credentials token`` work at once.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trustpub.local", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the issuer, Sigstore instance and index")
    serve.add_argument("--dir", required=True, help="folder for the index's storage, trust config, world.json and env")
    serve.add_argument("--project", action="append", default=[], help="create a project trusting the local GitHub identity (repeatable)")
    serve.add_argument("--audience", default="pypi", help="the index's OIDC audience (default: pypi)")
    args = parser.parse_args(argv)

    from trustpub.local.world import LocalWorld

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    world = LocalWorld.start(args.dir, audience=args.audience)
    try:
        for project in args.project:
            world.trust_github_publisher(project)
        world.issue_api_token()
        world.write_info()
        json.dump(world.info(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        sys.stdout.flush()
        print(
            f"local world running; files in {args.dir} (API token in {args.dir}/pypirc, section [local]); Ctrl-C to stop",
            file=sys.stderr,
        )
        stop.wait()
    finally:
        world.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
