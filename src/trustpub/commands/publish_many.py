"""``trustpub publish --to A,B``: one release to several indexes (see :mod:`trustpub.multi`)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence

from trustpub.commands._release_output import progress_printer, report_stop
from trustpub.errors import TrustpubError
from trustpub.multi import publish_many
from trustpub.multi_result import MultiPublishResult
from trustpub.request import PublishRequest
from trustpub.target_list import IndexTarget


def execute_many(
    request: PublishRequest, targets: Sequence[IndexTarget], *, json_output: bool = False, quiet: bool = False,
    env: Mapping[str, str] | None = None,
) -> tuple[int, MultiPublishResult | None]:
    """Publish to every index and print every report; returns (exit code, result).

    ``json_output`` and ``quiet`` are :class:`trustpub.commands.publish.OutputOptions`'
    two fields (passed apart: that module dispatches here).

    Exit 0 only when every index landed; otherwise the exit code of what stopped the
    release (1 refused or failed, 2 configuration).
    """
    from trustpub.secrets import mask_on_stderr

    with mask_on_stderr(json_output):
        return _execute_many(request, targets, json_output=json_output, quiet=quiet, env=env)


def _execute_many(
    request: PublishRequest, targets: Sequence[IndexTarget], *, json_output: bool, quiet: bool,
    env: Mapping[str, str] | None,
) -> tuple[int, MultiPublishResult | None]:
    from trustpub.multi_report import render_text_many, write_ci_summary_many

    environ = os.environ if env is None else env
    say = progress_printer(quiet)
    result: MultiPublishResult | None = None
    code = 0
    try:
        from trustpub.upload.progress import progress_for

        result = publish_many(request, targets, say=say, progress=None if request.dry_run else lambda: progress_for(quiet=quiet))
    except TrustpubError as exc:
        result, code = report_stop(exc, quiet=quiet, json_output=json_output, env=environ)
    if result is not None:
        if not quiet or code:
            print(render_text_many(result), file=sys.stderr)
        write_ci_summary_many(result, env=environ, stream=sys.stderr)
        if json_output:
            json.dump(result.to_json(), sys.stdout, indent=2)
            sys.stdout.write("\n")
    elif json_output:
        from trustpub.multi_result import REPORT_SCHEMA

        json.dump({"schema": REPORT_SCHEMA, "ok": False, "error": "the release stopped before any index was tried",
                   "targets": [{"target": t.name, "status": "not-attempted"} for t in targets]}, sys.stdout)
        sys.stdout.write("\n")
    return code, result
